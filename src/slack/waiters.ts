/**
 * Slack users waiting in an env's line. **Join the line** starts a background `acquire` in
 * `serve` for that user: it takes a place in the same line as the CLI's waiters, renews it
 * every interval, takes the lock when their turn comes and tells them (a direct message, or the
 * click's response_url without a bot token). Places carry the `slack-` prefix so that
 * `/daplaya cancel` finds them from any replica; a waiter whose place was removed stops
 * (`rejoin: false`) instead of joining again at the end.
 */
import type { Clock } from "../core/clock.ts";
import { LeftLineError, NotAcquiredError, UsageError } from "../core/errors.ts";
import type { Held, Locker, Observations } from "../core/locker.ts";
import { type Place, sameUser } from "../core/model.ts";
import type { FreezeInForce } from "../core/policy.ts";
import { isoTime } from "../core/text.ts";
import type { SlackIdentity } from "./identity.ts";
import { type Reach, type WaitEnd, waitEndedMessage, yoursMessage } from "./line_messages.ts";
import type { SlackMessage } from "./mrkdwn.ts";

/** The pids of places kept by `serve` for Slack users start with this. */
export const SLACK_PLACE_PREFIX = "slack-";
/** A Slack waiter renews its place this often: its place lapses 3 intervals after a crash. */
export const DEFAULT_WAIT_INTERVAL_MS = 5000;
/** The longest a Slack user waits in line (with a bot token). */
export const DEFAULT_MAX_WAIT_MS = 8 * 3_600_000;
/** Slack honours a response_url for 30 minutes: without a bot token, a wait ends before. */
export const RESPONSE_URL_MAX_WAIT_MS = 29 * 60_000;
const RESPONSE_URL_LIFE_MS = 30 * 60_000;
/** How long one post to Slack may take. */
const POST_TIMEOUT_MS = 5000;

/** Whether a place in line is kept by `serve` for a Slack user. */
export function isSlackPlace(place: Place): boolean {
  return place.pid.startsWith(SLACK_PLACE_PREFIX);
}

export interface WaitersOptions {
  locker: Locker;
  clock: Clock;
  /** What this `serve` has seen of each env (shared with its lock requests). */
  seen: Observations;
  /** Slack Web API base URL, for chat.postMessage. */
  apiUrl: string;
  /** Without it, waiters are told on the click's response_url only (30 minutes). */
  botToken?: string;
  intervalMs?: number;
  maxWaitMs?: number;
  /** One line per wait that ends; never tokens or response URLs. */
  log(line: string): void;
}

export interface JoinRequest {
  env: string;
  meta: string;
  metaExplicit: boolean;
  who: SlackIdentity;
  /** The Slack user id: where the direct message goes. */
  userId: string;
  /** The Join click's response_url. */
  responseUrl: string;
  /** The slash command as configured, for the messages. */
  command: string;
}

/** The first news of a wait. */
export type JoinEvent =
  /** In line; `frozen`: a freeze window in force holds everyone up, until its end. */
  | { kind: "waiting"; position: number; frozen?: FreezeInForce }
  | { kind: "granted"; held: Held }
  | { kind: "failed"; error: unknown };

export interface Joining {
  /** The wait's first news: its place in line, the lock at once, or why it could not wait. */
  first: Promise<JoinEvent>;
  /**
   * The answer cannot wait longer: later news goes to the user directly (true). False when
   * the first news was handed over already (`first` has it).
   */
  giveUp(): boolean;
}

interface Entry {
  key: string;
  req: JoinRequest;
  startedAt: number;
  abort: AbortController;
  /** Our place, 1 = next, once known. */
  position?: number;
  /** Set while the answer to the click waits for the first news. */
  reply?: (event: JoinEvent) => void;
  done: Promise<void>;
}

/** Abort reasons: the user left with `/daplaya cancel`, or `serve` stops. */
const CANCELLED = "cancelled";
const SHUTDOWN = "shutdown";

/** The Slack users that this `serve` keeps places in line for, one wait per env and user. */
export class SlackWaiters {
  readonly #o: WaitersOptions;
  readonly #waits = new Map<string, Entry>();
  /** Every wait still running, also once it left `#waits` (it may be telling its user). */
  readonly #running = new Set<Promise<void>>();
  #closed = false;
  /** How waiters are told, and how long they may wait. */
  readonly reach: Reach;

  constructor(o: WaitersOptions) {
    this.#o = o;
    const maxWaitMs = o.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.reach = o.botToken
      ? { dm: true, maxWaitMs }
      : { dm: false, maxWaitMs: Math.min(maxWaitMs, RESPONSE_URL_MAX_WAIT_MS) };
  }

  /** True once `close` was called: no new waits. */
  get closed(): boolean {
    return this.#closed;
  }

  /** This replica's wait of `user` on `env`, if any (`position` once it has a place). */
  local(env: string, user: string): { position?: number } | undefined {
    const e = this.#waits.get(keyOf(env, user));
    return e ? { ...(e.position !== undefined ? { position: e.position } : {}) } : undefined;
  }

  /** Starts waiting for `req.who` on `req.env` in the background; the caller checked `local`. */
  start(req: JoinRequest): Joining {
    const first = Promise.withResolvers<JoinEvent>();
    const entry: Entry = {
      key: keyOf(req.env, req.who.user),
      req,
      startedAt: this.#o.clock.monotonic(),
      abort: new AbortController(),
      reply: first.resolve,
      done: Promise.resolve(),
    };
    this.#waits.set(entry.key, entry);
    entry.done = this.#wait(entry);
    this.#running.add(entry.done);
    entry.done.finally(() => this.#running.delete(entry.done));
    return {
      first: first.promise,
      giveUp: () => {
        if (!entry.reply) return false;
        delete entry.reply;
        return true;
      },
    };
  }

  /**
   * Ends this replica's wait of `user` on `env`, if any (`/daplaya cancel`): its place leaves
   * the line, and nobody is told. True when there was one.
   */
  async stop(env: string, user: string): Promise<boolean> {
    const e = this.#waits.get(keyOf(env, user));
    if (!e) return false;
    e.abort.abort(CANCELLED);
    await e.done;
    return true;
  }

  /**
   * At shutdown: every wait ends and leaves its line, and its user is told; resolves once all
   * are done (a user whose turn just came is told that too).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#waits.values()) e.abort.abort(SHUTDOWN);
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async #wait(entry: Entry): Promise<void> {
    const { req, abort } = entry;
    const { env, who } = req;
    /** Hands news to the answer still waiting for it; false once that answer went. */
    const hand = (event: JoinEvent) => {
      const reply = entry.reply;
      if (!reply) return false;
      delete entry.reply;
      reply(event);
      return true;
    };
    let held: Held;
    try {
      held = await this.#o.locker.acquire({
        env,
        user: who.user,
        kind: "regular",
        meta: req.meta,
        metaExplicit: req.metaExplicit,
        intervalMs: this.#o.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS,
        timeoutMs: this.reach.maxWaitMs,
        seen: this.#o.seen,
        signal: abort.signal,
        rejoin: false,
        placeId: `${SLACK_PLACE_PREFIX}${crypto.randomUUID()}`,
        onWait: (w) => {
          if (w.position === undefined) return;
          entry.position = w.position;
          hand({
            kind: "waiting",
            position: w.position,
            ...(w.frozen ? { frozen: w.frozen } : {}),
          });
        },
        onNote: (text) => this.#log(entry, "note", { note: text }),
        onRetry: (e) => this.#log(entry, "retry", { error: e.message }),
      });
    } catch (error) {
      this.#forget(entry);
      if (hand({ kind: "failed", error })) return;
      const reason = abort.signal.reason;
      if (reason === CANCELLED) {
        this.#log(entry, "cancelled");
        return;
      }
      if (error instanceof LeftLineError) {
        // Removed by `/daplaya cancel` on another replica (or lapsed): they know, or asked.
        this.#log(entry, "left");
        return;
      }
      // A freeze window outlasting the wait is a NotAcquiredError too (FrozenError): a timeout.
      const end: WaitEnd = reason === SHUTDOWN
        ? { why: "shutdown" }
        : error instanceof UsageError
        ? { why: "refused", line: error.message }
        : error instanceof NotAcquiredError
        ? { why: "timeout", waitedMs: this.reach.maxWaitMs }
        : { why: "failed" };
      const told = await this.#tell(entry, waitEndedMessage(env, end, req.command));
      // The error goes to the log only: messages never carry the store's details.
      const fields: Record<string, string> = { told: told ?? "nobody" };
      if (end.why === "failed") fields.error = (error as Error)?.message ?? String(error);
      this.#log(entry, end.why, fields);
      return;
    }
    this.#forget(entry);
    // Granted at once: the answer to the click shows the lock.
    if (hand({ kind: "granted", held })) return;
    const told = await this.#tell(entry, yoursMessage(held, who));
    if (told) {
      this.#log(entry, "granted", { told });
      return;
    }
    // Nobody could be told: a lock its holder does not know of would hold up everyone behind.
    const released = await this.#o.locker.releaseHeld(held).catch(() => false);
    this.#log(entry, "granted", { told: "nobody", released: String(released) });
  }

  #forget(entry: Entry): void {
    if (this.#waits.get(entry.key) === entry) this.#waits.delete(entry.key);
  }

  /** Tells the waiter: a direct message, else the click's response_url while Slack takes it. */
  async #tell(entry: Entry, message: SlackMessage): Promise<"dm" | "response_url" | undefined> {
    if (this.#o.botToken && await this.#postMessage(entry, message)) return "dm";
    const age = this.#o.clock.monotonic() - entry.startedAt;
    if (age < RESPONSE_URL_LIFE_MS && await this.#respond(entry, message)) return "response_url";
    return undefined;
  }

  async #postMessage(entry: Entry, message: SlackMessage): Promise<boolean> {
    const url = `${this.#o.apiUrl.replace(/\/+$/, "")}/chat.postMessage`;
    const answer = await post(url, {
      channel: entry.req.userId,
      text: message.text,
      blocks: message.blocks,
    }, this.#o.botToken);
    if (answer === "ok") return true;
    this.#log(entry, "dm-failed", { error: `chat.postMessage: ${answer}` });
    return false;
  }

  async #respond(entry: Entry, message: SlackMessage): Promise<boolean> {
    if (!/^https?:\/\//.test(entry.req.responseUrl)) return false;
    const answer = await post(entry.req.responseUrl, { ...message, replace_original: false });
    if (answer === "ok") return true;
    this.#log(entry, "response-failed", { error: `response_url: ${answer}` });
    return false;
  }

  #log(entry: Entry, result: string, more: Record<string, string> = {}): void {
    const fields = { env: entry.req.env, user: entry.req.userId, result, ...more };
    const text = Object.entries(fields).map(([k, v]) =>
      `${k}=${/^[\w.@:+-]+$/.test(v) ? v : JSON.stringify(v.slice(0, 200))}`
    );
    this.#o.log([isoTime(this.#o.clock.now(), { millis: true }), "wait", ...text].join(" "));
  }
}

function keyOf(env: string, user: string): string {
  return `${env}\n${user.toLowerCase()}`;
}

/** POSTs JSON; "ok", or what went wrong (an HTTP status, Slack's error, a failure's name). */
async function post(url: string, body: unknown, token?: string): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), POST_TIMEOUT_MS);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      return `HTTP ${res.status}`;
    }
    // response_url answers plain text; the Web API answers JSON with `ok`.
    if (!token) {
      await res.body?.cancel();
      return "ok";
    }
    const doc = await res.json().catch(() => null);
    return doc?.ok === true ? "ok" : String(doc?.error ?? "no ok in the answer").slice(0, 80);
  } catch (e) {
    return abort.signal.aborted ? `no answer within ${POST_TIMEOUT_MS}ms` : (e as Error).name;
  } finally {
    clearTimeout(timer);
  }
}

/** The user's place in a line, 1 = next, and whether `serve` keeps it for Slack. */
export function userPlace(
  line: Place[],
  user: string,
): { position: number; slack: boolean } | null {
  const index = line.findIndex((p) => sameUser(p.user, user));
  return index === -1 ? null : { position: index + 1, slack: isSlackPlace(line[index]) };
}
