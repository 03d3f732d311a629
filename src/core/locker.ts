import type { Clock, Sleep } from "./clock.ts";
import { FailureError, NotAcquiredError, NotHeldError, UnavailableError } from "./errors.ts";
import {
  formatDuration,
  type Guard,
  LOCK_KINDS,
  type LockKind,
  type LockRecord,
  recordOf,
  type Slot,
} from "./model.ts";
import type { LockStore, Supersede } from "../store/port.ts";

/**
 * A lease may be taken over early, without watching it for a whole lease, once the holder's
 * own timestamp is older than lease + this margin: the fast path trusts clocks to within it.
 */
export const MAX_CLOCK_SKEW_MS = 10 * 60_000;

export interface AcquireOptions {
  env: string;
  user: string;
  kind: LockKind;
  /** Meta for a new lock. */
  meta: string;
  /** True when meta was given explicitly: only then does a re-lock overwrite it. */
  metaExplicit: boolean;
  leaseMs?: number;
  /** How long to keep trying; undefined waits indefinitely, 0 makes a single attempt. */
  timeoutMs?: number;
  intervalMs: number;
  /** Called before each wait with the slot that blocks us. */
  onWait?: (holder: Slot, kind: LockKind) => void;
  /** Called before waiting again after a transient store failure. */
  onRetry?: (error: Error) => void;
}

/** A lock this process holds. */
export interface Held {
  record: LockRecord;
  kind: LockKind;
  rvn: string;
  /** True when the user already held it and the call refreshed it. */
  refreshed: boolean;
  /** Ids of expired locks this grant ended. */
  superseded: string[];
  /** Monotonic time when the request that granted or refreshed it was sent: its lease starts no earlier. */
  sentAt: number;
}

export interface ReleaseOptions {
  env: string;
  user: string;
  /** Narrows the release to the uberlock. */
  onlyUberlock: boolean;
  /** Releases whoever holds it. */
  force: boolean;
  /** Ends only this lock (e.g. the one a Slack message was about); NotHeldError once it is over. */
  id?: string;
}

interface Observation {
  rvn: string;
  since: number;
}

export class Locker {
  constructor(
    private readonly store: LockStore,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
    private readonly newId: () => string = () => crypto.randomUUID(),
  ) {}

  async acquire(o: AcquireOptions): Promise<Held> {
    const deadline = this.clock.monotonic() + (o.timeoutMs ?? Infinity);
    const seen = new Map<LockKind, Observation>();
    let known: Guard | null = null;
    let afterWait = false;
    let unexplained = 0;
    // True once the store has answered: only then is an outage worth waiting out.
    let answered = false;
    const wait = async () => {
      // Never negative: Deno prints a two-line TimeoutNegativeWarning on stderr for that.
      await this.sleep(Math.max(0, Math.min(o.intervalMs, deadline - this.clock.monotonic())));
      afterWait = true;
    };
    for (;;) {
      const mine = known?.[o.kind]?.user === o.user ? known[o.kind] : undefined;
      const { supersede, blocker } = this.#blockers(known, o, seen);
      // After a wait we try again even if a holder was there: a failed grant reads the
      // current state back in the same request.
      if (mine || !blocker || afterWait) {
        afterWait = false;
        let result: { held?: Held; guard: Guard | null };
        try {
          result = mine ? await this.#refresh(o, mine) : await this.#grant(o, known, supersede);
        } catch (e) {
          // Throttling or an outage while we wait for a holder: try again at the next interval.
          // Before any answer (wrong endpoint, DNS, no network, throttled from the start) an
          // indefinite wait would hide the problem forever: fail with its line instead.
          if (
            !(e instanceof UnavailableError) || !answered || this.clock.monotonic() >= deadline
          ) throw e;
          o.onRetry?.(e);
          await wait();
          continue;
        }
        if (result.held) return result.held;
        answered = true;
        known = result.guard;
        this.#observe(known, seen);
        // A failure with nobody in the way (a fence or a record version that moved) is
        // retried at once; several in a row mean the guard item is not in a shape we wrote.
        const explained = known?.[o.kind]?.user === o.user ||
          this.#blockers(known, o, seen).blocker;
        unexplained = explained ? 0 : unexplained + 1;
        if (unexplained > 5) {
          throw new FailureError(
            `the guard item of env ${o.env} is not in the shape daplaya writes: inspect it with 'aws dynamodb get-item'`,
          );
        }
        continue;
      }
      if (this.clock.monotonic() >= deadline) {
        throw new NotAcquiredError(this.#heldMessage(o, blocker), blocker);
      }
      o.onWait?.(blocker.slot, blocker.kind);
      await wait();
    }
  }

  async #grant(
    o: AcquireOptions,
    known: Guard | null,
    supersede: Supersede[],
  ): Promise<{ held?: Held; guard: Guard | null }> {
    const held = this.#newLock(o, known, supersede);
    const result = await this.store.grant({
      env: o.env,
      kind: o.kind,
      record: held.record,
      rvn: held.rvn,
      supersede,
      token: this.newId(),
    });
    // Our own record in the slot: an earlier attempt was applied but its answer was lost (the
    // store's conflict retry is a new request, which then fails its condition on our write).
    const ours = !result.granted && result.guard?.[o.kind]?.id === held.record.id;
    return result.granted || ours ? { held, guard: null } : { guard: result.guard };
  }

  #newLock(o: AcquireOptions, known: Guard | null, supersede: Supersede[]): Held {
    const now = this.clock.now();
    const record: LockRecord = {
      id: this.newId(),
      user: o.user,
      env: o.env,
      createdAt: now,
      updatedAt: now,
      active: true,
      uberlock: o.kind === "uberlock",
      meta: o.meta,
      // Fences follow the wall clock, or the last grant plus one when that is higher: the
      // store's condition (greater than the guard's fence) makes them strictly increase.
      fence: Math.max(now, (known?.fence ?? 0) + 1),
    };
    if (o.leaseMs !== undefined) {
      Object.assign(record, { leaseMs: o.leaseMs, expiresAt: now + o.leaseMs });
    }
    return {
      record,
      kind: o.kind,
      rvn: this.newId(),
      refreshed: false,
      superseded: supersede.map((s) => s.id),
      sentAt: this.clock.monotonic(),
    };
  }

  /** Renews a held lock's lease; false when the lock is no longer ours. */
  async renew(held: Held): Promise<boolean> {
    const rvn = this.newId();
    const now = this.clock.now();
    const r = await this.store.renew({
      env: held.record.env,
      kind: held.kind,
      id: held.record.id,
      rvn,
      now,
      ...(held.record.leaseMs !== undefined ? { leaseMs: held.record.leaseMs } : {}),
      token: this.newId(),
    });
    if (!r.renewed) return false;
    held.rvn = rvn;
    held.record.updatedAt = now;
    if (held.record.leaseMs !== undefined) held.record.expiresAt = now + held.record.leaseMs;
    return true;
  }

  /** Ends exactly this held lock; false when it was no longer ours. */
  async releaseHeld(held: Held): Promise<boolean> {
    const now = this.clock.now();
    const r = await this.store.release({
      env: held.record.env,
      targets: [{ kind: held.kind, id: held.record.id }],
      now,
      by: held.record.user,
      forced: false,
      token: this.newId(),
    });
    return r.released || await this.#releasedAs([held.record.id], now, held.record.user);
  }

  /**
   * True when every record shows this very release (its time and releaser): an earlier attempt
   * was applied but its answer was lost, and the retry failed its condition on our own write.
   */
  async #releasedAs(ids: string[], now: number, by: string): Promise<boolean> {
    for (const id of ids) {
      const r = await this.store.record(id);
      if (r?.releasedAt !== now || r.releasedBy !== by) return false;
    }
    return true;
  }

  /** Ends the user's (or, forced, anyone's) active locks on env; returns the ended records. */
  async release(o: ReleaseOptions): Promise<LockRecord[]> {
    let guard = await this.store.guard(o.env);
    for (let attempt = 0; attempt < 10; attempt++) {
      const kinds = LOCK_KINDS.filter((k) => !o.onlyUberlock || k === "uberlock");
      const targets = kinds.flatMap((kind) => {
        const slot = guard?.[kind];
        const match = o.id === undefined || slot?.id === o.id;
        return slot && match && (o.force || slot.user === o.user) ? [{ kind, slot }] : [];
      });
      if (targets.length === 0) {
        const what = o.onlyUberlock ? "uberlock" : "lock";
        const whose = o.force ? "there is no active" : `${o.user} holds no active`;
        const holders = kinds.flatMap((kind) =>
          guard?.[kind] ? [{ kind, slot: guard[kind]! }] : []
        );
        throw new NotHeldError(`${whose} ${what} on env ${o.env}`, holders);
      }
      const now = this.clock.now();
      const result = await this.store.release({
        env: o.env,
        targets: targets.map((t) => ({ kind: t.kind, id: t.slot.id })),
        now,
        by: o.user,
        forced: o.force,
        token: this.newId(),
      });
      const ids = targets.map((t) => t.slot.id);
      if (result.released || await this.#releasedAs(ids, now, o.user)) {
        return targets.map(({ kind, slot }) => ({
          ...recordOf(o.env, kind, slot),
          updatedAt: now,
          active: false,
          releasedAt: now,
          releasedBy: o.user,
          ...(o.force ? { forced: true } : {}),
        }));
      }
      // The guard changed between our read and our write: decide again on what changed it.
      guard = result.guard;
    }
    throw new NotHeldError(`the lock on env ${o.env} kept changing; try again`);
  }

  /** Active locks by env, then oldest first. */
  async list(env?: string): Promise<LockRecord[]> {
    const locks = await this.store.active(env);
    return locks.sort((a, b) => a.env.localeCompare(b.env) || a.createdAt - b.createdAt);
  }

  history(env: string, limit: number): Promise<LockRecord[]> {
    return this.store.history(env, limit);
  }

  async #refresh(o: AcquireOptions, slot: Slot): Promise<{ held?: Held; guard: Guard | null }> {
    const rvn = this.newId();
    const now = this.clock.now();
    const sentAt = this.clock.monotonic();
    const r = await this.store.renew({
      env: o.env,
      kind: o.kind,
      id: slot.id,
      rvn,
      now,
      ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
      ...(o.metaExplicit ? { meta: o.meta } : {}),
      token: this.newId(),
    });
    if (!r.renewed) return { guard: r.guard };
    const record = recordOf(o.env, o.kind, { ...slot, meta: o.metaExplicit ? o.meta : slot.meta });
    record.updatedAt = now;
    const leaseMs = o.leaseMs ?? slot.leaseMs;
    if (leaseMs !== undefined) Object.assign(record, { leaseMs, expiresAt: now + leaseMs });
    return {
      held: { record, kind: o.kind, rvn, refreshed: true, superseded: [], sentAt },
      guard: null,
    };
  }

  /** Slots in the way of this request, split into expired ones (to supersede) and a live one. */
  #blockers(guard: Guard | null, o: AcquireOptions, seen: Map<LockKind, Observation>) {
    const supersede: Supersede[] = [];
    let blocker: { kind: LockKind; slot: Slot } | undefined;
    if (!guard) return { supersede, blocker };
    const kinds: LockKind[] = o.kind === "regular" ? ["regular", "uberlock"] : ["uberlock"];
    for (const kind of kinds) {
      const slot = guard[kind];
      if (!slot || slot.user === o.user) continue;
      if (this.#expired(slot, seen.get(kind))) supersede.push({ kind, id: slot.id, rvn: slot.rvn });
      else blocker ??= { kind, slot };
    }
    return { supersede, blocker };
  }

  /**
   * The record-version rule of amazon-dynamodb-lock-client: a lease is over only after we have
   * seen the same record version for a whole lease on our own monotonic clock, so a holder
   * that keeps renewing is safe from any clock skew. A lock whose holder's timestamp is older
   * than lease + MAX_CLOCK_SKEW_MS on our wall clock is long dead and taken at once.
   */
  #expired(slot: Slot, seen: Observation | undefined): boolean {
    if (slot.leaseMs === undefined) return false;
    if (seen && seen.rvn === slot.rvn && this.clock.monotonic() - seen.since >= slot.leaseMs) {
      return true;
    }
    return this.clock.now() > slot.renewedAt + slot.leaseMs + MAX_CLOCK_SKEW_MS;
  }

  #observe(guard: Guard | null, seen: Map<LockKind, Observation>): void {
    for (const kind of LOCK_KINDS) {
      const slot = guard?.[kind];
      if (!slot) seen.delete(kind);
      else if (seen.get(kind)?.rvn !== slot.rvn) {
        seen.set(kind, { rvn: slot.rvn, since: this.clock.monotonic() });
      }
    }
  }

  #heldMessage(o: AcquireOptions, holder: { kind: LockKind; slot: Slot }): string {
    const what = holder.kind === "uberlock" ? "an uberlock" : "a lock";
    const since = new Date(holder.slot.createdAt).toISOString();
    const base =
      `env ${o.env} is held by ${holder.slot.user} (${what} since ${since}, meta: ${holder.slot.meta})`;
    return o.timeoutMs ? `${base}; gave up after waiting ${formatDuration(o.timeoutMs)}` : base;
  }
}
