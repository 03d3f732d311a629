/**
 * Lock events, found by polling the table: what `serve` announces in Slack. Nothing here posts
 * or claims; each event carries the key under which the caller claims it (see
 * `LockStore.claim`), so that several watchers (replicas, restarts) hand out each event but
 * one post.
 */
import type { LockRecord } from "./model.ts";
import type { LockStore } from "./store.ts";

/** Only events this recent are reported: a first poll does not dig up old locks. */
export const EVENT_WINDOW_MS = 5 * 60_000;
/** How many of an env's latest records a first poll reads, for what happened while none ran. */
const CATCH_UP_RECORDS = 10;
/** How many of an env's latest records are read to find the lease a new lock took over. */
const TAKEOVER_RECORDS = 5;
/** Envs read at once by the first poll. */
const CATCH_UP_BATCH = 8;

export type LockEvent =
  /**
   * A lock or uberlock was granted (`record.uberlock`); `tookOverFrom` is the lock whose lease
   * had run out and that this grant ended, when there was one. Key `lock#<id>`.
   */
  | { type: "locked"; key: string; at: number; record: LockRecord; tookOverFrom?: LockRecord }
  /**
   * A lock or uberlock was released; the record says by whom (`releasedBy`) and whether it was
   * forced. A lock ended by a takeover is no event of its own: the new lock's event tells it.
   * Key `end#<id>`.
   */
  | { type: "released"; key: string; at: number; record: LockRecord };

/** A lock held for `period` × the reminder interval. Key `remind#<id>#<period>`. */
export interface Reminder {
  key: string;
  record: LockRecord;
  /** 1 for the first reminder, 2 for the second, … */
  period: number;
  /** How long the lock has been held at this reminder: `period` × the interval. */
  heldMs: number;
  /** When the next period begins: a reminder not posted by then is dropped. */
  until: number;
}

export interface WatchOptions {
  /** Only events at most this old are reported (default EVENT_WINDOW_MS). */
  windowMs?: number;
  /** Remind each lock every this long while it is held; 0 or absent: no reminders. */
  remindAfterMs?: number;
}

/**
 * Polls the active locks and tells what changed since the last poll: a lock not seen before
 * was granted; a lock seen before and gone was released (its record says how), or taken over.
 * A first poll also reads each env's latest records, so that what happened within the window
 * while no watcher ran is told too. Each event and reminder is returned by one poll only (of
 * this watcher). A lock that was granted and ended between two polls, after the first, is not
 * seen.
 */
export class LockWatcher {
  readonly #store: LockStore;
  readonly #windowMs: number;
  readonly #remindAfterMs: number;
  /** The active locks of the last poll, by id; undefined before the first poll. */
  #seen: Map<string, LockRecord> | undefined;
  /** The last reminder period returned, per active lock. */
  readonly #reminded = new Map<string, number>();

  constructor(store: LockStore, o: WatchOptions = {}) {
    this.#store = store;
    this.#windowMs = o.windowMs ?? EVENT_WINDOW_MS;
    this.#remindAfterMs = o.remindAfterMs ?? 0;
  }

  /**
   * One poll at `now` (this host's wall clock): the events since the last poll, oldest first,
   * and the reminders due. A poll that throws changes nothing: the next one tells it all.
   */
  async poll(now: number): Promise<{ events: LockEvent[]; reminders: Reminder[] }> {
    const since = now - this.#windowMs;
    const active = await this.#store.active();
    const activeIds = new Set(active.map((r) => r.id));
    const first = this.#seen === undefined;
    const seen = this.#seen ?? new Map<string, LockRecord>();
    /** Records read during this poll, by env, newest first (for takeovers). */
    const histories = new Map<string, LockRecord[]>();

    // Gone from the active locks since the last poll: the record (read strongly) says how it
    // ended. One still active is only slow to show in the index: it stays seen.
    const ended = new Map<string, LockRecord>();
    const stillActive: LockRecord[] = [];
    for (const r of seen.values()) {
      if (activeIds.has(r.id)) continue;
      const record = await this.#store.record(r.id);
      if (record?.active) stillActive.push(record);
      else if (record) ended.set(record.id, record);
    }
    const granted = active.filter((r) => !seen.has(r.id));
    if (first) {
      // What happened within the window while no watcher ran: from each env's latest records.
      const envs = await this.#store.envs();
      for (let i = 0; i < envs.length; i += CATCH_UP_BATCH) {
        const batch = envs.slice(i, i + CATCH_UP_BATCH);
        const read = await Promise.all(
          batch.map((env) => this.#store.history(env, CATCH_UP_RECORDS)),
        );
        batch.forEach((env, j) => histories.set(env, read[j]));
      }
      for (const records of histories.values()) {
        for (const r of records) {
          if (r.active || activeIds.has(r.id)) continue;
          if (r.createdAt >= since) granted.push(r);
          if ((r.releasedAt ?? r.updatedAt) >= since) ended.set(r.id, r);
        }
      }
    }

    const events: LockEvent[] = [];
    for (const r of granted) {
      if (r.createdAt < since) continue;
      const tookOverFrom = await this.#takenOver(r, ended, histories);
      events.push({
        type: "locked",
        key: `lock#${r.id}`,
        at: r.createdAt,
        record: r,
        ...(tookOverFrom ? { tookOverFrom } : {}),
      });
    }
    for (const r of ended.values()) {
      // A takeover is told once, with the lock that took over.
      if (r.supersededBy !== undefined || r.releasedAt === undefined) continue;
      if (r.releasedAt < since) continue;
      events.push({ type: "released", key: `end#${r.id}`, at: r.releasedAt, record: r });
    }
    // Oldest first; at the same moment a release before a grant (it made room for it).
    events.sort((a, b) => a.at - b.at || (a.type === b.type ? 0 : a.type === "released" ? -1 : 1));

    const reminders = this.#reminders(active, now);
    this.#seen = new Map([...active, ...stillActive].map((r) => [r.id, r]));
    return { events, reminders };
  }

  /** The lock whose lease ran out and that `r`'s grant ended, if any. */
  async #takenOver(
    r: LockRecord,
    ended: Map<string, LockRecord>,
    histories: Map<string, LockRecord[]>,
  ): Promise<LockRecord | undefined> {
    for (const e of ended.values()) if (e.supersededBy === r.id) return e;
    let history = histories.get(r.env);
    if (!history) {
      history = await this.#store.history(r.env, TAKEOVER_RECORDS);
      histories.set(r.env, history);
    }
    return history.find((e) => e.supersededBy === r.id);
  }

  /** The reminders due at `now` and not returned before; forgets the locks no longer held. */
  #reminders(active: LockRecord[], now: number): Reminder[] {
    const every = this.#remindAfterMs;
    const ids = new Set(active.map((r) => r.id));
    for (const id of this.#reminded.keys()) if (!ids.has(id)) this.#reminded.delete(id);
    if (every <= 0) return [];
    const due: Reminder[] = [];
    for (const r of active) {
      const period = Math.floor((now - r.createdAt) / every);
      if (period < 1 || period <= (this.#reminded.get(r.id) ?? 0)) continue;
      this.#reminded.set(r.id, period);
      due.push({
        key: `remind#${r.id}#${period}`,
        record: r,
        period,
        heldMs: period * every,
        until: r.createdAt + (period + 1) * every,
      });
    }
    return due;
  }
}
