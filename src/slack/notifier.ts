/**
 * What `serve` posts to Slack by itself: every lock event in its env's channel, and reminders
 * to holders of locks held long. It polls the table (src/core/events.ts), claims each post in
 * the table (`LockStore.claim`) and only then posts it with chat.postMessage: with several
 * replicas, or across restarts, a post is made at most once. It runs beside the HTTP handler
 * and shares nothing with it but the store, so a slow or failing Slack never delays a lock or
 * an answer.
 */
import type { Clock, Sleep } from "../core/clock.ts";
import { EVENT_WINDOW_MS, type LockEvent, LockWatcher, type Reminder } from "../core/events.ts";
import type { LockStore } from "../core/store.ts";
import { formatDuration, isoTime } from "../core/text.ts";
import { type Names, SlackIdentities, TRANSIENT_ERRORS } from "./identity.ts";
import { eventPost, type Post, reminderPost } from "./notices.ts";
import { DEFAULT_POLL_MS, type SlackChannels } from "./settings.ts";

export { DEFAULT_POLL_MS, type SlackChannels };

export function channelFor(channels: SlackChannels | undefined, env: string): string | undefined {
  if (!channels) return undefined;
  return Object.hasOwn(channels.envs, env) ? channels.envs[env] : channels.other;
}

/** Waits between the attempts of a post Slack refused for a moment; then it is given up. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16_000];
/** The longest a post waits for Slack's `Retry-After`. */
const MAX_RETRY_AFTER_MS = 60_000;
/** A post without an answer in this time is given up: it may have been made, so not again. */
const POST_TIMEOUT_MS = 10_000;
/** How long a stopping `serve` gives the posts still queued. */
const STOP_GRACE_MS = 5000;
/** How long a post waits for users.lookupByEmail (identity.ts caps it lower still). */
const NAMES_WAIT_MS = 2000;
const MENTION_RE = /^<@([A-Za-z0-9_-]{1,64})>$/;

export interface NotifierOptions {
  store: LockStore;
  clock: Clock;
  sleep: Sleep;
  botToken: string;
  /** Slack Web API base URL, e.g. https://slack.com/api */
  apiUrl: string;
  /** Where lock events are announced; absent: no announcements (reminders only). */
  channels?: SlackChannels;
  /** Remind a holder every this long while the lock is held; 0: no reminders. */
  remindAfterMs: number;
  pollMs?: number;
  /** Only events this recent are posted (default EVENT_WINDOW_MS). */
  windowMs?: number;
  /** Waits before each retry of a failed post (default 1, 2, 4, 8, 16 s). */
  retryDelaysMs?: number[];
  /** One line per post, failure or drop; never tokens or meta. */
  log(line: string): void;
}

/** Something found by a poll, to be claimed and posted until `until`. */
type Job =
  | { kind: "event"; key: string; until: number; event: LockEvent }
  | { kind: "reminder"; key: string; until: number; reminder: Reminder };

/** A claimed post, ready to send. */
interface Delivery {
  channel: string;
  post: Post;
  /** For the log: `event=lock env=PRODUCTION id=…`. */
  what: string;
}

type Sent = { ok: true } | { retry: string; afterMs?: number } | { fail: string };

export class SlackNotifier {
  readonly #o: NotifierOptions;
  readonly #watcher: LockWatcher;
  readonly #identities: SlackIdentities;
  readonly #postUrl: string;
  readonly #pollMs: number;
  readonly #windowMs: number;
  readonly #delays: number[];
  /** Found and not claimed yet (the table could not be reached), oldest first. */
  #pending: Job[] = [];
  /** The posts being sent, one queue per channel so that a channel's posts keep their order. */
  readonly #queues = new Map<string, Promise<void>>();
  /** The table failed at the last poll or claim: logged once until it works again. */
  #tableFailing = false;
  /** Aborted when `serve` stops: no more retries. */
  readonly #stopping = new AbortController();
  /** Aborted when the stop's grace is over: posts still in flight are abandoned. */
  readonly #stopped = new AbortController();

  constructor(o: NotifierOptions) {
    this.#o = o;
    this.#windowMs = o.windowMs ?? EVENT_WINDOW_MS;
    this.#watcher = new LockWatcher(o.store, {
      windowMs: this.#windowMs,
      remindAfterMs: o.remindAfterMs,
    });
    this.#identities = new SlackIdentities({
      apiUrl: o.apiUrl,
      botToken: o.botToken,
      clock: o.clock,
    });
    this.#postUrl = `${o.apiUrl.replace(/\/+$/, "")}/chat.postMessage`;
    this.#pollMs = o.pollMs ?? DEFAULT_POLL_MS;
    this.#delays = o.retryDelaysMs ?? RETRY_DELAYS_MS;
  }

  /**
   * Polls every `pollMs` until `signal` aborts, then gives the posts still queued a few seconds
   * (without retries) and returns.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick();
      await this.#o.sleep(this.#pollMs, signal);
    }
    this.#stopping.abort();
    const timer = setTimeout(() => this.#stopped.abort(), STOP_GRACE_MS);
    try {
      await this.idle();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One poll: finds the events and reminders, claims each in the table and queues the posts
   * it claimed. Never throws: a table that cannot be read is logged, and the next poll tries
   * again.
   */
  async tick(): Promise<void> {
    const now = this.#o.clock.now();
    let failed = false;
    try {
      const { events, reminders } = await this.#watcher.poll(now);
      for (const event of events) {
        if (this.#o.channels) {
          this.#pending.push({
            kind: "event",
            key: event.key,
            until: event.at + this.#windowMs,
            event,
          });
        }
      }
      for (const reminder of reminders) {
        this.#pending.push({
          kind: "reminder",
          key: reminder.key,
          until: reminder.until,
          reminder,
        });
      }
    } catch (e) {
      failed = true;
      this.#tableFails("cannot read the locks", e);
    }
    const jobs = this.#pending;
    this.#pending = [];
    for (const [i, job] of jobs.entries()) {
      if (job.until <= now) {
        this.#o.log(`${this.#stamp()} slack not posted: ${this.#keyWhat(job)} is too old now`);
        continue;
      }
      const delivery = await this.#delivery(job);
      if (!delivery) continue;
      let claimed: boolean;
      try {
        claimed = await this.#o.store.claim(job.key, now);
      } catch (e) {
        // Kept, in order, for the next poll.
        failed = true;
        this.#tableFails("cannot claim posts", e);
        this.#pending = [...jobs.slice(i), ...this.#pending];
        break;
      }
      if (claimed) this.#enqueue(delivery);
    }
    if (!failed) this.#tableWorks();
  }

  /** Resolves once every queued post is sent or given up. */
  async idle(): Promise<void> {
    while (this.#queues.size > 0) await Promise.allSettled([...this.#queues.values()]);
  }

  /** Where a job goes and what it says; undefined (logged) when it has nowhere to go. */
  async #delivery(job: Job): Promise<Delivery | undefined> {
    if (job.kind === "event") {
      const e = job.event;
      const channel = channelFor(this.#o.channels, e.record.env);
      if (!channel) return undefined; // an env nobody asked to hear about
      const from = e.type === "locked" ? e.tookOverFrom?.user : e.record.releasedBy;
      const users = [e.record.user, from ?? ""];
      const names = await this.#names(users);
      return { channel, post: eventPost(e, names), what: eventWhat(e) };
    }
    const r = job.reminder;
    const names = await this.#names([r.record.user]);
    const what = `event=reminder env=${r.record.env} id=${r.record.id} period=${r.period}`;
    const user = MENTION_RE.exec(names(r.record.user))?.[1];
    if (user) return { channel: user, post: reminderPost(r, names, true), what };
    const channel = channelFor(this.#o.channels, r.record.env);
    if (!channel) {
      this.#o.log(
        `${this.#stamp()} slack not posted: ${what}: the holder has no Slack user and the env no channel`,
      );
      return undefined;
    }
    return { channel, post: reminderPost(r, names, false), what };
  }

  #names(users: string[]): Promise<Names> {
    return this.#identities.names(users.filter((u) => u !== ""), NAMES_WAIT_MS);
  }

  #enqueue(d: Delivery): void {
    const before = this.#queues.get(d.channel) ?? Promise.resolve();
    const next = before.then(() => this.#deliver(d));
    this.#queues.set(d.channel, next);
    next.finally(() => {
      if (this.#queues.get(d.channel) === next) this.#queues.delete(d.channel);
    });
  }

  /** Sends a claimed post, retrying a bounded number of times while Slack says "not now". */
  async #deliver(d: Delivery): Promise<void> {
    const where = `channel=${d.channel} ${d.what}`;
    for (let attempt = 1;; attempt++) {
      const sent = await this.#send(d);
      if ("ok" in sent) {
        this.#o.log(`${this.#stamp()} slack posted ${where}`);
        return;
      }
      const retries = this.#delays.length;
      if ("fail" in sent || attempt > retries || this.#stopping.signal.aborted) {
        const why = "fail" in sent ? sent.fail : sent.retry;
        const after = attempt > 1 ? ` after ${attempt} attempts` : "";
        this.#o.log(`${this.#stamp()} slack not posted ${where}: ${why}${after}`);
        return;
      }
      const waitMs = Math.min(
        Math.max(this.#delays[attempt - 1], sent.afterMs ?? 0),
        MAX_RETRY_AFTER_MS,
      );
      this.#o.log(
        `${this.#stamp()} slack post failed ${where}: ${sent.retry}; retry ${attempt}/${retries} in ${
          formatDuration(waitMs)
        }`,
      );
      await this.#o.sleep(waitMs, this.#stopping.signal);
    }
  }

  /** One chat.postMessage. */
  async #send(d: Delivery): Promise<Sent> {
    const timeout = AbortSignal.timeout(POST_TIMEOUT_MS);
    try {
      const res = await fetch(this.#postUrl, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.#o.botToken}`,
          "content-type": "application/json; charset=utf-8",
        },
        body: JSON.stringify({
          channel: d.channel,
          text: d.post.text,
          blocks: d.post.blocks,
          unfurl_links: false,
          unfurl_media: false,
        }),
        signal: AbortSignal.any([timeout, this.#stopped.signal]),
      });
      if (!res.ok) {
        await res.body?.cancel();
        const why = `HTTP ${res.status}`;
        if (res.status === 429) {
          const seconds = Number(res.headers.get("retry-after"));
          return { retry: why, ...(seconds > 0 ? { afterMs: seconds * 1000 } : {}) };
        }
        return res.status >= 500 ? { retry: why } : { fail: why };
      }
      const doc = await res.json() as { ok?: unknown; error?: unknown };
      if (doc.ok === true) return { ok: true };
      const error = typeof doc.error === "string" ? doc.error.slice(0, 80) : "unknown error";
      return TRANSIENT_ERRORS.has(error) ? { retry: error } : { fail: error };
    } catch (e) {
      if (this.#stopped.signal.aborted) return { fail: "serve stopped before Slack answered" };
      if (timeout.aborted) {
        return {
          fail: `no answer within ${POST_TIMEOUT_MS / 1000}s (not retried: it may be posted)`,
        };
      }
      if (e instanceof SyntaxError) return { fail: "Slack's answer was not JSON" };
      return { retry: `${(e as Error).name}: ${(e as Error).message.slice(0, 120)}` };
    }
  }

  #tableFails(what: string, e: unknown): void {
    if (this.#tableFailing) return;
    this.#tableFailing = true;
    const message = (e as Error)?.message ?? String(e);
    this.#o.log(`${this.#stamp()} slack notices: ${what} (${message.slice(0, 200)}); trying again`);
  }

  #tableWorks(): void {
    if (!this.#tableFailing) return;
    this.#tableFailing = false;
    this.#o.log(`${this.#stamp()} slack notices: the table works again`);
  }

  #keyWhat(job: Job): string {
    return job.kind === "event"
      ? eventWhat(job.event)
      : `event=reminder env=${job.reminder.record.env} id=${job.reminder.record.id} period=${job.reminder.period}`;
  }

  #stamp(): string {
    return isoTime(this.#o.clock.now(), { millis: true });
  }
}

/** `event=lock env=PRODUCTION id=…`: what a post is about, for the log. */
function eventWhat(e: LockEvent): string {
  const r = e.record;
  const kind = e.type === "locked"
    ? e.tookOverFrom ? "takeover" : r.uberlock ? "uberlock" : "lock"
    : `${r.forced ? "force-" : ""}${r.uberlock ? "uberlock-" : ""}release`;
  return `event=${kind} env=${r.env} id=${r.id}`;
}
