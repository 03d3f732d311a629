/**
 * Who is asking. The rule: the same Slack user always maps to the same lock user.
 *
 * - With a bot token, that user is the Slack user's email (users.info), so that a lock taken in
 *   Slack is the same user as the CLI's `--user EMAIL`. When the email cannot be confirmed, the
 *   command is refused: for a moment (timeout, HTTP error, `ratelimited`, `internal_error`) with
 *   a request to retry, for good (no email: the app lacks `users:read.email`; `user_not_found`,
 *   `invalid_auth`…) with what to fix. It never falls back to another name, because a lock taken
 *   under another name could not be released as the email, from Slack or from the CLI.
 * - Without a bot token, the user is always `slack:<user_id>`, which is stable, and the answer
 *   says why.
 */
import type { Clock } from "../core/clock.ts";
import { parseUser } from "../core/parse.ts";
import { esc } from "./mrkdwn.ts";

export interface SlackIdentity {
  /** The lock's `user`: the email, or `slack:<user_id>` when no bot token is configured. */
  user: string;
  /** Slack's `user_name` from the request, shown beside a `slack:` user. */
  userName?: string;
  /** Why there is no email (for the answer); only when no bot token is configured. */
  fallback?: string;
}

/** The email could not be confirmed; the command must change nothing. */
export class IdentityUnconfirmed extends Error {
  override name = "IdentityUnconfirmed";
  /** True when retrying soon may work (a timeout, an HTTP error, a rate limit). */
  constructor(message: string, readonly transient: boolean) {
    super(message);
  }
}

export interface IdentityOptions {
  /** Slack Web API base URL, e.g. https://slack.com/api */
  apiUrl: string;
  botToken?: string;
  clock: Clock;
}

/** How long a confirmed email is reused. */
const TTL_MS = 10 * 60_000;
/** How long a request waits for users.info: the whole reply must leave within Slack's 3 s. */
const LOOKUP_WAIT_MS = 1000;
/**
 * How long users.info may take at all. A lookup slower than the wait goes on in the background
 * and fills the cache, so that the retry it asked for is answered at once.
 */
const LOOKUP_TIMEOUT_MS = 10_000;
/** Slack's errors that say nothing about the request itself: retrying may work. */
export const TRANSIENT_ERRORS = new Set([
  "ratelimited",
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);

type Lookup = { email: string } | { problem: string; transient: boolean };

const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isSlackUserId(id: string): boolean {
  return USER_ID_RE.test(id);
}
// Slack names are short; anything else (control characters, very long) is simply not shown.
// deno-lint-ignore no-control-regex
const NAME_RE = /^[^\u0000-\u001f\u007f-\u009f]{1,80}$/;
const MAX_CACHE = 10_000;

/** How a lock user is shown in a message: a Slack mention when known, else the escaped user. */
export type Names = (user: string) => string;

/** How long a users.lookupByEmail answer is reused: a Slack user id, or a sure "no such user". */
const NAME_TTL_MS = 10 * 60_000;
/** How long a lookupByEmail that failed for a moment (timeout, HTTP error) is not asked again. */
const NAME_RETRY_MS = 60_000;
/** How long a message waits for lookupByEmail at most; the rest runs on and fills the cache. */
const NAME_WAIT_MS = 800;

/** A `slack:<id>` lock user (serve without a bot token, or the CLI's `--user slack:U…`). */
const SLACK_USER_RE = /^slack:([A-Za-z0-9_-]{1,64})$/i;

export class SlackIdentities {
  readonly #o: IdentityOptions;
  readonly #usersInfo: string;
  readonly #lookupByEmail: string;
  /** Confirmed emails, and lookups in flight (so that concurrent requests share one). */
  readonly #cache = new Map<string, { expires: number; lookup: Promise<Lookup> }>();
  /** Slack user ids by email (null: no Slack user, or not known for now), and lookups in flight. */
  readonly #ids = new Map<string, { expires: number; lookup: Promise<string | null> }>();

  constructor(o: IdentityOptions) {
    this.#o = o;
    const api = o.apiUrl.replace(/\/+$/, "");
    this.#usersInfo = `${api}/users.info`;
    this.#lookupByEmail = `${api}/users.lookupByEmail`;
  }

  /**
   * How to show these lock users: `<@U123>` for a `slack:U123` user, and for an email that
   * Slack's users.lookupByEmail knows (bot token needed); anything else escaped as it is. Waits
   * at most `budgetMs` (and never long): a lookup not answered by then shows the email, and
   * goes on in the background to fill the cache.
   */
  async names(users: Iterable<string>, budgetMs: number): Promise<Names> {
    const shown = new Map<string, string>();
    const lookups: Promise<void>[] = [];
    for (const user of new Set(users)) {
      const slack = SLACK_USER_RE.exec(user);
      if (slack) shown.set(user, `<@${slack[1].toUpperCase()}>`);
      else if (this.#o.botToken && user.includes("@")) {
        lookups.push(
          this.#idOf(user).then((id) => {
            if (id) shown.set(user, `<@${id}>`);
          }),
        );
      }
    }
    if (lookups.length > 0) {
      await within(Promise.all(lookups), Math.max(0, Math.min(NAME_WAIT_MS, budgetMs)));
    }
    // A snapshot: a lookup answered after the wait does not change a message being built.
    const names = new Map(shown);
    return (user) => names.get(user) ?? esc(user);
  }

  #idOf(email: string): Promise<string | null> {
    const key = email.toLowerCase();
    const now = this.#o.clock.monotonic();
    const hit = this.#ids.get(key);
    if (hit && hit.expires > now) return hit.lookup;
    if (this.#ids.size >= MAX_CACHE) this.#ids.clear();
    const entry: { expires: number; lookup: Promise<string | null> } = {
      expires: now + LOOKUP_TIMEOUT_MS + NAME_TTL_MS,
      lookup: Promise.resolve(null),
    };
    entry.lookup = this.#fetchId(email).then(({ id, sure }) => {
      if (this.#ids.get(key) === entry) {
        entry.expires = this.#o.clock.monotonic() + (sure ? NAME_TTL_MS : NAME_RETRY_MS);
      }
      return id;
    });
    this.#ids.set(key, entry);
    return entry.lookup;
  }

  /** `sure`: Slack answered (a user, or none); otherwise the id is unknown for now. */
  async #fetchId(email: string): Promise<{ id: string | null; sure: boolean }> {
    const answer = await this.#get<{ ok?: boolean; error?: string; user?: { id?: unknown } }>(
      `${this.#lookupByEmail}?email=${encodeURIComponent(email)}`,
    );
    if (!("doc" in answer)) return { id: null, sure: false };
    const { doc } = answer;
    if (doc.ok !== true) {
      const error = typeof doc.error === "string" ? doc.error : "";
      return { id: null, sure: !TRANSIENT_ERRORS.has(error) };
    }
    const id = doc.user?.id;
    return typeof id === "string" && USER_ID_RE.test(id)
      ? { id, sure: true }
      : { id: null, sure: true };
  }

  /**
   * GETs a Slack Web API method with the bot token, giving up after LOOKUP_TIMEOUT_MS: its JSON
   * document, the HTTP status of a failed answer, or why no answer came.
   */
  async #get<T>(url: string): Promise<{ doc: T } | { status: number } | { failed: string }> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), LOOKUP_TIMEOUT_MS);
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${this.#o.botToken}` },
        signal: abort.signal,
      });
      if (!res.ok) {
        await res.body?.cancel();
        return { status: res.status };
      }
      return { doc: await res.json() as T };
    } catch (e) {
      return {
        failed: abort.signal.aborted
          ? `no answer within ${LOOKUP_TIMEOUT_MS}ms`
          : (e as Error).name,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves a Slack user; throws IdentityUnconfirmed when a bot token is set and no email. */
  async resolve(
    userId: string,
    userName: string | undefined,
    budgetMs = Infinity,
  ): Promise<SlackIdentity> {
    const name = userName && NAME_RE.test(userName) ? userName : undefined;
    const base = name ? { userName: name } : {};
    if (!this.#o.botToken) {
      return { ...base, user: `slack:${userId}`, fallback: "no bot token is configured" };
    }
    const waitMs = Math.max(0, Math.min(LOOKUP_WAIT_MS, budgetMs));
    const lookup = await within(this.#lookup(userId), waitMs);
    if (lookup === undefined) {
      throw new IdentityUnconfirmed(`users.info: no answer within ${waitMs}ms`, true);
    }
    if ("problem" in lookup) throw new IdentityUnconfirmed(lookup.problem, lookup.transient);
    return { ...base, user: lookup.email };
  }

  #lookup(userId: string): Promise<Lookup> {
    const now = this.#o.clock.monotonic();
    const hit = this.#cache.get(userId);
    if (hit && hit.expires > now) return hit.lookup;
    if (this.#cache.size >= MAX_CACHE) this.#cache.clear();
    const lookup = this.#fetch(userId);
    const entry = { expires: now + LOOKUP_TIMEOUT_MS + TTL_MS, lookup };
    this.#cache.set(userId, entry);
    // Only a confirmed email is remembered, from when it came; every failure is asked again.
    lookup.then((l) => {
      if (this.#cache.get(userId) !== entry) return;
      if ("email" in l) entry.expires = this.#o.clock.monotonic() + TTL_MS;
      else this.#cache.delete(userId);
    });
    return lookup;
  }

  async #fetch(userId: string): Promise<Lookup> {
    const answer = await this.#get<{
      ok?: boolean;
      error?: string;
      user?: { profile?: { email?: unknown } };
    }>(`${this.#usersInfo}?user=${encodeURIComponent(userId)}`);
    if ("status" in answer) {
      return { problem: `users.info answered HTTP ${answer.status}`, transient: true };
    }
    if ("failed" in answer) {
      return { problem: `users.info failed (${answer.failed})`, transient: true };
    }
    const { doc } = answer;
    if (doc.ok !== true) {
      const error = typeof doc.error === "string" ? doc.error.slice(0, 80) : "unknown error";
      return { problem: `users.info failed: ${error}`, transient: TRANSIENT_ERRORS.has(error) };
    }
    const email = doc.user?.profile?.email;
    if (typeof email !== "string" || email === "") {
      return {
        problem: "Slack gave no email for you (the app needs the users:read.email scope)",
        transient: false,
      };
    }
    try {
      return { email: parseUser(email) };
    } catch {
      return { problem: "Slack gave an email daplaya cannot use as a user", transient: false };
    }
  }
}

/** The value if it settles within `ms`, else undefined; the promise itself runs on. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
