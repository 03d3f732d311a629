/**
 * `daplaya check`: who holds an env, and whether one lock still holds it, decided on one strongly
 * consistent read of the env's guard. Pure: the caller reads the guard and the clock.
 */
import {
  type Guard,
  LOCK_KINDS,
  type LockRecord,
  recordOf,
  type Waiter,
  waitersOf,
} from "./model.ts";

/** Who holds an env, as `check --json` prints it. */
export interface EnvCheck {
  env: string;
  /** True while any lock (regular or uberlock) is in the env's guard, a lapsed lease included. */
  held: boolean;
  /** The first of `locks` (null: nobody holds the env). */
  heldBy: LockRecord | null;
  /**
   * Every lock in the guard (at most one of each kind): the checked lock first, then the regular
   * lock, then the uberlock.
   */
  locks: LockRecord[];
  /** The env's line, as `locks --json` gives it. */
  waiting: Waiter[];
}

/**
 * Why a lock does not hold its env: nobody holds the env (released, or ended), someone else
 * does, or it is still in the guard but its lease ran out by its own renewal time.
 */
export type LostReason = "free" | "taken" | "lease-ran-out";

/** Whether one lock still holds its env (`check --id`). */
export interface LockCheck extends EnvCheck {
  id: string;
  holds: boolean;
  /** Set when `holds` is false. */
  reason?: LostReason;
}

/** Who holds `env` in `guard` (null: no guard item, nobody ever held it); `first`'s lock first. */
export function checkEnv(env: string, guard: Guard | null, first?: string): EnvCheck {
  const locks = LOCK_KINDS.flatMap((kind) => {
    const slot = guard?.[kind];
    return slot ? [recordOf(env, kind, slot)] : [];
  }).sort((a, b) => Number(b.id === first) - Number(a.id === first));
  const waiting = waitersOf(env, guard?.line ?? []);
  return { env, held: locks.length > 0, heldBy: locks[0] ?? null, locks, waiting };
}

/**
 * Whether lock `id` still holds `env`: its id is in the guard and, for a lease, the lease has not
 * run out by the renewal time the holder recorded (`renewedAt + leaseMs > now`, on this host's
 * clock). A lapsed lease no longer holds the env even before anyone takes it over: its keeper has
 * not renewed it in time, and a waiter may take it over at any moment.
 */
export function checkLock(env: string, id: string, guard: Guard | null, now: number): LockCheck {
  const state = checkEnv(env, guard, id);
  const own = LOCK_KINDS.map((kind) => guard?.[kind]).find((slot) => slot?.id === id);
  const base = { env, id };
  if (own === undefined) {
    return { ...base, holds: false, reason: state.held ? "taken" : "free", ...state };
  }
  if (own.leaseMs !== undefined && own.renewedAt + own.leaseMs <= now) {
    return { ...base, holds: false, reason: "lease-ran-out", ...state };
  }
  return { ...base, holds: true, ...state };
}
