/**
 * What Slack sends, read: the text after `/daplaya`, and the value of a Release button (and
 * the value daplaya writes into one). A malformed command becomes help with a problem; an
 * invalid env or meta is a UsageError, which the answer names.
 */
import type { Held } from "../core/locker.ts";
import { LOCK_KINDS, type LockKind } from "../core/model.ts";
import { parseEnv, parseMeta } from "../core/parse.ts";
import { escCut } from "./mrkdwn.ts";

/** The seed's meta for locks taken in Slack; text after the env replaces it. */
export const DEFAULT_META = "Slack";

/**
 * A Release button's value, as JSON: the lock its message was about (about 90 characters;
 * Slack allows 2,000). Buttons posted before this carried only the env.
 */
export interface ButtonValue {
  id: string;
  env: string;
  kind: LockKind;
}

export type SlashCommand =
  | {
    name: "lock";
    kind: LockKind;
    env: string;
    meta: string;
    metaExplicit: boolean;
    /** `--new-env` right after the env: a first lock even if the name is close to a known env. */
    newEnv: boolean;
  }
  | { name: "release"; env: string }
  /** Leaves the line this Slack user joined with **Join the line**. */
  | { name: "cancel"; env: string }
  | { name: "leases"; env?: string }
  /** The freeze windows in force and coming up, of every env or one. */
  | { name: "freezes"; env?: string }
  | { name: "help"; problem?: string };

/** Parses the text after `/daplaya`; malformed input becomes help with a problem. */
export function parseSlashText(raw: string): SlashCommand {
  const text = decodeSlackText(raw).trim();
  if (text === "") return { name: "help" };
  const [, word, rest = ""] = text.match(/^(\S+)(?:\s+([\s\S]*))?$/)!;
  const args = rest.trim();
  const verb = word.toLowerCase();
  const [envWord, ...more] = args === "" ? [] : args.split(/\s+/);
  const problem = (p: string): SlashCommand => ({ name: "help", problem: p });
  switch (verb) {
    case "help":
      return { name: "help" };
    case "lock":
    case "uberlock": {
      if (envWord === undefined) {
        return problem(`\`${verb}\` needs an env, e.g. \`${verb} production\``);
      }
      const env = parseEnv(envWord);
      let after = args.slice(envWord.length).trim();
      const newEnv = /^--new-env(\s|$)/.test(after);
      if (newEnv) after = after.slice("--new-env".length);
      const metaText = after.trim().replace(/[\t\r\n]+/g, " ");
      const meta = metaText === "" ? DEFAULT_META : parseMeta(metaText);
      const kind: LockKind = verb === "uberlock" ? "uberlock" : "regular";
      return { name: "lock", kind, env, meta, metaExplicit: metaText !== "", newEnv };
    }
    case "release":
      if (envWord === undefined) {
        return problem("`release` needs an env, e.g. `release production`");
      }
      if (more.length > 0) return problem("`release` takes just the env");
      return { name: "release", env: parseEnv(envWord) };
    case "cancel":
      if (envWord === undefined) {
        return problem("`cancel` needs an env, e.g. `cancel production`");
      }
      if (more.length > 0) return problem("`cancel` takes just the env");
      return { name: "cancel", env: parseEnv(envWord) };
    case "leases":
    case "locks":
      if (more.length > 0) return problem(`\`${verb}\` takes at most one env`);
      return envWord === undefined
        ? { name: "leases" }
        : { name: "leases", env: parseEnv(envWord) };
    case "freezes":
      if (more.length > 0) {
        return problem("`freezes` takes at most one env, e.g. `freezes production`");
      }
      return envWord === undefined
        ? { name: "freezes" }
        : { name: "freezes", env: parseEnv(envWord) };
    default:
      return problem(`unknown command \`${escCut(word, 40)}\``);
  }
}

/** Turns Slack's escaped text back into what was typed: links, mentions and entities. */
export function decodeSlackText(s: string): string {
  return s
    .replace(
      /<([^<>|]+)\|([^<>]*)>/g,
      (_, target: string, label: string) =>
        /^[@#!]/.test(target) ? `${target[0] === "#" ? "#" : "@"}${label}` : target,
    )
    .replace(/<([^<>]+)>/g, (_, target: string) => target.replace(/^!/, "@"))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

export function buttonValue(held: Pick<Held, "record" | "kind">): string {
  const value: ButtonValue = { id: held.record.id, env: held.record.env, kind: held.kind };
  return JSON.stringify(value);
}

/** The lock a button is about; an old button's bare env; or "invalid". */
export function parseButtonValue(
  value: string | undefined,
): ButtonValue | { env: string } | "invalid" {
  if (value === undefined) return "invalid";
  try {
    if (!value.startsWith("{")) return { env: parseEnv(value) };
    const v = JSON.parse(value);
    const idOk = typeof v?.id === "string" && v.id !== "" && v.id.length <= 200;
    if (!idOk || typeof v.env !== "string" || !LOCK_KINDS.includes(v.kind)) return "invalid";
    return { id: v.id, env: parseEnv(v.env), kind: v.kind };
  } catch {
    return "invalid";
  }
}

/**
 * A **Join the line** button's value, as JSON: the env, and the meta of the `lock` that was
 * refused (a waiter's lock gets it, as the CLI's would).
 */
export interface JoinValue {
  env: string;
  meta: string;
  /** True when the meta was typed (not the default). */
  metaExplicit: boolean;
  /** The slash command as configured (`/daplaya`), for the texts: a click does not say it. */
  command?: string;
}

const COMMAND_RE = /^\/[A-Za-z0-9_.-]{1,40}$/;

/** Slack's limit for a button's value. */
const MAX_BUTTON_VALUE = 2000;

/** The value of a Join button; a meta too long for Slack's 2,000 characters is shortened (…). */
export function joinValue(join: JoinValue): string {
  let meta = join.meta;
  for (;;) {
    const value = JSON.stringify({
      env: join.env,
      meta,
      explicit: join.metaExplicit,
      ...(join.command !== undefined ? { cmd: join.command } : {}),
    });
    if (value.length <= MAX_BUTTON_VALUE) return value;
    const chars = [...meta];
    // Each cut removes at least as many characters as the value is over, plus one for the `…`.
    const over = value.length - MAX_BUTTON_VALUE;
    meta = `${chars.slice(0, Math.max(0, chars.length - over - 1)).join("")}…`;
  }
}

/** The env and meta a Join button is about; or "invalid". */
export function parseJoinValue(value: string | undefined): JoinValue | "invalid" {
  if (value === undefined || !value.startsWith("{")) return "invalid";
  try {
    const v = JSON.parse(value);
    if (typeof v?.env !== "string" || typeof v.meta !== "string") return "invalid";
    const join: JoinValue = {
      env: parseEnv(v.env),
      meta: parseMeta(v.meta),
      metaExplicit: v.explicit === true,
    };
    if (typeof v.cmd === "string" && COMMAND_RE.test(v.cmd)) join.command = v.cmd;
    return join;
  } catch {
    return "invalid";
  }
}
