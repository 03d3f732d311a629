import { type Clock, MAX_CLOCK_SKEW_MS, type Sleep } from "./clock.ts";
import { typoOf } from "./envs.ts";
import {
  FailureError,
  InterruptedError,
  LeftLineError,
  NewEnvError,
  NotAcquiredError,
  NotHeldError,
  UnavailableError,
} from "./errors.ts";
import {
  type Guard,
  LOCK_KINDS,
  type LockKind,
  type LockRecord,
  type Observation,
  type Place,
  recordOf,
  sameUser,
  type Slot,
  type Waiter,
  waitersOf,
} from "./model.ts";
import { formatAge, formatDuration } from "./text.ts";
import type { GrantResult, LockStore, RenewResult, Supersede } from "./store.ts";
import { LineSeat, type LineView, placeLeaseMs, placesOf } from "./line.ts";
import { type FreezeInForce, freezesAt, FrozenError, leaseUnder, policyOf } from "./policy.ts";

export { MAX_CLOCK_SKEW_MS } from "./clock.ts";
export type { Waiter } from "./model.ts";
/**
 * The fast path also needs the record version seen unchanged for this long (or a whole lease,
 * if shorter), so a holder that re-locks more often than this is never cut short by it, however
 * far its clock is behind. A lock kept by a process (`run`) never takes the fast path.
 */
export const FAST_PATH_WATCH_MS = 60_000;
/** `cancelWait` tries again this often when others keep changing the line under it. */
const MAX_CANCEL_TRIES = 10;

export interface AcquireOptions {
  env: string;
  user: string;
  kind: LockKind;
  /** Meta for a new lock. */
  meta: string;
  /** True when meta was given explicitly: only then does a re-lock overwrite it. */
  metaExplicit: boolean;
  /** The meta is the CI run's URL: explicit enough for an env's --require-meta rule. */
  metaFromCi?: boolean;
  leaseMs?: number;
  /** `leaseMs` is the command's own default (`run`), not a --ttl: an env's max ttl shortens it. */
  leaseIsDefault?: boolean;
  /**
   * A regular lock goes through the env's freeze windows (needs an explicit meta, checked by the
   * caller); the lock record names the windows it overrode (`overrodeFreeze`).
   */
  overrideFreeze?: boolean;
  /**
   * A token of this process, from a caller that keeps the lock alive while it works (`run`):
   * the lock is then kept, and no other process joins it, whatever user it gives.
   */
  owner?: string;
  /** How long to keep trying; undefined waits indefinitely, 0 makes a single attempt. */
  timeoutMs?: number;
  intervalMs: number;
  /**
   * Takes a lock on an env that has never been locked even when its name looks like a typo of
   * a known one. Otherwise such a first lock is refused with NewEnvError.
   */
  newEnv?: boolean;
  /**
   * Record versions seen by earlier calls of this process (a long-lived caller such as `serve`
   * keeps one for its lifetime): a single-attempt acquire can then take over a lease that this
   * process has watched unchanged for a whole lease, across calls. Same rule as a waiter.
   */
  seen?: Observations;
  /**
   * Stops waiting: the acquire leaves the line and throws InterruptedError (its exit code is
   * the abort's reason when that is a number, else 130). A lock granted meanwhile is released.
   */
  signal?: AbortSignal;
  /**
   * What a waiter does when it finds its place in line gone (removed with `cancelWait`, or
   * lapsed because it could not be renewed for a whole place lease): join again at the end
   * (true, the default), or stop with LeftLineError (false: `serve`'s Slack waiters, whose place
   * `/daplaya cancel` may remove from another replica).
   */
  rejoin?: boolean;
  /**
   * The id of our place in line, unique per wait (default: a random UUID). A caller that must
   * recognise its places among others' (`serve`'s Slack waiters) gives one with its own prefix.
   */
  placeId?: string;
  /** Called before each wait with what blocks us. */
  onWait?: (waiting: Waiting) => void;
  /** Called before waiting again after a transient store failure. */
  onRetry?: (error: Error) => void;
  /** Called with something worth a line that changes nothing (a place that could not be left). */
  onNote?: (text: string) => void;
}

/** A lock this process holds. */
export interface Held {
  record: LockRecord;
  kind: LockKind;
  rvn: string;
  /** The process token keeping it, for a kept lock. */
  owner?: string;
  /** True when the user already held it and the call refreshed (or adopted) it. */
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

/** What a waiting acquire sees before each wait. */
export interface Waiting {
  /** Who holds the env, when someone does (else we wait only for places ahead of ours). */
  holder?: Slot;
  kind?: LockKind;
  /** How long the holder has had it, by its record's time (clocks may differ a little). */
  heldForMs?: number;
  /** Our place in the env's line, 1 = next; absent while we have none (an uberlock). */
  position?: number;
  /** The live places ahead of ours, first = next. */
  ahead: Place[];
  /** How long this acquire has waited so far. */
  waitedMs: number;
  /** The freeze window we wait out (the one ending last), when one is in force. */
  frozen?: FreezeInForce;
  /**
   * Set when the holder's lease ran out by our clock: how long ago, and the longest we still
   * watch its record version unchanged before taking it over (the record-version rule).
   */
  lapsed?: { agoMs: number; takeoverInMs: number };
}

export type { Observation } from "./model.ts";

/**
 * What one process has seen of each env's slots and places in line, for `AcquireOptions.seen`:
 * the record version per env and kind (and per place), and since when (on the process's
 * monotonic clock, never compared across hosts). Bounded: past `maxEnvs` envs it forgets everything, which only delays a takeover.
 */
export class Observations {
  readonly #envs = new Map<string, Map<LockKind, Observation>>();
  readonly #places = new Map<string, Map<string, Observation>>();
  constructor(private readonly maxEnvs = 10_000) {}

  /** The live memory of one env's slots (updated in place by the acquires that use it). */
  of(env: string): Map<LockKind, Observation> {
    return this.#memory(this.#envs, env);
  }

  /** The live memory of one env's places in line, by pid. */
  placesOf(env: string): Map<string, Observation> {
    return this.#memory(this.#places, env);
  }

  #memory<K>(all: Map<string, Map<K, Observation>>, env: string): Map<K, Observation> {
    let seen = all.get(env);
    if (!seen) {
      if (all.size >= this.maxEnvs) all.clear();
      seen = new Map();
      all.set(env, seen);
    }
    return seen;
  }
}

/**
 * `newEnv`: the grant found no guard item, the env has never been locked; `probe` is the lock
 * it proposed, to be proposed again (same id) so that at most one of the two can ever apply.
 */
type Attempt = { held?: Held; guard: Guard | null; newEnv?: true; probe?: Held };

export class Locker {
  constructor(
    private readonly store: LockStore,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
    private readonly newId: () => string = () => crypto.randomUUID(),
  ) {}

  async acquire(o: AcquireOptions): Promise<Held> {
    const started = this.clock.monotonic();
    const deadline = started + (o.timeoutMs ?? Infinity);
    // A first grant asks for the env's guard item to exist; only when it does not is the
    // env's name checked against the known ones, and the next grant creates it.
    let envIs: "existing" | "new" = "existing";
    let probe: Held | undefined;
    const seen = o.seen?.of(o.env) ?? new Map<LockKind, Observation>();
    // Regular locks wait in the env's line, in turn; break-glass uberlocks ignore it.
    const seat = o.kind === "regular"
      ? new LineSeat(
        this.store,
        this.clock,
        this.newId,
        o.env,
        { user: o.user, meta: o.meta },
        placeLeaseMs(o.intervalMs),
        o.seen?.placesOf(o.env) ?? new Map(),
        o.timeoutMs !== 0 || o.seen !== undefined,
        o.placeId,
      )
      : undefined;
    let known: Guard | null = null;
    let afterWait = false;
    let unexplained = 0;
    // True once the store has answered: only then is an outage worth waiting out.
    let answered = false;
    const wait = async () => {
      // Never negative: Deno prints a two-line TimeoutNegativeWarning on stderr for that.
      const ms = Math.min(o.intervalMs, deadline - this.clock.monotonic());
      await this.sleep(Math.max(0, ms), o.signal);
      afterWait = true;
    };
    const noLine: LineView = { ahead: [], lapsed: [], index: -1 };
    try {
      for (;;) {
        if (o.signal?.aborted) throw interrupted(o);
        const { mine, supersede, blocker } = this.#assess(known, o, seen);
        const line = seat?.view(known) ?? noLine;
        // The env's rules refuse a new lock at once (exit 2); its freeze windows make us wait.
        const policy = policyOf(known);
        // A re-lock keeps its lock's meta: only a --ttl over the max ttl refuses it.
        const leaseMs = leaseUnder(policy.rules, mine ? { ...o, metaExplicit: true } : o);
        const inForce = freezesAt(policy, o.kind, this.clock.now());
        const frozen = o.overrideFreeze ? [] : inForce;
        if (seat?.joined && known !== null && line.index === -1 && o.rejoin === false) {
          // Our place is not in the guard we were answered with (a grant refused because it
          // was removed): never take the lock, nor a new place, without it.
          seat.gone();
          throw new LeftLineError(o.env, o.user, formatAge(placeLeaseMs(o.intervalMs)));
        }
        // The uberlock's holder goes past the line: everyone in it waits for that uberlock.
        const ownUber = known?.uberlock !== undefined && sameUser(known.uberlock.user, o.user);
        const free = known === null ||
          (!blocker && frozen.length === 0 && (line.ahead.length === 0 || ownUber));
        const request = mine
          ? "refresh"
          : line.lapsed.length > 0
          ? "drop"
          : free || (afterWait && !seat)
          ? "grant"
          : afterWait && seat?.joined
          ? "renew"
          : this.clock.monotonic() >= deadline
          ? undefined
          : seat && !seat.joined
          ? "join"
          : "wait";
        if (request === undefined && frozen.length > 0) {
          const suffix = o.timeoutMs ? gaveUp(o.timeoutMs) : "";
          throw new FrozenError(o.env, frozen, suffix, blocker, line.ahead);
        }
        if (request === undefined) {
          throw new NotAcquiredError(
            this.#heldMessage(o, blocker, line.ahead),
            blocker,
            line.ahead,
          );
        }
        if (request === "wait") {
          o.onWait?.(this.#waiting(blocker, line, seen, started, frozen[0]));
          await wait();
          continue;
        }
        afterWait = false;
        let result: Attempt;
        try {
          if (request === "refresh") {
            // A --ttl as the rules allow it (a command's default lease shortened to the max).
            const asked = o.leaseMs === undefined ? undefined : leaseMs;
            result = await this.#refresh({ ...o, leaseMs: asked }, known!, mine!);
          } else if (request === "grant") {
            const first = seat?.joined && line.index >= 0 && line.ahead.length === 0;
            const place = first ? seat!.pid : undefined;
            result = await this.#grant(o, known, supersede, known === null ? envIs : undefined, {
              probe,
              place,
              leaseMs,
              overrode: o.kind === "regular" && o.overrideFreeze ? inForce : [],
            });
            probe = undefined;
          } else if (request === "drop") result = { guard: await seat!.drop(line.lapsed) };
          else if (request === "renew") result = { guard: await seat!.renew(known) };
          else result = { guard: await seat!.join() };
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
        answered = true;
        if (result.held) {
          if (request === "grant") seat?.granted();
          if (o.signal?.aborted && !result.held.refreshed) {
            // Stopped while the grant was on its way: the caller no longer wants the lock.
            await this.releaseHeld(result.held).catch(() => {});
            throw interrupted(o);
          }
          return result.held;
        }
        if (result.newEnv) {
          await this.#allowNewEnv(o);
          envIs = "new";
          probe = result.probe;
          continue;
        }
        if (request === "renew" || request === "join") {
          if (request === "renew" && !seat!.joined) {
            if (o.rejoin === false) {
              throw new LeftLineError(o.env, o.user, formatAge(placeLeaseMs(o.intervalMs)));
            }
            o.onNote?.(
              `lost its place in the line of env ${o.env} (not renewed within ${
                formatAge(placeLeaseMs(o.intervalMs))
              }); joining again at the end`,
            );
          }
          // A waiter's heartbeat: decide again on the guard it returned.
          known = result.guard;
          this.#observe(known, seen);
          seat!.observe(known);
          continue;
        }
        known = result.guard;
        this.#observe(known, seen);
        seat?.observe(known);
        // A failure with nobody in the way (a fence, a record version or a line that moved)
        // is retried at once; several in a row mean the guard is not in a shape we wrote.
        const after = this.#assess(known, o, seen);
        const afterLine = seat?.view(known) ?? noLine;
        const explained = after.mine || after.blocker || afterLine.ahead.length > 0 ||
          policyOf(known).version !== policy.version;
        unexplained = explained ? 0 : unexplained + 1;
        if (unexplained > 5) {
          throw new FailureError(
            `the guard item of env ${o.env} is not in the shape daplaya writes: inspect it with 'aws dynamodb get-item'`,
          );
        }
      }
    } finally {
      if (seat?.joined) {
        // Leave the line before we go, so the next one moves up at once.
        await seat.leave(known).catch((e) =>
          o.onNote?.(
            `could not leave the line of env ${o.env} (${
              (e as Error).message
            }); the place lapses by itself within ${formatAge(placeLeaseMs(o.intervalMs))}`,
          )
        );
      }
    }
  }

  async #grant(
    o: AcquireOptions,
    known: Guard | null,
    supersede: Supersede[],
    envIs: "existing" | "new" | undefined,
    { probe, place, leaseMs, overrode }: {
      probe?: Held;
      place?: string;
      leaseMs: number | undefined;
      overrode: FreezeInForce[];
    },
  ): Promise<Attempt> {
    const held = probe ?? this.#newLock(o, known, supersede, leaseMs, overrode);
    const policyVersion = policyOf(known).version;
    const result = await this.#settled(
      () =>
        this.store.grant({
          env: o.env,
          kind: o.kind,
          record: held.record,
          rvn: held.rvn,
          ...(o.owner !== undefined ? { owner: o.owner } : {}),
          supersede,
          ...(envIs !== undefined ? { envIs } : {}),
          ...(place !== undefined ? { place } : {}),
          ...(policyVersion !== 0 ? { policyVersion } : {}),
          token: this.newId(),
        }),
      o.env,
      `lock on env ${o.env} may be held by ${o.user} now`,
      (guard) => guard?.[o.kind]?.id === held.record.id,
      // A probe that found no guard item cannot have written one.
      envIs === "existing",
    );
    // Our own record in the slot: an earlier attempt was applied but its answer was lost (the
    // store's conflict retry is a new request, which then fails its condition on our write).
    const ours = !result.ok && result.guard?.[o.kind]?.id === held.record.id;
    if (result.ok || ours) return { held, guard: null };
    if (result.guard === null && envIs === "existing") {
      return { guard: null, newEnv: true, probe: held };
    }
    return { guard: result.guard };
  }

  /** A first lock on an env: refused when its name is a typo of a known env, unless asked for. */
  async #allowNewEnv(o: AcquireOptions): Promise<void> {
    if (o.newEnv) return;
    const suggestion = typoOf(o.env, await this.store.envs());
    if (suggestion !== undefined) throw new NewEnvError(o.env, suggestion);
  }

  #waiting(
    blocker: { kind: LockKind; slot: Slot } | undefined,
    line: LineView,
    seen: Map<LockKind, Observation>,
    started: number,
    frozen: FreezeInForce | undefined,
  ): Waiting {
    const now = this.clock.now();
    const monotonic = this.clock.monotonic();
    const waiting: Waiting = { waitedMs: monotonic - started, ahead: line.ahead };
    if (frozen) waiting.frozen = frozen;
    if (line.index >= 0) waiting.position = line.ahead.length + 1;
    if (!blocker) return waiting;
    const { slot, kind } = blocker;
    Object.assign(waiting, { holder: slot, kind, heldForMs: Math.max(0, now - slot.createdAt) });
    if (slot.leaseMs !== undefined && now > slot.renewedAt + slot.leaseMs) {
      const observed = seen.get(kind);
      const watched = observed?.rvn === slot.rvn ? monotonic - observed.since : 0;
      waiting.lapsed = {
        agoMs: now - (slot.renewedAt + slot.leaseMs),
        takeoverInMs: Math.max(0, slot.leaseMs - watched),
      };
    }
    return waiting;
  }

  /**
   * Sends a write; when its outcome is unknown (no answer, or DynamoDB still applying it), reads
   * the guard back, strongly consistent, and reports the truth: applied (`ours` says how to
   * tell), or not (the original error). When even that read fails, the error says what may
   * have happened and how to check.
   */
  async #settled(
    write: () => Promise<GrantResult | RenewResult>,
    env: string,
    mayHave: string,
    ours: (guard: Guard | null) => boolean,
    absentMeansFailed = false,
  ): Promise<{ ok: true; guard?: undefined } | { ok: false; guard: Guard | null }> {
    let result;
    try {
      result = await write();
    } catch (e) {
      if (!(e instanceof UnavailableError) || !e.outcomeUnknown) throw e;
      let guard: Guard | null;
      try {
        guard = await this.store.guard(env);
      } catch {
        throw unconfirmed(e, `the ${mayHave}`, env);
      }
      if (ours(guard)) return { ok: true };
      if (guard === null && absentMeansFailed) return { ok: false, guard: null };
      throw e;
    }
    return "guard" in result ? { ok: false, guard: result.guard } : { ok: true };
  }

  #newLock(
    o: AcquireOptions,
    known: Guard | null,
    supersede: Supersede[],
    leaseMs: number | undefined,
    overrode: FreezeInForce[],
  ): Held {
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
    if (leaseMs !== undefined) {
      Object.assign(record, { leaseMs, expiresAt: now + leaseMs });
    }
    if (overrode.length > 0) record.overrodeFreeze = overrode.map((f) => f.freeze.id).join(",");
    return {
      record,
      kind: o.kind,
      ...(o.owner !== undefined ? { owner: o.owner } : {}),
      rvn: this.newId(),
      refreshed: false,
      superseded: supersede.map((s) => s.id),
      sentAt: this.clock.monotonic(),
    };
  }

  /**
   * Renews a held lock's lease (its keeper's heartbeat); false when the lock is no longer ours.
   * An unknown outcome is read back; it throws only when that cannot tell.
   */
  async renew(held: Held): Promise<boolean> {
    const rvn = this.newId();
    const now = this.clock.now();
    const env = held.record.env;
    const r = await this.#settled(
      () =>
        this.store.renew({
          env,
          kind: held.kind,
          id: held.record.id,
          ...(held.owner !== undefined ? { owner: held.owner } : {}),
          rvn,
          now,
          ...(held.record.leaseMs !== undefined ? { leaseMs: held.record.leaseMs } : {}),
          token: this.newId(),
        }),
      env,
      `lease on env ${env} may have been renewed`,
      (guard) => guard?.[held.kind]?.rvn === rvn,
    );
    if (!r.ok) return false;
    held.rvn = rvn;
    held.record.updatedAt = now;
    if (held.record.leaseMs !== undefined) held.record.expiresAt = now + held.record.leaseMs;
    return true;
  }

  /** Ends exactly this held lock; false when it was no longer ours. */
  async releaseHeld(held: Held): Promise<boolean> {
    const now = this.clock.now();
    const by = held.record.user;
    return await this.#releaseSettled(
      held.record.env,
      [held.record.id],
      now,
      by,
      () =>
        this.store.release({
          env: held.record.env,
          targets: [{ kind: held.kind, id: held.record.id }],
          now,
          by,
          forced: false,
          token: this.newId(),
        }),
    );
  }

  /**
   * Sends a release; true when it was applied, also when its answer was lost (read back from
   * the records: an unknown outcome is settled before anything is reported).
   */
  async #releaseSettled(
    env: string,
    ids: string[],
    now: number,
    by: string,
    write: () => Promise<{ released: boolean }>,
  ): Promise<boolean> {
    let released: boolean;
    try {
      released = (await write()).released;
    } catch (e) {
      if (!(e instanceof UnavailableError) || !e.outcomeUnknown) throw e;
      const confirmed = await this.#releasedAs(ids, now, by).catch(() => {
        throw unconfirmed(e, `the lock on env ${env} may or may not be released`, env);
      });
      if (confirmed) return true;
      throw e;
    }
    return released || await this.#releasedAs(ids, now, by);
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

  /**
   * Ends the user's (or, forced, anyone's) active locks on env; returns the ended records.
   * A lock that a running process keeps (`run`) is not the user's to end without --force: that
   * process releases it when its command ends.
   */
  async release(o: ReleaseOptions): Promise<LockRecord[]> {
    let guard = await this.store.guard(o.env);
    for (let attempt = 0; attempt < 10; attempt++) {
      // Forced, one kind at a time: ending someone's uberlock takes --uberlock too.
      const kinds: readonly LockKind[] = o.onlyUberlock
        ? ["uberlock"]
        : o.force
        ? ["regular"]
        : LOCK_KINDS;
      const present = LOCK_KINDS.flatMap((kind) =>
        guard?.[kind] ? [{ kind, slot: guard[kind]! }] : []
      );
      const held = present.filter(({ kind }) => kinds.includes(kind));
      const mine = held.filter(({ slot }) =>
        (o.id === undefined || slot.id === o.id) && (o.force || sameUser(slot.user, o.user))
      );
      const targets = o.force ? mine : mine.filter(({ slot }) => slot.owner === undefined);
      if (targets.length === 0) {
        const what = o.onlyUberlock ? "uberlock" : "lock";
        if (mine.length > 0) {
          throw new NotHeldError(
            `the ${what} of ${o.user} on env ${o.env} is kept by a running 'daplaya run', which releases it when its command ends: stop that run, or end it anyway with --force`,
            present,
            true,
          );
        }
        const whose = o.force ? "there is no active" : `${o.user} holds no active`;
        throw new NotHeldError(
          `${whose} ${what} on env ${o.env}: ${this.#holdersText(present)}`,
          present,
        );
      }
      const now = this.clock.now();
      const ids = targets.map((t) => t.slot.id);
      const released = await this.#releaseSettled(o.env, ids, now, o.user, async () => {
        const result = await this.store.release({
          env: o.env,
          targets: targets.map((t) => ({ kind: t.kind, id: t.slot.id })),
          now,
          by: o.user,
          forced: o.force,
          token: this.newId(),
        });
        if (!result.released) guard = result.guard;
        return result;
      });
      if (released) {
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
    }
    throw new NotHeldError(`the lock on env ${o.env} kept changing; try again`);
  }

  /** Active locks by env, then oldest first. */
  async list(env?: string): Promise<LockRecord[]> {
    const locks = await this.store.active(env);
    return locks.sort((a, b) => a.env.localeCompare(b.env) || a.createdAt - b.createdAt);
  }

  /**
   * Who waits in line, by env then place (1 = next): one env's line, or every env's (the envs
   * known to the table). Strongly consistent, like the lock decision.
   */
  async waiting(env?: string): Promise<Waiter[]> {
    return await this.#lines(env !== undefined ? [env] : await this.store.envs());
  }

  /**
   * Every env the table knows, with its active locks and its line: what a status page shows.
   * The same reads as `list()` and `waiting()` together, with the list of envs read once; the
   * envs are sorted and include any env that has a lock or a line.
   */
  async overview(): Promise<{ envs: string[]; locks: LockRecord[]; waiting: Waiter[] }> {
    const [known, locks] = await Promise.all([this.store.envs(), this.list()]);
    const waiting = await this.#lines(known);
    const envs = new Set([...known, ...locks.map((r) => r.env), ...waiting.map((w) => w.env)]);
    return { envs: [...envs].sort((a, b) => a.localeCompare(b)), locks, waiting };
  }

  async #lines(envs: string[]): Promise<Waiter[]> {
    const guards = await this.store.guards(envs);
    return guards
      .sort((a, b) => a.env.localeCompare(b.env))
      .flatMap((g) => waitersOf(g.env, g.line ?? []));
  }

  /** One env's line as it is now, first = next (strongly consistent). */
  async line(env: string): Promise<Place[]> {
    return placesOf(await this.store.guard(env));
  }

  /**
   * Removes the user's places (those `only` accepts) from the env's line, wherever they are;
   * returns them (none: the user did not wait there). The waiters keeping them find them gone
   * at their next renewal: those that may rejoin take a new place at the end, the others stop
   * (`rejoin: false`). Each place is removed only where it is (conditioned on its pid at its
   * index); when others moved the line meanwhile, it is tried again where they are now. A
   * place found gone on a retry (its first removal was applied, its answer lost; or its waiter
   * left, or was granted, meanwhile) counts as removed.
   */
  async cancelWait(
    env: string,
    user: string,
    only: (place: Place) => boolean = () => true,
  ): Promise<Place[]> {
    let guard = await this.store.guard(env);
    const removed = new Map<string, Place>();
    for (let tries = 0; tries < MAX_CANCEL_TRIES; tries++) {
      const mine = placesOf(guard).flatMap((place, index) =>
        sameUser(place.user, user) && only(place) ? [{ place, index }] : []
      );
      if (mine.length === 0) return [...removed.values()];
      for (const { place } of mine) removed.set(place.pid, place);
      const r = await this.store.leave({
        env,
        places: mine.map(({ place, index }) => ({ pid: place.pid, index })),
      });
      if (r.ok) return [...removed.values()];
      guard = r.guard;
    }
    throw new UnavailableError(`the line of env ${env} kept changing; try again`);
  }

  /** One lock's record, active or ended (null: no such lock). */
  record(id: string): Promise<LockRecord | null> {
    return this.store.record(id);
  }

  history(env: string, limit: number): Promise<LockRecord[]> {
    return this.store.history(env, limit);
  }

  /**
   * The user's own lock again: the same record with a new record version and a new fence, and a
   * lease never shorter than the one it had. A `run` adopts a plain lock this way: from then on
   * its process keeps it. Applied only while the slot is as we saw it.
   */
  async #refresh(o: AcquireOptions, guard: Guard, slot: Slot): Promise<Attempt> {
    const rvn = this.newId();
    const now = this.clock.now();
    const sentAt = this.clock.monotonic();
    const fence = Math.max(now, guard.fence + 1);
    const adopt = o.owner !== undefined && slot.owner === undefined;
    // A run that adopts a lock without a lease gives it its own: it ends the lock when its
    // command ends anyway, and its keeper needs a lease to renew.
    const leaseMs = adopt && slot.leaseMs === undefined ? o.leaseMs : longerLease(slot, o);
    const meta = o.metaExplicit ? o.meta : slot.meta;
    const r = await this.#settled(
      () =>
        this.store.refresh({
          env: o.env,
          kind: o.kind,
          id: slot.id,
          seenRvn: slot.rvn,
          rvn,
          now,
          fence,
          ...(leaseMs !== undefined ? { leaseMs } : {}),
          ...(o.metaExplicit ? { meta: o.meta } : {}),
          ...(adopt ? { owner: o.owner } : {}),
          token: this.newId(),
        }),
      o.env,
      `lock on env ${o.env} may have been refreshed`,
      (g) => g?.[o.kind]?.rvn === rvn,
    );
    if (!r.ok) return { guard: r.guard };
    const renewed: Slot = { ...slot, meta, renewedAt: now, rvn, fence };
    if (leaseMs !== undefined) renewed.leaseMs = leaseMs;
    if (o.owner !== undefined) renewed.owner = o.owner;
    const record = recordOf(o.env, o.kind, renewed);
    return {
      held: {
        record,
        kind: o.kind,
        rvn,
        ...(o.owner !== undefined ? { owner: o.owner } : {}),
        refreshed: true,
        superseded: [],
        sentAt,
      },
      guard: null,
    };
  }

  /**
   * Splits the slots this request meets into the user's own one (to refresh), expired ones (to
   * supersede) and a live one in the way. A slot kept by another process is in the way even
   * when it carries the same user: two processes never hold an env at once.
   */
  #assess(guard: Guard | null, o: AcquireOptions, seen: Map<LockKind, Observation>) {
    const supersede: Supersede[] = [];
    let blocker: { kind: LockKind; slot: Slot } | undefined;
    let mine: Slot | undefined;
    if (!guard) return { mine, supersede, blocker };
    const kinds: LockKind[] = o.kind === "regular" ? ["regular", "uberlock"] : ["uberlock"];
    for (const kind of kinds) {
      const slot = guard[kind];
      if (!slot) continue;
      if (sameUser(slot.user, o.user)) {
        // The user's own uberlock never blocks their regular lock.
        if (kind !== o.kind) continue;
        if (slot.owner === undefined || slot.owner === o.owner) {
          mine = slot;
          continue;
        }
      }
      if (this.#expired(slot, seen.get(kind))) supersede.push({ kind, id: slot.id, rvn: slot.rvn });
      else blocker ??= { kind, slot };
    }
    return { mine, supersede, blocker };
  }

  /**
   * The record-version rule of amazon-dynamodb-lock-client: a lease is over only after we have
   * seen the same record version for a whole lease on our own monotonic clock, so a holder
   * that keeps renewing is safe from any clock skew. The fast path for long-dead plain locks
   * (the holder's timestamp older than lease + MAX_CLOCK_SKEW_MS on our wall clock) still
   * needs the record version seen unchanged for FAST_PATH_WATCH_MS (or the lease, if shorter),
   * and never applies to a kept lock: its keeper may still be working, with a slow clock.
   */
  #expired(slot: Slot, seen: Observation | undefined): boolean {
    if (slot.leaseMs === undefined || seen?.rvn !== slot.rvn) return false;
    const watched = this.clock.monotonic() - seen.since;
    if (watched >= slot.leaseMs) return true;
    return slot.owner === undefined && watched >= Math.min(slot.leaseMs, FAST_PATH_WATCH_MS) &&
      this.clock.now() > slot.renewedAt + slot.leaseMs + MAX_CLOCK_SKEW_MS;
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

  /** Who holds an env, for a refusal: `bob holds a lock (for 12m3s)`, or that nobody does. */
  #holdersText(held: { kind: LockKind; slot: Slot }[]): string {
    if (held.length === 0) return "nobody holds it";
    const now = this.clock.now();
    return held.map(({ kind, slot }) =>
      `${slot.user || "(no user)"} holds ${kind === "uberlock" ? "an uberlock" : "a lock"} (for ${
        formatAge(now - slot.createdAt)
      })`
    ).join(" and ");
  }

  /**
   * Why we did not get it: who holds it, then who waits in line, e.g. `env PRODUCTION is held by
   * alice (a lock, for 4m12s, meta: …); 2 wait in line, first bob`.
   */
  #heldMessage(
    o: AcquireOptions,
    holder: { kind: LockKind; slot: Slot } | undefined,
    ahead: Place[],
  ): string {
    const now = this.clock.now();
    const waiting = ahead.length === 0
      ? ""
      : `${ahead.length === 1 ? "1 waits" : `${ahead.length} wait`} in line, first ${
        ahead[0].user || "(no user)"
      } (for ${formatAge(now - ahead[0].since)})`;
    let base: string;
    if (holder) {
      const what = holder.kind === "uberlock" ? "an uberlock" : "a lock";
      const heldFor = formatAge(now - holder.slot.createdAt);
      base =
        `env ${o.env} is held by ${holder.slot.user} (${what}, for ${heldFor}, meta: ${holder.slot.meta})`;
      if (waiting) base += `; ${waiting}`;
    } else {
      base = `env ${o.env} is free but others were first: ${waiting}`;
    }
    return o.timeoutMs ? `${base}${gaveUp(o.timeoutMs)}` : base;
  }
}

function gaveUp(timeoutMs: number): string {
  return `; gave up after waiting ${formatDuration(timeoutMs)}`;
}

/** Stopped by the caller (Ctrl-C, a cancelled CI job) while waiting. */
function interrupted(o: AcquireOptions): InterruptedError {
  const reason = o.signal?.reason;
  return new InterruptedError(
    `stopped while waiting for env ${o.env}; left its line`,
    typeof reason === "number" ? reason : 130,
  );
}

/**
 * A write whose outcome stayed unknown, read back in vain: the failure's line, without its
 * advice, says what may have happened and how to check.
 */
function unconfirmed(e: Error, what: string, env: string): UnavailableError {
  const failure = e.message.replace(/: [^:]*$/, "");
  return new UnavailableError(`${failure}; ${what}: check with 'daplaya locks --env ${env}'`, {
    cause: e,
  });
}

/** A re-lock never shortens a lease: the longer of the two, and a lock without one stays so. */
function longerLease(slot: Slot, o: AcquireOptions): number | undefined {
  if (slot.leaseMs === undefined) return undefined;
  return Math.max(slot.leaseMs, o.leaseMs ?? 0);
}
