import { UsageError } from "./errors.ts";

/** The two kinds of lock an env can carry at once (SPEC section 2). */
export type LockKind = "regular" | "uberlock";
export const LOCK_KINDS: readonly LockKind[] = ["regular", "uberlock"];

/** A lock record as stored and as printed: the eight seed attributes first. */
export interface LockRecord {
  id: string;
  user: string;
  env: string;
  createdAt: number;
  updatedAt: number;
  active: boolean;
  uberlock: boolean;
  meta: string;
  /** Strictly increasing per env across kinds and releases. */
  fence: number;
  /** Lease length in ms; absent for a lock that lasts until released. */
  leaseMs?: number;
  /** Holder's wall-clock estimate of the lease end (informative; takeover does not trust it alone). */
  expiresAt?: number;
  releasedAt?: number;
  releasedBy?: string;
  forced?: boolean;
  /** Set when a lease ran out and another grant ended this lock. */
  supersededBy?: string;
}

/** Who holds one kind on an env, as kept in the env's guard item. */
export interface Slot {
  id: string;
  user: string;
  meta: string;
  createdAt: number;
  /** Holder's wall clock at the last grant or renewal. */
  renewedAt: number;
  /** Record version: changes at every renewal, so a waiter can see a holder is alive. */
  rvn: string;
  leaseMs?: number;
  fence: number;
  /**
   * The token of the process that keeps this lock alive (`run`); absent for a plain `lock`.
   * A kept lock is never joined by another process, whatever user it gives.
   */
  owner?: string;
}

/** The per-env guard: the item every conditional write decides on. */
export interface Guard {
  env: string;
  /** Highest fence granted so far on this env (0 when none). */
  fence: number;
  regular?: Slot;
  uberlock?: Slot;
}

const ENV_RE = /^[A-Za-z0-9_.-]{1,64}$/;
// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

export function parseEnv(raw: string | undefined): string {
  if (raw === undefined || raw === "") {
    throw new UsageError("missing --env: name the environment, e.g. --env production");
  }
  if (!ENV_RE.test(raw)) {
    throw new UsageError(
      `invalid env ${JSON.stringify(truncate(raw))}: use 1-64 characters of A-Z a-z 0-9 _ . -`,
    );
  }
  return raw.toUpperCase();
}

export function parseUser(raw: string | undefined): string {
  if (raw === undefined || raw === "") {
    throw new UsageError(
      "missing --user: pass --user EMAIL, set DAPLAYA_USER, or run inside a git repository with user.email set",
    );
  }
  if ([...raw].length > 256) throw new UsageError("invalid user: at most 256 characters");
  if (CONTROL_RE.test(raw)) {
    throw new UsageError("invalid user: control characters are not allowed");
  }
  return raw;
}

export function parseMeta(raw: string): string {
  if ([...raw].length > 2048) throw new UsageError("invalid meta: at most 2048 characters");
  if (CONTROL_RE.test(raw)) {
    throw new UsageError("invalid meta: control characters are not allowed");
  }
  return raw;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_DURATION_MS = 366 * 86_400_000;

/** Parses `90s`, `5m`, `2h`, `1h30m`, `500ms`; a bare number means seconds. */
export function parseDuration(raw: string, flag: string): number {
  const text = raw.trim();
  let total = 0;
  if (/^\d+$/.test(text)) {
    total = Number(text) * 1000;
  } else {
    const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
    if (text === "" || parts.map((p) => p[0]).join("") !== text) {
      throw new UsageError(
        `invalid ${flag} ${
          JSON.stringify(truncate(raw))
        }: use a duration like 90s, 5m, 2h or 1h30m`,
      );
    }
    for (const [, n, unit] of parts) total += Number(n) * UNIT_MS[unit];
  }
  if (total > MAX_DURATION_MS) throw new UsageError(`invalid ${flag} ${raw}: at most 366 days`);
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 1000 !== 0 || ms === 0) return `${ms}ms`;
  let s = ms / 1000;
  const out: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (s >= size) {
      out.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return out.join("");
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** ISO 8601 UTC to the second, e.g. 2026-11-26T12:31:48Z. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Users compare case-insensitively: `Alice@Example.com` is `alice@example.com`. */
export function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The guard slot of a newly granted record. */
export function slotOf(r: LockRecord, rvn: string, owner?: string): Slot {
  const slot: Slot = {
    id: r.id,
    user: r.user,
    meta: r.meta,
    createdAt: r.createdAt,
    renewedAt: r.createdAt,
    rvn,
    fence: r.fence,
  };
  if (r.leaseMs !== undefined) slot.leaseMs = r.leaseMs;
  if (owner !== undefined) slot.owner = owner;
  return slot;
}

/** The active record a guard slot stands for, without reading it. */
export function recordOf(env: string, kind: LockKind, slot: Slot): LockRecord {
  const record: LockRecord = {
    id: slot.id,
    user: slot.user,
    env,
    createdAt: slot.createdAt,
    updatedAt: slot.renewedAt,
    active: true,
    uberlock: kind === "uberlock",
    meta: slot.meta,
    fence: slot.fence,
  };
  if (slot.leaseMs !== undefined) {
    Object.assign(record, { leaseMs: slot.leaseMs, expiresAt: slot.renewedAt + slot.leaseMs });
  }
  return record;
}
