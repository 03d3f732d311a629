/**
 * Input from people (flags, environment, Slack text) checked and normalised before anything
 * is read or written: every problem is a UsageError with one line that says what to type.
 */
import { UsageError } from "./errors.ts";
import { truncate } from "./text.ts";

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

/** A lock's id, as `run` gives it in DAPLAYA_LOCK_ID and `--verbose` prints it. */
export function parseLockId(raw: string | undefined): string {
  if (raw === undefined || raw === "") {
    throw new UsageError(
      "missing --id: give the lock's id, e.g. --id \"$DAPLAYA_LOCK_ID\" in a command run by 'daplaya run'",
    );
  }
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(raw)) {
    throw new UsageError(
      `invalid --id ${
        JSON.stringify(truncate(raw))
      }: a lock id is like 3ecabbc3-4f8f-4e4b-93c6-0739947a6826`,
    );
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
