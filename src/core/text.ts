/** Text for people: durations, times, and echoes of what they typed. */

/** `90000` -> `1m30s`; a duration that is not whole seconds stays in ms (`1500ms`). */
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

/**
 * ISO 8601 UTC to the second, e.g. 2026-11-26T12:31:48Z; with `millis`, to the millisecond
 * (log lines), e.g. 2026-11-26T12:31:48.120Z.
 */
export function isoTime(ms: number, { millis = false } = {}): string {
  const iso = new Date(ms).toISOString();
  return millis ? iso : iso.replace(/\.\d{3}Z$/, "Z");
}

/** At most `max` characters of `s` (default 80), ending in `...` when cut: for echoing input. */
export function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/**
 * An age or a wait for people, to the second and at most two units: `42s`, `4m12s`, `2h5m`,
 * `3d4h`. Negative ages (a clock behind ours) read as `0s`.
 */
export function formatAge(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const out: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (s >= size || (unit === "s" && out.length === 0)) {
      out.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
    if (out.length === 2 || (out.length === 1 && s === 0)) break;
  }
  return out.join("");
}

/** A moment for people, in this host's time zone: `2026-12-05 14:03` (the zone's offset is left out). */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const two = (v: number) => String(v).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${
    two(d.getMinutes())
  }`;
}
