/**
 * An env's line of waiters, as one waiting `lock` or `run` sees and keeps it: its own place
 * (joined, renewed every interval, left when it stops waiting) and the places ahead of it.
 */
import { type Clock, MAX_CLOCK_SKEW_MS } from "./clock.ts";
import type { Guard, Observation, Place } from "./model.ts";
import type { LockStore } from "./store.ts";

/** A place lapses after this long unrenewed at the least, whatever the interval. */
export const MIN_PLACE_LEASE_MS = 3000;
/** Changes to the line that keep failing because others changed it first. */
const MAX_LINE_TRIES = 5;

/** A waiter renews its place every interval; three missed renewals and the place lapses. */
export function placeLeaseMs(intervalMs: number): number {
  return Math.max(3 * intervalMs, MIN_PLACE_LEASE_MS);
}

/** What a waiter sees of the line. */
export interface LineView {
  /** Live places ahead of ours (every live place while we have none), first = next. */
  ahead: Place[];
  /** Places ahead of ours that lapsed, with their index, to be removed. */
  lapsed: { place: Place; index: number }[];
  /** Our place's index in the line; -1 while we have none. */
  index: number;
}

/** The line as everyone sees it (`locks`, Slack): places in order, from 1 = next. */
export function placesOf(guard: Guard | null): Place[] {
  return guard?.line ?? [];
}

/**
 * One waiter's part in an env's line. A place lapses by the record-version rule the leases
 * use: its `rvn` seen unchanged for its whole place lease on our monotonic clock. A single
 * attempt (`--no-wait`) cannot watch that long: for it a place lapses only once its own
 * renewal time is long past (lease + 10 min on our wall clock).
 */
export class LineSeat {
  /** Set once we took a place: the pid stays ours, so a retried join can never add a second. */
  readonly #pid: string;
  #joined = false;

  constructor(
    private readonly store: LockStore,
    private readonly clock: Clock,
    private readonly newId: () => string,
    private readonly env: string,
    private readonly who: { user: string; meta: string },
    private readonly leaseMs: number,
    /** Record versions of places seen, by pid: kept by the caller (across calls for `serve`). */
    private readonly seen: Map<string, Observation>,
    /** False for a single attempt: it cannot watch a place for a whole place lease. */
    private readonly watching: boolean,
    /** Our place's id, when the caller chose one (unique per wait); else a random one. */
    pid?: string,
  ) {
    this.#pid = pid ?? newId();
  }

  get pid(): string {
    return this.#pid;
  }

  /** Whether we hold a place (as far as we know: a lapsed one is found gone at its renewal). */
  get joined(): boolean {
    return this.#joined;
  }

  /** Remembers each place's record version, and since when; forgets places that left. */
  observe(guard: Guard | null): void {
    const line = placesOf(guard);
    const now = this.clock.monotonic();
    for (const p of line) {
      if (this.seen.get(p.pid)?.rvn !== p.rvn) this.seen.set(p.pid, { rvn: p.rvn, since: now });
    }
    const present = new Set(line.map((p) => p.pid));
    for (const pid of this.seen.keys()) if (!present.has(pid)) this.seen.delete(pid);
  }

  view(guard: Guard | null): LineView {
    const line = placesOf(guard);
    const index = this.#joined ? line.findIndex((p) => p.pid === this.#pid) : -1;
    const before = index === -1 ? line : line.slice(0, index);
    const view: LineView = { ahead: [], lapsed: [], index };
    before.forEach((place, i) => {
      if (this.#lapsed(place)) view.lapsed.push({ place, index: i });
      else view.ahead.push(place);
    });
    return view;
  }

  #lapsed(p: Place): boolean {
    const seen = this.seen.get(p.pid);
    if (this.watching && seen?.rvn === p.rvn && this.clock.monotonic() - seen.since >= p.leaseMs) {
      return true;
    }
    return this.clock.now() > p.renewedAt + p.leaseMs + MAX_CLOCK_SKEW_MS;
  }

  /** Takes a place at the end of the line; returns the guard after it. */
  async join(): Promise<Guard | null> {
    const now = this.clock.now();
    const place: Place = {
      pid: this.#pid,
      user: this.who.user,
      meta: this.who.meta,
      since: now,
      renewedAt: now,
      rvn: this.newId(),
      leaseMs: this.leaseMs,
    };
    const r = await this.store.join({ env: this.env, place });
    // Refused with our pid in the line: an earlier attempt was applied, its answer lost.
    this.#joined = r.ok || placesOf(r.guard).some((p) => p.pid === this.#pid);
    return r.guard;
  }

  /**
   * Renews our place (found by its index in `guard`, then where the answer says it moved);
   * returns the guard after. When our place is gone (it lapsed and someone removed it) we no
   * longer hold one: `joined` turns false and the caller joins again, at the end.
   */
  async renew(guard: Guard | null): Promise<Guard | null> {
    for (let tries = 0; tries < MAX_LINE_TRIES; tries++) {
      const index = placesOf(guard).findIndex((p) => p.pid === this.#pid);
      if (index === -1) {
        this.#joined = false;
        return guard;
      }
      const r = await this.store.renewPlace({
        env: this.env,
        pid: this.#pid,
        index,
        rvn: this.newId(),
        now: this.clock.now(),
      });
      guard = r.guard;
      if (r.ok) return guard;
    }
    return guard;
  }

  /** Removes lapsed places ahead of ours, each only while it is still the version we watched. */
  async drop(lapsed: LineView["lapsed"]): Promise<Guard | null> {
    const r = await this.store.leave({
      env: this.env,
      places: lapsed.map(({ place, index }) => ({ pid: place.pid, index, rvn: place.rvn })),
    });
    return r.guard;
  }

  /**
   * Leaves the line: removes our place wherever it is now. Done when the place is gone, also
   * when an earlier attempt's answer was lost.
   */
  async leave(guard: Guard | null): Promise<void> {
    if (!this.#joined) return;
    // Not in the guard we know (an answer we never saw moved it): read where it is now.
    if (!placesOf(guard).some((p) => p.pid === this.#pid)) guard = await this.store.guard(this.env);
    for (let tries = 0; tries < MAX_LINE_TRIES; tries++) {
      const index = placesOf(guard).findIndex((p) => p.pid === this.#pid);
      if (index === -1) break;
      const r = await this.store.leave({ env: this.env, places: [{ pid: this.#pid, index }] });
      if (r.ok) break;
      guard = r.guard;
    }
    this.#joined = false;
  }

  /** A grant that took our place off the line (the grant removes the first place). */
  granted(): void {
    this.#joined = false;
  }

  /** Our place is not in the line any more (someone removed it): there is nothing to leave. */
  gone(): void {
    this.#joined = false;
  }
}
