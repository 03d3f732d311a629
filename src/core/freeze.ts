/**
 * Freeze windows (pure, no I/O): parsing what people type, finding the occurrence of a window
 * in force at an instant, and text for people. Time zones and daylight saving come from the
 * platform's Intl data through `Temporal`; there is no hand-written table.
 *
 * A local wall-clock time (a weekly boundary, a `--from` without offset) stands for the first
 * instant the zone's wall clock reaches it: in a fall-back fold that is the earlier of the two
 * instants, and in a spring-forward gap it is the instant the clock jumps over it (02:30 on a
 * day when 02:00 becomes 03:00 is 03:00 local).
 */
import { UsageError } from "./errors.ts";
import type { Freeze } from "./model.ts";
import { truncate } from "./text.ts";

const TZ_HINT = "use an IANA name such as Europe/Berlin or UTC";

/** Canonical IANA name of a zone (e.g. "europe/berlin" -> "Europe/Berlin", "UTC"), or UsageError. */
export function parseTimeZone(tz: string): string {
  const text = tz.trim();
  if (text === "") throw new UsageError(`missing time zone: ${TZ_HINT}`);
  let id: string | undefined;
  try {
    id = new Temporal.ZonedDateTime(0n, text).timeZoneId;
  } catch {
    id = undefined;
  }
  // Temporal also takes fixed offsets (+01:00); a freeze follows a place's rules, so not those.
  if (id === undefined || /^[+-]/.test(id)) {
    throw new UsageError(`unknown time zone ${truncate(text)}: ${TZ_HINT}`);
  }
  return id;
}

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
const FULL_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/** One end of a weekly window: ISO day of week (1 = Monday) and minutes after midnight. */
interface WeekPoint {
  day: number;
  minute: number;
}

interface Weekly {
  start: WeekPoint;
  end: WeekPoint;
}

const WEEKLY_RE = /^([A-Za-z]+)\s*(\d{1,2}):(\d{2})\s*-\s*([A-Za-z]+)\s*(\d{1,2}):(\d{2})$/;

function weeklyError(spec: string, why: string): UsageError {
  return new UsageError(
    `invalid --weekly ${JSON.stringify(truncate(spec))}: ${why}`,
  );
}

const WEEKLY_FORM = `expected e.g. "Fri 15:00-Mon 09:00" (day HH:MM-day HH:MM, local time in --tz)`;

function dayOf(name: string): number | undefined {
  const lower = name.toLowerCase();
  const i = FULL_DAYS.findIndex((full) => full === lower || full.slice(0, 3) === lower);
  return i < 0 ? undefined : i + 1;
}

function readWeekly(spec: string): Weekly {
  const m = WEEKLY_RE.exec(spec.trim());
  if (m === null) throw weeklyError(spec, WEEKLY_FORM);
  const point = (dayName: string, hh: string, mm: string): WeekPoint => {
    const day = dayOf(dayName);
    const hour = Number(hh);
    const minute = Number(mm);
    if (day === undefined || hour > 23 || minute > 59) throw weeklyError(spec, WEEKLY_FORM);
    return { day, minute: hour * 60 + minute };
  };
  const start = point(m[1], m[2], m[3]);
  const end = point(m[4], m[5], m[6]);
  if (start.day === end.day && start.minute === end.minute) {
    throw weeklyError(spec, "the window starts and ends at the same time");
  }
  return { start, end };
}

function showPoint(p: WeekPoint): string {
  return `${DAYS[p.day - 1]} ${two(Math.floor(p.minute / 60))}:${two(p.minute % 60)}`;
}

/** Normalizes a weekly spec: "fri 15:00 - mon 9:00" -> "Fri 15:00-Mon 09:00"; UsageError otherwise. */
export function parseWeekly(spec: string): string {
  const { start, end } = readWeekly(spec);
  return `${showPoint(start)}-${showPoint(end)}`;
}

const INSTANT_RE =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** The first instant the wall clock of `tz` reaches `local` (see the module comment). */
function firstReach(local: Temporal.PlainDateTime, tz: string): Temporal.ZonedDateTime {
  const zoned = local.toZonedDateTime(tz, { disambiguation: "compatible" });
  if (Temporal.PlainDateTime.compare(zoned.toPlainDateTime(), local) === 0) return zoned;
  // In a gap, "compatible" moved the time later by the gap's length; the clock reached `local`
  // at the jump itself.
  return zoned.getTimeZoneTransition("previous") ?? zoned;
}

/** An --from/--until value to epoch ms; UsageError naming the flag on bad input. */
export function parseInstant(text: string, tz: string, flag: string): number {
  const zone = parseTimeZone(tz);
  const trimmed = text.trim();
  const bad = () =>
    new UsageError(
      `invalid ${flag} ${
        JSON.stringify(truncate(text))
      }: expected e.g. 2026-12-24T00:00 (local time in --tz), 2026-12-24, or 2026-12-24T00:00+01:00`,
    );
  const m = INSTANT_RE.exec(trimmed);
  if (m === null) throw bad();
  const [, date, time = "00:00", offset] = m;
  try {
    if (offset !== undefined) {
      return Temporal.Instant.from(`${date}T${time}${offset.toUpperCase()}`).epochMilliseconds;
    }
    return firstReach(Temporal.PlainDateTime.from(`${date}T${time}`), zone).epochMilliseconds;
  } catch {
    throw bad(); // a day or hour out of range: 2026-02-30, 24:00
  }
}

/** A one-off window from --from/--until read in `tz`; UsageError unless from < until. */
export function oneOff(
  fromText: string,
  untilText: string,
  tz: string,
): { from: number; until: number } {
  const from = parseInstant(fromText, tz, "--from");
  const until = parseInstant(untilText, tz, "--until");
  if (from >= until) {
    throw new UsageError(
      `--until ${truncate(untilText.trim())} is not after --from ${
        truncate(fromText.trim())
      }: a window must end after it starts`,
    );
  }
  return { from, until };
}

function zonedAt(ms: number, tz: string): Temporal.ZonedDateTime {
  return Temporal.Instant.fromEpochMilliseconds(Math.floor(ms)).toZonedDateTimeISO(tz);
}

function atMinute(date: Temporal.PlainDate, minute: number): Temporal.PlainDateTime {
  return date.toPlainDateTime({ hour: Math.floor(minute / 60), minute: minute % 60 });
}

/** The occurrence of a weekly window that starts on local date `date` (a start day). */
function weeklyOccurrence(
  w: Weekly,
  date: Temporal.PlainDate,
  tz: string,
): { start: number; end: number } {
  const start = firstReach(atMinute(date, w.start.minute), tz).epochMilliseconds;
  let days = (w.end.day - w.start.day + 7) % 7;
  if (days === 0 && w.end.minute < w.start.minute) days = 7;
  const end = firstReach(atMinute(date.add({ days }), w.end.minute), tz).epochMilliseconds;
  return { start, end };
}

/**
 * The starts of a weekly window on the local dates `from` .. `from + count - 1` days from the
 * local date of `now`, as occurrences.
 */
function weeklyAround(
  f: Freeze,
  w: Weekly,
  now: number,
  from: number,
  count: number,
): { start: number; end: number }[] {
  const today = zonedAt(now, f.tz).toPlainDate();
  const out: { start: number; end: number }[] = [];
  for (let k = from; k < from + count; k++) {
    const date = today.add({ days: k });
    if (date.dayOfWeek === w.start.day) out.push(weeklyOccurrence(w, date, f.tz));
  }
  return out;
}

/**
 * The occurrence of the window that is in force at `now`, or undefined. A weekly occurrence is
 * [start, end): the first instant the zone's wall clock reaches the start day/time, and the first
 * instant after it that the clock reaches the end day/time.
 */
export function occurrenceAt(f: Freeze, now: number): { start: number; end: number } | undefined {
  const s = f.schedule;
  if ("from" in s) {
    return s.from <= now && now < s.until ? { start: s.from, end: s.until } : undefined;
  }
  const w = readWeekly(s.weekly);
  // Occurrences never overlap (an end's wall-clock time comes before the next start's, and the
  // first instant a clock reaches a time never goes back as the time goes on), so only the
  // latest one started at or before `now` can be in force. Its
  // start is on one of the last 8 local dates (tomorrow too, for a fold across midnight).
  let latest: { start: number; end: number } | undefined;
  for (const o of weeklyAround(f, w, now, -8, 10)) {
    if (o.start <= now && (latest === undefined || o.start > latest.start)) latest = o;
  }
  return latest !== undefined && now < latest.end ? latest : undefined;
}

/** The occurrence in force at `now`, else the next one to start after `now`; undefined when none will. */
export function currentOrNext(
  f: Freeze,
  now: number,
): { start: number; end: number } | undefined {
  const current = occurrenceAt(f, now);
  if (current !== undefined) return current;
  const s = f.schedule;
  if ("from" in s) return now < s.from ? { start: s.from, end: s.until } : undefined;
  const w = readWeekly(s.weekly);
  // An occurrence emptied by a gap (both ends in it) is skipped: look two weeks ahead.
  return weeklyAround(f, w, now, -1, 16)
    .filter((o) => o.start > now && o.start < o.end)
    .sort((a, b) => a.start - b.start)[0];
}

/** Among an env's windows, the ones in force at `now` with their occurrence, the one ending last first. */
export function inForce(
  freezes: Freeze[],
  now: number,
): { freeze: Freeze; start: number; end: number }[] {
  const out: { freeze: Freeze; start: number; end: number }[] = [];
  for (const freeze of freezes) {
    const o = occurrenceAt(freeze, now);
    if (o !== undefined) out.push({ freeze, ...o });
  }
  return out.sort((a, b) => b.end - a.end || a.start - b.start);
}

function two(v: number): string {
  return String(v).padStart(2, "0");
}

function dateText(z: Temporal.ZonedDateTime): string {
  return `${String(z.year).padStart(4, "0")}-${two(z.month)}-${two(z.day)}`;
}

function timeText(z: Temporal.ZonedDateTime): string {
  return `${two(z.hour)}:${two(z.minute)}`;
}

function isUtc(tz: string): boolean {
  try {
    return new Intl.DateTimeFormat("en", { timeZone: tz }).resolvedOptions().timeZone === "UTC";
  } catch {
    return false;
  }
}

/**
 * When an instant is, for people, to the minute: "2026-12-27 00:00 UTC", and when tz is not UTC
 * "2026-12-27 00:00 UTC (01:00 Europe/Berlin)", with the local date when it differs.
 */
export function formatInstant(ms: number, tz: string): string {
  const utc = zonedAt(ms, "UTC");
  const text = `${dateText(utc)} ${timeText(utc)} UTC`;
  if (isUtc(tz)) return text;
  let local: Temporal.ZonedDateTime;
  try {
    local = zonedAt(ms, tz);
  } catch {
    return `${text} (unknown time zone ${tz})`;
  }
  const day = dateText(local) === dateText(utc) ? "" : `${dateText(local)} `;
  return `${text} (${day}${timeText(local)} ${local.timeZoneId})`;
}

/** The schedule for people: "2026-12-24 00:00 to 2026-12-27 00:00 UTC", or "every Fri 15:00-Mon 09:00 Europe/Berlin". */
export function describeSchedule(f: Freeze): string {
  const s = f.schedule;
  if ("weekly" in s) return `every ${s.weekly} ${f.tz}`;
  const from = zonedAt(s.from, f.tz);
  const until = zonedAt(s.until, f.tz);
  return `${dateText(from)} ${timeText(from)} to ${dateText(until)} ${timeText(until)} ${f.tz}`;
}

/** Lower-case letters and digits without look-alikes (0/o, 1/l/i). */
const ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/** A short random id for a new window: 6 characters of ID_ALPHABET. */
export function newFreezeId(): string {
  let id = "";
  const bytes = new Uint8Array(1);
  while (id.length < 6) {
    crypto.getRandomValues(bytes);
    // Rejection keeps every character equally likely: 248 = 8 * 31.
    if (bytes[0] < 248) id += ID_ALPHABET[bytes[0] % ID_ALPHABET.length];
  }
  return id;
}
