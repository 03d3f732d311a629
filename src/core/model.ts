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
  /** Set when the lock was granted with --override-freeze during a freeze: the window's id. */
  overrodeFreeze?: string;
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

/**
 * A waiter's place in an env's line. Places are kept in the order they were taken; a regular
 * lock is granted only to the first place (or to anyone while the line is empty).
 */
export interface Place {
  /** Random per waiting `lock` or `run`: the place's identity in conditions. */
  pid: string;
  user: string;
  meta: string;
  /** Waiter's wall clock when it took the place. */
  since: number;
  /** Waiter's wall clock at its last renewal (informative: lapsing goes by `rvn`). */
  renewedAt: number;
  /** Record version: changes at every renewal, so others can see the waiter is alive. */
  rvn: string;
  /** The place lapses once its `rvn` was seen unchanged for this long. */
  leaseMs: number;
}

/** A place in an env's line as `locks --json` shows it (`waiting`). */
export interface Waiter {
  env: string;
  user: string;
  /** 1 = next. */
  position: number;
  /** Epoch ms when the place was taken (the waiter's clock). */
  since: number;
  meta: string;
}

/** An env's places as `locks --json` shows them, first = 1. */
export function waitersOf(env: string, places: Place[]): Waiter[] {
  return places.map((p, i) => ({
    env,
    user: p.user,
    position: i + 1,
    since: p.since,
    meta: p.meta,
  }));
}

/** A record version as one process saw it: `since` is on that process's monotonic clock. */
export interface Observation {
  rvn: string;
  /** Monotonic time (this process's clock) when this record version was first seen. */
  since: number;
}

/** The per-env guard: the item every conditional write decides on. */
export interface Guard {
  env: string;
  /** Highest fence granted so far on this env (0 when none). */
  fence: number;
  regular?: Slot;
  uberlock?: Slot;
  /** The env's line of waiters, first = next; absent or empty when nobody waits. */
  line?: Place[];
  /** The env's rules and freeze windows; absent until first set (version 0). */
  policy?: Policy;
}

/**
 * When a freeze window is in force: once, from `from` until `until` (epoch ms, end excluded),
 * or every week in its zone's local time, e.g. `Fri 15:00-Mon 09:00` (as `parseWeekly` writes it).
 */
export type FreezeSchedule = { from: number; until: number } | { weekly: string };

/** A freeze window: while it is in force, regular locks on its env are refused. */
export interface Freeze {
  /** Short and random, for `freeze remove --id`. */
  id: string;
  reason: string;
  /** IANA time zone: a weekly schedule is local time there, and times are also shown in it. */
  tz: string;
  schedule: FreezeSchedule;
  addedBy: string;
  /** Epoch ms. */
  addedAt: number;
}

/** Per-env rules for every new lock (both kinds). */
export interface Rules {
  /** A lock needs a meta: given with --meta, or the CI run URL. */
  requireMeta?: boolean;
  /** No lease longer than this; a lock without --ttl gets at most this. */
  maxTtlMs?: number;
  /** The lease of a lock taken without --ttl. */
  defaultTtlMs?: number;
}

/** An env's policy as kept in its guard item. */
export interface Policy {
  /**
   * Higher at every change (never back to 0): a grant is applied only while the policy still
   * has the version the grant was decided on.
   */
  version: number;
  rules: Rules;
  freezes: Freeze[];
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
