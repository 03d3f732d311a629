/**
 * Who is asking: the Slack user's email (users.info, with the bot token), so that a lock taken
 * in Slack is the same user as the CLI's `--user EMAIL`. Without a bot token, or when Slack gives
 * no email, the user is `slack:<user_id>`, which is stable, and the answer says why.
 */
import type { Clock } from "../core/clock.ts";
import { parseUser } from "../core/model.ts";

export interface SlackIdentity {
  /** The lock's `user`: the email, else `slack:<user_id>`. */
  user: string;
  /** Slack's `user_name` from the request, shown beside a `slack:` user. */
  userName?: string;
  /** Why there is no email (for the answer); absent when the email was found. */
  fallback?: string;
}

export interface IdentityOptions {
  /** Slack Web API base URL, e.g. https://slack.com/api */
  apiUrl: string;
  botToken?: string;
  fetch: typeof fetch;
  clock: Clock;
}

/** How long an answer from Slack is reused. */
const TTL_MS = 10 * 60_000;
/** Per lookup: the whole reply must leave within Slack's 3 s. */
const LOOKUP_TIMEOUT_MS = 1000;

type Lookup = { email: string } | { fallback: string; cache: boolean };

const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isSlackUserId(id: string): boolean {
  return USER_ID_RE.test(id);
}
// Slack names are short; anything else (control characters, very long) is simply not shown.
// deno-lint-ignore no-control-regex
const NAME_RE = /^[^\u0000-\u001f\u007f-\u009f]{1,80}$/;
const MAX_CACHE = 10_000;

export class SlackIdentities {
  readonly #o: IdentityOptions;
  readonly #usersInfo: string;
  readonly #cache = new Map<string, { expires: number; lookup: Promise<Lookup> }>();

  constructor(o: IdentityOptions) {
    this.#o = o;
    this.#usersInfo = `${o.apiUrl.replace(/\/+$/, "")}/users.info`;
  }

  /** Resolves a Slack user; never throws for Slack-side problems (they become a fallback). */
  async resolve(
    userId: string,
    userName: string | undefined,
    budgetMs?: number,
  ): Promise<SlackIdentity> {
    const name = userName && NAME_RE.test(userName) ? userName : undefined;
    const base = name ? { userName: name } : {};
    const lookup = await this.#lookup(userId, budgetMs);
    if ("email" in lookup) return { ...base, user: lookup.email };
    return { ...base, user: `slack:${userId}`, fallback: lookup.fallback };
  }

  #lookup(userId: string, budgetMs?: number): Promise<Lookup> {
    if (!this.#o.botToken) {
      return Promise.resolve({ fallback: "no bot token is configured", cache: false });
    }
    const now = this.#o.clock.monotonic();
    const hit = this.#cache.get(userId);
    if (hit && hit.expires > now) return hit.lookup;
    if (this.#cache.size >= MAX_CACHE) this.#cache.clear();
    const lookup = this.#fetch(userId, Math.min(LOOKUP_TIMEOUT_MS, budgetMs ?? Infinity));
    const entry = { expires: now + TTL_MS, lookup };
    this.#cache.set(userId, entry);
    // Transient failures are not remembered: the next request asks Slack again.
    lookup.then((l) => {
      if ("fallback" in l && !l.cache && this.#cache.get(userId) === entry) {
        this.#cache.delete(userId);
      }
    });
    return lookup;
  }

  async #fetch(userId: string, timeoutMs: number): Promise<Lookup> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, timeoutMs));
    try {
      const url = `${this.#usersInfo}?user=${encodeURIComponent(userId)}`;
      const res = await this.#o.fetch(url, {
        headers: { authorization: `Bearer ${this.#o.botToken}` },
        signal: abort.signal,
      });
      if (!res.ok) {
        await res.body?.cancel();
        return { fallback: `users.info answered HTTP ${res.status}`, cache: false };
      }
      const doc = await res.json() as {
        ok?: boolean;
        error?: string;
        user?: { profile?: { email?: unknown } };
      };
      if (doc.ok !== true) {
        const error = typeof doc.error === "string" ? doc.error.slice(0, 80) : "unknown error";
        // A definite answer about this user is worth remembering; rate limits are not.
        const cache = error !== "ratelimited" && error !== "internal_error";
        return { fallback: `users.info failed: ${error}`, cache };
      }
      const email = doc.user?.profile?.email;
      if (typeof email !== "string" || email === "") {
        return {
          fallback: "Slack gave no email (the app needs the users:read.email scope)",
          cache: true,
        };
      }
      try {
        return { email: parseUser(email) };
      } catch {
        return { fallback: "Slack gave an email daplaya cannot use as a user", cache: true };
      }
    } catch (e) {
      const why = abort.signal.aborted ? `no answer within ${timeoutMs}ms` : (e as Error).name;
      return { fallback: `users.info failed (${why})`, cache: false };
    } finally {
      clearTimeout(timer);
    }
  }
}
