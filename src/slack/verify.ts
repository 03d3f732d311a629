/**
 * Slack request verification (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature` is `v0=` + hex HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body>`
 * keyed with the app's signing secret. On `crypto.subtle`; no I/O. A verifier also remembers
 * the signatures it accepted while their timestamp is in the window, and refuses them again
 * (replays). That memory is per process: with several `serve` replicas, each remembers its own.
 */

/** Requests whose timestamp is further than this from our clock are refused (replays). */
export const MAX_SKEW_S = 5 * 60;
/**
 * At most this many accepted signatures are remembered (about 10 MB). Only validly signed
 * requests are remembered, so this is reached only at ~160 requests a second from Slack itself;
 * past it requests are refused rather than left open to replay.
 */
const MAX_REMEMBERED = 50_000;
/** Expired signatures are swept at most this often (by the request clock), or when full. */
const SWEEP_EVERY_MS = 10_000;

const encoder = new TextEncoder();

type Verdict = { ok: true } | { ok: false; reason: string };

/** Imports the signing secret once; reuse the verifier for every request. */
export class SlackVerifier {
  readonly #key: Promise<CryptoKey>;
  /** Accepted signatures and their request timestamp (epoch seconds). */
  readonly #seen = new Map<string, number>();
  #sweptAt = -Infinity;

  constructor(signingSecret: string) {
    if (signingSecret === "") throw new Error("empty Slack signing secret");
    this.#key = crypto.subtle.importKey(
      "raw",
      encoder.encode(signingSecret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  /** `v0=<hex>` for this timestamp and raw body. */
  async sign(timestamp: string, body: Uint8Array): Promise<string> {
    const prefix = encoder.encode(`v0:${timestamp}:`);
    const base = new Uint8Array(prefix.length + body.length);
    base.set(prefix);
    base.set(body, prefix.length);
    const mac = await crypto.subtle.sign("HMAC", await this.#key, base);
    return `v0=${new Uint8Array(mac).toHex()}`;
  }

  /**
   * Checks the headers against the raw body. `nowMs` is the wall clock in epoch milliseconds.
   * The reason is for the log only: it never echoes the signature or the secret.
   */
  async verify(
    timestamp: string | null,
    signature: string | null,
    body: Uint8Array,
    nowMs: number,
  ): Promise<Verdict> {
    if (!timestamp || !signature) {
      return { ok: false, reason: "missing X-Slack-Request-Timestamp or X-Slack-Signature" };
    }
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "malformed timestamp" };
    if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_SKEW_S) {
      return { ok: false, reason: "timestamp outside the 5-minute window" };
    }
    const expected = await this.sign(timestamp, body);
    if (!timingSafeEqual(encoder.encode(expected), encoder.encode(signature))) {
      return { ok: false, reason: "bad signature" };
    }
    // No await from here on: two copies of one request arriving together cannot both pass.
    this.#forget(nowMs);
    if (this.#seen.has(expected)) return { ok: false, reason: "replayed request" };
    if (this.#seen.size >= MAX_REMEMBERED) {
      return { ok: false, reason: "too many requests to remember against replays" };
    }
    this.#seen.set(expected, Number(timestamp));
    return { ok: true };
  }

  /** How many accepted signatures are remembered now. */
  get remembered(): number {
    return this.#seen.size;
  }

  /** Forgets signatures whose timestamp has left the window: they are refused as stale anyway. */
  #forget(nowMs: number): void {
    if (nowMs - this.#sweptAt < SWEEP_EVERY_MS && this.#seen.size < MAX_REMEMBERED) return;
    this.#sweptAt = nowMs;
    for (const [signature, timestamp] of this.#seen) {
      if (nowMs / 1000 - timestamp > MAX_SKEW_S) this.#seen.delete(signature);
    }
  }
}

/**
 * Compares in time that depends only on the lengths, never on where the first difference is.
 * (The length of a valid signature is public: `v0=` + 64 hex digits.)
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** True when no app id is configured, or the request's `api_app_id` equals it. */
export function appIdAllowed(expected: string | undefined, actual: unknown): boolean {
  return !expected || actual === expected;
}
