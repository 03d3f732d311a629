/** Output for people: one short line per result, tables for lists. JSON keeps every field. */
import type { EnvCheck, LockCheck } from "../core/check.ts";
import { currentOrNext, describeSchedule, formatInstant, occurrenceAt } from "../core/freeze.ts";
import type { Held, Waiter } from "../core/locker.ts";
import type { Freeze, FreezeSchedule, LockRecord, Rules } from "../core/model.ts";
import { formatAge, formatDuration, isoTime, localTime, truncate } from "../core/text.ts";

/** META is cut to this in tables, unless --verbose. */
const META_WIDTH = 40;

/** `Locked PRODUCTION for alice@example.com (deploy v1.2.3)`, plus fence and id when verbose. */
export function lockLine(held: Held, verbose: boolean): string {
  const r = held.record;
  const verb = held.refreshed ? "Refreshed" : r.uberlock ? "Uberlocked" : "Locked";
  let line = `${verb} ${r.env} for ${r.user} (${truncate(r.meta, 60)})`;
  if (r.leaseMs !== undefined) line += `, lease ${formatDuration(r.leaseMs)}`;
  if (r.overrodeFreeze !== undefined) line += `, overriding freeze window ${r.overrodeFreeze}`;
  if (verbose) line += `, fence ${r.fence}, id ${r.id}`;
  return line;
}

/** `Released PRODUCTION lock of alice@example.com (held for 12m3s)`. */
export function releasedLine(r: LockRecord, verbose: boolean): string {
  const kind = r.uberlock ? "uberlock" : "lock";
  const heldFor = formatAge((r.releasedAt ?? r.updatedAt) - r.createdAt);
  const forced = r.forced ? ` by force (${r.releasedBy})` : "";
  let line = `Released ${r.env} ${kind} of ${r.user || "(no user)"}${forced} (held for ${heldFor})`;
  if (verbose) line += `, fence ${r.fence}, id ${r.id}`;
  return line;
}

/**
 * `check`: `env PRODUCTION is free (nobody waits)`, `env PRODUCTION is free (2 wait in line,
 * first bob@example.com)`, or `env PRODUCTION is held by alice@example.com (a lock, for 4m12s,
 * meta: deploy v1.2.3); 1 waits in line, first bob@example.com`.
 */
export function envCheckLine(c: EnvCheck, now: number): string {
  const line = c.waiting.length === 0
    ? "nobody waits"
    : `${c.waiting.length === 1 ? "1 waits" : `${c.waiting.length} wait`} in line, first ${
      c.waiting[0].user || "(no user)"
    }`;
  if (!c.held) return `env ${c.env} is free (${line})`;
  const holders = c.locks.map((r) =>
    `${r.user || "(no user)"} (${
      [...holdingParts(r, now), `meta: ${truncate(r.meta, 60)}`].join(", ")
    })`
  );
  return `env ${c.env} is held by ${holders.join(" and ")}${
    c.waiting.length > 0 ? `; ${line}` : ""
  }`;
}

/**
 * `check --id` when the lock holds its env: `lock 3ecabbc3-… holds env PRODUCTION
 * (alice@example.com, a lock, for 4m12s, lease ends in 40s)`; a lock without a lease holds it
 * `until released`.
 */
export function holdsLine(c: LockCheck, now: number): string {
  const r = c.heldBy!;
  const parts = [r.user || "(no user)", ...holdingParts(r, now)];
  if (r.expiresAt === undefined) parts.push("until released");
  return `lock ${c.id} holds env ${c.env} (${parts.join(", ")})`;
}

/**
 * `check --id` when the lock does not hold its env, who does instead: `lock 3ecabbc3-… no longer
 * holds env PRODUCTION: bob@example.com holds it now (a lock, for 3s)`; `…: nobody holds it`;
 * `…: its lease ran out at 2026-11-26T12:31:48Z (12s ago)`.
 */
export function lostLine(c: LockCheck, now: number): string {
  const head = `lock ${c.id} no longer holds env ${c.env}`;
  if (c.reason === "lease-ran-out") {
    const end = c.heldBy!.expiresAt!;
    return `${head}: its lease ran out at ${isoTime(end)} (${formatAge(now - end)} ago)`;
  }
  if (!c.held) return `${head}: nobody holds it`;
  const holders = c.locks.map((r) =>
    `${r.user || "(no user)"}${r === c.heldBy ? " holds it now" : ""} (${
      holdingParts(r, now).slice(0, 2).join(", ")
    })`
  );
  return `${head}: ${holders.join(" and ")}`;
}

/** `a lock`, `for 4m12s`, and a lease's end: `lease ends in 40s`, `lease ran out 3s ago`. */
function holdingParts(r: LockRecord, now: number): string[] {
  const parts = [r.uberlock ? "an uberlock" : "a lock", `for ${formatAge(now - r.createdAt)}`];
  if (r.expiresAt !== undefined) parts.push(`lease ${lease(r, now)}`);
  return parts;
}

/**
 * Active locks: ENV, HOLDER, KIND, HELD FOR, LEASE, META (and FENCE, ID when verbose). Each
 * env's line follows its last lock row, one row per waiter (`#1 bob`, `waiting`, how long it has
 * waited); an env with waiters but no holder follows the locks, as `(free)` with its line.
 */
export function locksTable(
  locks: LockRecord[],
  now: number,
  verbose: boolean,
  waiting: Waiter[] = [],
): string {
  const head = ["ENV", "HOLDER", "KIND", "HELD FOR", "LEASE", "META"];
  const cut = (meta: string) => verbose ? meta : truncate(meta, META_WIDTH);
  const lines = Map.groupBy(waiting, (w) => w.env);
  const lineRows = (env: string) =>
    (lines.get(env) ?? []).map((w) => [
      "",
      `#${w.position} ${w.user || "(no user)"}`,
      "waiting",
      formatAge(now - w.since),
      "-",
      cut(w.meta),
      ...(verbose ? ["-", "-"] : []),
    ]);
  const last = new Map(locks.map((r, i) => [r.env, i]));
  const rows = locks.flatMap((r, i) => [
    [
      r.env,
      r.user || "(no user)",
      r.uberlock ? "uberlock" : "lock",
      formatAge(now - r.createdAt),
      lease(r, now),
      cut(r.meta),
      ...(verbose ? [String(r.fence), r.id] : []),
    ],
    ...(last.get(r.env) === i ? lineRows(r.env) : []),
  ]);
  for (const env of lines.keys()) {
    if (last.has(env)) continue;
    rows.push([env, "(free)", "-", "-", "-", "", ...(verbose ? ["-", "-"] : [])], ...lineRows(env));
  }
  return table(verbose ? [...head, "FENCE", "ID"] : head, rows);
}

/** An env's records, newest first: when each was taken, how long it was held, how it ended. */
export function historyTable(records: LockRecord[], now: number, verbose: boolean): string {
  const head = ["TAKEN", "HOLDER", "KIND", "HELD FOR", "ENDED", "META"];
  const rows = records.map((r) => [
    localTime(r.createdAt),
    r.user || "(no user)",
    r.uberlock ? "uberlock" : "lock",
    formatAge((r.active ? now : r.releasedAt ?? r.updatedAt) - r.createdAt),
    ended(r, now),
    verbose ? r.meta : truncate(r.meta, META_WIDTH),
    ...(verbose ? [String(r.fence), r.id] : []),
  ]);
  return table(verbose ? [...head, "FENCE", "ID"] : head, rows);
}

function lease(r: LockRecord, now: number): string {
  if (r.expiresAt === undefined) return "-";
  return r.expiresAt > now
    ? `ends in ${formatAge(r.expiresAt - now)}`
    : `ran out ${formatAge(now - r.expiresAt)} ago`;
}

function ended(r: LockRecord, now: number): string {
  if (r.active) return r.expiresAt !== undefined && r.expiresAt <= now ? "lease ran out" : "held";
  const ago = (ms: number) => `${formatAge(now - ms)} ago`;
  if (r.releasedAt !== undefined) {
    return `${r.forced ? "forced" : "released"} by ${r.releasedBy} ${ago(r.releasedAt)}`;
  }
  if (r.supersededBy) return `lease ran out, taken over ${ago(r.updatedAt)}`;
  return `ended ${ago(r.updatedAt)}`;
}

/** `require meta, max ttl 2h, default ttl 30m`, or `none`. */
export function rulesText(rules: Rules): string {
  const parts: string[] = [];
  if (rules.requireMeta) parts.push("require meta");
  if (rules.maxTtlMs !== undefined) parts.push(`max ttl ${formatDuration(rules.maxTtlMs)}`);
  if (rules.defaultTtlMs !== undefined) {
    parts.push(`default ttl ${formatDuration(rules.defaultTtlMs)}`);
  }
  return parts.length > 0 ? parts.join(", ") : "none";
}

/** An env's rules for scripts: `requireMeta` always, each ttl (ms) when set. */
export function rulesJson(rules: Rules) {
  return {
    requireMeta: rules.requireMeta === true,
    ...(rules.maxTtlMs !== undefined ? { maxTtlMs: rules.maxTtlMs } : {}),
    ...(rules.defaultTtlMs !== undefined ? { defaultTtlMs: rules.defaultTtlMs } : {}),
  };
}

/** A freeze window with the env it belongs to. */
export interface EnvFreeze {
  env: string;
  freeze: Freeze;
}

interface Occurrence {
  start: number;
  end: number;
}

/**
 * Where a window stands at `now`: the occurrence in force (if any), and the next one to start
 * after it, or after `now` (none for a one-off in force or over).
 */
export function freezeState(f: Freeze, now: number): { current?: Occurrence; next?: Occurrence } {
  const current = occurrenceAt(f, now);
  const next = currentOrNext(f, current?.end ?? now);
  return {
    ...(current ? { current } : {}),
    ...(next && next.start > (current?.start ?? now) ? { next } : {}),
  };
}

/** `in force now, until …`, `next from … until …` or `over`, times in UTC and the window's zone. */
export function freezeStatus(f: Freeze, now: number, short = false): string {
  const { current, next } = freezeState(f, now);
  if (current) return `in force${short ? "" : " now,"} until ${formatInstant(current.end, f.tz)}`;
  if (next) {
    const from = `next from ${formatInstant(next.start, f.tz)}`;
    return short ? from : `${from} until ${formatInstant(next.end, f.tz)}`;
  }
  return "over";
}

/** `every Fri 15:00-Mon 09:00 Europe/Berlin (weekend)`. */
export function freezeSummary(f: Freeze): string {
  return `${describeSchedule(f)} (${truncate(f.reason, 60)})`;
}

/** A window for scripts: as stored, its env, and where it stands at `now` (epoch ms). */
export function freezeJson({ env, freeze: f }: EnvFreeze, now: number) {
  const schedule: FreezeSchedule = "weekly" in f.schedule
    ? { weekly: f.schedule.weekly }
    : { from: f.schedule.from, until: f.schedule.until };
  const { current, next } = freezeState(f, now);
  return {
    id: f.id,
    env,
    reason: f.reason,
    tz: f.tz,
    schedule,
    addedBy: f.addedBy,
    addedAt: f.addedAt,
    inForce: current !== undefined,
    ...(current ? { current } : {}),
    ...(next ? { next } : {}),
  };
}

/** By env, then by start: of the occurrence in force or next, else (over) of the window. */
export function sortFreezes(items: EnvFreeze[], now: number): EnvFreeze[] {
  const start = ({ freeze: f }: EnvFreeze) => {
    const { current, next } = freezeState(f, now);
    return current?.start ?? next?.start ?? ("from" in f.schedule ? f.schedule.from : 0);
  };
  return items.map((item) => ({ item, start: start(item) }))
    .sort((a, b) => a.item.env.localeCompare(b.item.env) || a.start - b.start)
    .map(({ item }) => item);
}

/** Freeze windows: ID, ENV, SCHEDULE, REASON (cut unless verbose), ADDED BY, STATUS. */
export function freezeTable(items: EnvFreeze[], now: number, verbose: boolean): string {
  const rows = items.map(({ env, freeze: f }) => [
    f.id,
    env,
    describeSchedule(f),
    verbose ? f.reason : truncate(f.reason, META_WIDTH),
    f.addedBy || "(no user)",
    freezeStatus(f, now, true),
  ]);
  return table(["ID", "ENV", "SCHEDULE", "REASON", "ADDED BY", "STATUS"], rows);
}

/** Columns padded to their widest cell, two spaces apart; no trailing spaces. */
export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((row) => [...row[i]].length)));
  return all.map((row) =>
    // Padded by code points, as the widths were measured.
    row.map((cell, i) =>
      i === row.length - 1 ? cell : cell + " ".repeat(widths[i] - [...cell].length)
    )
      .join("  ")
      .trimEnd() + "\n"
  ).join("");
}

/** Every `--json` output: the same text as the status page's JSON (src/core/report.ts). */
export { jsonText as json } from "../core/report.ts";
