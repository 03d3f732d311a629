/**
 * `/daplaya` commands: parse the text, run it on the same `Locker` as the CLI, and build the
 * Block Kit answer. No I/O of its own: the handler gives the locker, who is asking and a
 * deadline for engine calls.
 */
import { NotAcquiredError, NotHeldError, UsageError } from "../core/errors.ts";
import type { Held, Locker } from "../core/locker.ts";
import {
  isoSeconds,
  LOCK_KINDS,
  type LockKind,
  type LockRecord,
  parseEnv,
  parseMeta,
} from "../core/model.ts";
import { IdentityUnconfirmed, type SlackIdentity } from "./identity.ts";

/** The seed's meta for locks taken in Slack; text after the env replaces it. */
const DEFAULT_META = "Slack";
/** Slack's limit for the text of a section, and of each text in a context block. */
const MAX_BLOCK_TEXT = 3000;
/** Fallback text: Slack truncates it at 40,000 characters and advises at most 4,000. */
const MAX_FALLBACK_TEXT = 4000;
/** All block text of one message: Slack refuses much longer ones (`msg_blocks_too_long`). */
const MAX_MESSAGE_TEXT = 12_000;
/** Button on a lock answer: ends that very lock, if the clicker holds it (value: ButtonValue). */
export const RELEASE_ACTION = "release";
/** Button on an uberlock answer: ends that very uberlock, if the clicker holds it. */
export const RELEASE_UBERLOCK_ACTION = "release_uberlock";

/**
 * A Release button's value, as JSON: the lock its message was about (about 90 characters;
 * Slack allows 2,000). Buttons posted before this carried only the env.
 */
interface ButtonValue {
  id: string;
  env: string;
  kind: LockKind;
}

type SlashCommand =
  | { name: "lock"; kind: LockKind; env: string; meta: string; metaExplicit: boolean }
  | { name: "release"; env: string }
  | { name: "leases"; env?: string }
  | { name: "help"; problem?: string };

// deno-lint-ignore no-explicit-any
type Block = Record<string, any>;
type Holder = NotHeldError["holders"][number];

export interface SlackMessage {
  response_type: "in_channel" | "ephemeral";
  /** Only for answers sent to an interaction's response_url. */
  replace_original?: boolean;
  /** Fallback text (notifications, screen readers); the blocks are what people see. */
  text: string;
  blocks: Block[];
}

/** An answer plus what happened, for the log line (never secrets). */
export interface Outcome {
  message: SlackMessage;
  result: string;
  env?: string;
  error?: string;
}

/** The engine call did not settle in time: its effect is unknown. */
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

export interface RunContext {
  locker: Locker;
  /** Who is asking (users.info, cached); IdentityUnconfirmed when the email is not confirmed. */
  who(): Promise<SlackIdentity>;
  /** Runs an engine call under the reply deadline; rejects with DeadlineExceeded. */
  within<T>(call: Promise<T>): Promise<T>;
  /**
   * Takes the real outcome of a lock or release that missed the deadline (its answer said
   * "state unknown"), to post it once it settles. The promise never rejects.
   */
  late(outcome: Promise<Outcome>): void;
  /** The slash command as configured in Slack, e.g. `/daplaya`, for help texts. */
  command: string;
}

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
      const metaText = args.slice(envWord.length).trim().replace(/[\t\r\n]+/g, " ");
      const meta = metaText === "" ? DEFAULT_META : parseMeta(metaText);
      const kind: LockKind = verb === "uberlock" ? "uberlock" : "regular";
      return { name: "lock", kind, env, meta, metaExplicit: metaText !== "" };
    }
    case "release":
      if (envWord === undefined) {
        return problem("`release` needs an env, e.g. `release production`");
      }
      if (more.length > 0) return problem("`release` takes just the env");
      return { name: "release", env: parseEnv(envWord) };
    case "leases":
      if (more.length > 0) return problem("`leases` takes at most one env");
      return envWord === undefined
        ? { name: "leases" }
        : { name: "leases", env: parseEnv(envWord) };
    default:
      return problem(`unknown command \`${escCut(word, 40)}\``);
  }
}

/** Parses and runs a slash command; every outcome is an answer, never a thrown error. */
export async function runSlash(text: string, ctx: RunContext): Promise<Outcome> {
  let cmd: SlashCommand;
  try {
    cmd = parseSlashText(text);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { message: errorReply(e.message, ctx.command), result: "invalid" };
  }
  switch (cmd.name) {
    case "help":
      return { message: helpMessage(ctx.command, cmd.problem), result: "help" };
    case "lock":
      return await lock(cmd, ctx);
    case "release":
      return await release(cmd.env, ctx);
    case "leases":
      return await leases(cmd.env, ctx);
  }
}

/**
 * The Release button: it ends only the lock its message was about (the id in its value), and
 * only for that lock's holder; anyone else, or a click after that lock is over, gets an
 * ephemeral answer and nothing changes. Only a release replaces the message that carried it.
 */
export async function runReleaseButton(
  value: string | undefined,
  onlyUberlock: boolean,
  ctx: RunContext,
): Promise<Outcome> {
  const target = parseButtonValue(value);
  let outcome: Outcome;
  if (target === "invalid") {
    const text = `not a Release button daplaya made: use \`${ctx.command} release ENV\``;
    outcome = { message: errorReply(text, ctx.command), result: "invalid" };
  } else if ("id" in target) {
    outcome = await releaseButton(target, onlyUberlock, ctx);
  } else {
    const { env } = target;
    outcome = { message: oldButtonMessage(env, ctx.command), result: "old-button", env };
  }
  return buttonAnswer(outcome);
}

/** Only a release replaces the message that carried the button. */
function buttonAnswer(outcome: Outcome): Outcome {
  outcome.message.replace_original = outcome.result === "released";
  return outcome;
}

function buttonValue(held: Held): string {
  const value: ButtonValue = { id: held.record.id, env: held.record.env, kind: held.kind };
  return JSON.stringify(value);
}

/** The lock a button is about; an old button's bare env; or "invalid". */
function parseButtonValue(value: string | undefined): ButtonValue | { env: string } | "invalid" {
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

async function releaseButton(
  target: ButtonValue,
  onlyUberlock: boolean,
  ctx: RunContext,
): Promise<Outcome> {
  const { env, id } = target;
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = ctx.locker.release({ env, user: who.user, onlyUberlock, force: false, id }).then(
    (released): Outcome => ({
      message: releasedMessage(env, released, who),
      result: "released",
      env,
    }),
    (e): Outcome => {
      if (!(e instanceof NotHeldError)) return unknownState("release", env, e, ctx.command);
      const live = e.holders.find((h) => h.slot.id === id);
      return live
        ? { message: refusal(env, live, who), result: "refused", env }
        : { message: overMessage(target, onlyUberlock, e.holders, who), result: "over", env };
    },
  );
  return await inTime("release", env, settle, ctx, buttonAnswer);
}

async function lock(
  cmd: Extract<SlashCommand, { name: "lock" }>,
  ctx: RunContext,
): Promise<Outcome> {
  const { env, kind } = cmd;
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = ctx.locker.acquire({
    env,
    user: who.user,
    kind,
    meta: cmd.meta,
    metaExplicit: cmd.metaExplicit,
    // Slack must be answered within 3 s: one attempt, never a wait.
    timeoutMs: 0,
    intervalMs: 5000,
  }).then(
    (held): Outcome => ({
      message: lockedMessage(held, who),
      result: held.refreshed ? "refreshed" : "locked",
      env,
    }),
    (e): Outcome =>
      e instanceof NotAcquiredError
        ? { message: heldByMessage(env, e.holder, who), result: "held", env }
        : unknownState("lock", env, e, ctx.command),
  );
  return await inTime("lock", env, settle, ctx);
}

async function release(env: string, ctx: RunContext): Promise<Outcome> {
  const who = await identify(ctx, env);
  if (!("user" in who)) return who;
  const settle = ctx.locker.release({ env, user: who.user, onlyUberlock: false, force: false })
    .then(
      (released): Outcome => ({
        message: releasedMessage(env, released, who),
        result: "released",
        env,
      }),
      (e): Outcome =>
        e instanceof NotHeldError
          ? { message: notHeldMessage(e.message, who), result: "not-held", env }
          : unknownState("release", env, e, ctx.command),
    );
  return await inTime("release", env, settle, ctx);
}

/**
 * The outcome of a lock or release if it settles in time. Otherwise the answer says the state
 * is unknown, and the real outcome goes to `ctx.late` once the call settles (the engine call is
 * never abandoned halfway: it runs to its end, within the store's own timeouts).
 */
async function inTime(
  action: "lock" | "release",
  env: string,
  settle: Promise<Outcome>,
  ctx: RunContext,
  finish: (outcome: Outcome) => Outcome = (outcome) => outcome,
): Promise<Outcome> {
  try {
    return finish(await ctx.within(settle));
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    const what = `${ctx.command} ${action} ${env}`;
    ctx.late(settle.then((outcome) => finish(lateOutcome(outcome, what))));
    return finish(unknownState(action, env, e, ctx.command));
  }
}

/** Says, under the answer's first line, which command this late answer is about. */
function lateOutcome(outcome: Outcome, what: string): Outcome {
  outcome.message.blocks.splice(
    1,
    0,
    context(
      `:hourglass_flowing_sand: The outcome of \`${what}\`, which could not be confirmed within Slack's 3 seconds.`,
    ),
  );
  return outcome;
}

async function leases(env: string | undefined, ctx: RunContext): Promise<Outcome> {
  try {
    const locks = await ctx.within(ctx.locker.list(env));
    return { message: leasesMessage(env, locks), result: "listed", ...(env ? { env } : {}) };
  } catch (e) {
    return unknownState("leases", env, e, ctx.command);
  }
}

/** The button's lock is live but held by someone else: names them. */
function refusal(env: string, live: Holder, who: SlackIdentity): SlackMessage {
  const what = live.kind === "uberlock" ? "uberlock" : "lock";
  const text =
    `:no_entry_sign: Only the holder can release *${env}* with this button: this ${what} is held by *${
      esc(live.slot.user)
    }*, and you are *${whoText(who)}*. Nothing was changed.`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** The button's lock is over: says so, and who holds the env now, as the release read it. */
function overMessage(
  target: ButtonValue,
  onlyUberlock: boolean,
  holders: Holder[],
  who: SlackIdentity,
): SlackMessage {
  const { env } = target;
  const what = target.kind === "uberlock" ? "uberlock" : "lock";
  const now = holders.length > 0
    ? `*${env}* is now held by ${
      holders.map((h) =>
        `*${esc(h.slot.user)}* (${h.kind === "uberlock" ? "an uberlock" : "a lock"} since ${
          slackDate(h.slot.createdAt)
        })`
      ).join(" and ")
    }.`
    : `Nobody holds ${onlyUberlock ? "an uberlock on " : ""}*${env}* now.`;
  const text =
    `:information_source: That ${what} on *${env}* is already over: this button releases nothing else. Nothing was changed. ${now}`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** A button from before buttons named their lock: it cannot tell which lock it was about. */
function oldButtonMessage(env: string, command: string): SlackMessage {
  const text =
    `:warning: This Release button is from an older daplaya: it cannot tell which lock its message was about, so it releases nothing. Nothing was changed. To release your lock on *${env}*, use \`${command} release ${env}\`.`;
  return message("ephemeral", text, [section(text)]);
}

function lockedMessage(held: Held, who: SlackIdentity): SlackMessage {
  const r = held.record;
  const uber = held.kind === "uberlock";
  const what = uber ? "uberlocked" : "locked";
  const headline = held.refreshed
    ? `:lock: *${r.env}* is already ${what} by *${whoText(who)}*: refreshed`
    : uber
    ? `:rotating_light: *${r.env}* uberlocked by *${
      whoText(who)
    }*: nobody else can take a new lock until it is released`
    : `:lock: *${r.env}* locked by *${whoText(who)}*`;
  const details = `since ${slackDate(r.createdAt)} · fence ${r.fence} · meta: `;
  return message("in_channel", `${headline} (meta: ${escCut(r.meta, 200)})`, [
    section(headline),
    context(`${details}${escCut(r.meta, MAX_BLOCK_TEXT - details.length)}`),
    ...identityNote(who),
    {
      type: "actions",
      elements: [{
        type: "button",
        text: { type: "plain_text", text: "Release" },
        action_id: uber ? RELEASE_UBERLOCK_ACTION : RELEASE_ACTION,
        value: buttonValue(held),
      }],
    },
  ]);
}

function heldByMessage(
  env: string,
  holder: NotAcquiredError["holder"],
  who: SlackIdentity,
): SlackMessage {
  const what = holder.kind === "uberlock" ? "an uberlock" : "a lock";
  const head = `:no_entry: *${env}* is held by *${esc(holder.slot.user)}* (${what} since ${
    slackDate(holder.slot.createdAt)
  })\n>`;
  const text = `${head}${escCut(holder.slot.meta, MAX_BLOCK_TEXT - head.length)}`;
  const hint = `Nothing was changed. Try again when it is released (\`leases ${env}\` shows it).`;
  return message("ephemeral", text, [section(text), context(hint), ...identityNote(who)]);
}

function releasedMessage(env: string, released: LockRecord[], who: SlackIdentity): SlackMessage {
  const kinds = released.map((r) => (r.uberlock ? "uberlock" : "lock")).join(" and ");
  const text = `:unlock: *${env}* ${kinds} released by *${whoText(who)}*`;
  const ids = released.map((r) => `id ${r.id}`).join(" · ");
  return message("in_channel", text, [section(text), context(ids)]);
}

function notHeldMessage(error: string, who: SlackIdentity): SlackMessage {
  const text = `:warning: ${esc(error)}`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

function leasesMessage(env: string | undefined, locks: LockRecord[]): SlackMessage {
  const where = env ? ` on *${env}*` : "";
  if (locks.length === 0) {
    const text = `No active locks${where}`;
    return message("ephemeral", text, [section(text)]);
  }
  const lines = locks.map((r) => {
    const kind = r.uberlock ? ":rotating_light: uberlock" : ":lock: lock";
    const parts = [
      `*${r.env}* ${kind} by *${esc(r.user)}* since ${slackDate(r.createdAt)}`,
      ...(r.expiresAt !== undefined ? [`lease until ${slackDate(r.expiresAt)}`] : []),
      `meta: ${escCut(r.meta, 300)}`,
    ];
    return fit(`• ${parts.join(" · ")}`, CHUNK);
  });
  const header = `Active locks${where}: ${locks.length}`;
  // Sections of at most CHUNK characters, and the whole message short enough for Slack.
  const blocks: Block[] = [section(header)];
  let total = header.length;
  let chunk = "";
  let shown = 0;
  for (const line of lines) {
    if (total + line.length + 1 > MAX_MESSAGE_TEXT - 200 || blocks.length >= 45) break;
    if (chunk && chunk.length + line.length + 1 > CHUNK) {
      blocks.push(section(chunk));
      chunk = "";
    }
    chunk = chunk ? `${chunk}\n${line}` : line;
    total += line.length + 1;
    shown++;
  }
  if (chunk) blocks.push(section(chunk));
  if (shown < lines.length) {
    blocks.push(context(`…and ${lines.length - shown} more: \`daplaya locks\` lists them all`));
  }
  return message("ephemeral", `${header}\n${lines.slice(0, shown).join("\n")}`, blocks);
}

/** Lines of a list are gathered into sections of at most this many characters. */
const CHUNK = 2900;

/** Who is asking; when the email cannot be confirmed, the answer that says so instead. */
async function identify(ctx: RunContext, env: string): Promise<SlackIdentity | Outcome> {
  try {
    return await ctx.who();
  } catch (e) {
    return noIdentity(e, env);
  }
}

/** The email could not be confirmed: nothing is done, and the answer says why. */
function noIdentity(e: unknown, env: string): Outcome {
  if (!(e instanceof IdentityUnconfirmed)) throw e;
  const name =
    "daplaya takes Slack locks as your Slack email (the same user as the CLI's `--user`), never under another name.";
  const text = e.transient
    ? `:hourglass: Could not confirm who you are with Slack (${
      esc(e.message)
    }). Nothing was changed. Please retry in a moment: ${name}`
    : `:warning: ${
      esc(e.message)
    }. Nothing was changed: ${name} Whoever runs daplaya can fix this in the Slack app's settings.`;
  return {
    message: message("ephemeral", text, [section(text)]),
    result: "no-identity",
    env,
    error: e.message,
  };
}

function unknownState(
  action: "lock" | "release" | "leases",
  env: string | undefined,
  e: unknown,
  command: string,
): Outcome {
  const timeout = e instanceof DeadlineExceeded;
  const why = timeout ? "DynamoDB did not answer in time" : "DynamoDB could not be reached";
  const target = env ? ` *${env}*` : "";
  const text = action === "leases"
    ? `:warning: Could not read the locks${target}: ${why}. Please retry.`
    : timeout
    ? `:hourglass: Could not confirm the ${action} of${target}: ${why}. The lock state is unknown for now: the ${action} is still running, and its outcome will follow here. \`${command} leases ${env}\` shows the locks.`
    : `:warning: Could not confirm the ${action} of${target}: ${why}. The lock state is unknown; nothing is confirmed. Please retry \`${command} ${action} ${env}\`${
      action === "lock" ? " (retrying is safe: a lock you already hold is only refreshed)" : ""
    } or check with \`${command} leases ${env}\`.`;
  const error = timeout ? "deadline" : (e as Error)?.message ?? String(e);
  return {
    message: message("ephemeral", text, [section(text)]),
    result: "unknown",
    ...(env ? { env } : {}),
    error: error.split("\n")[0],
  };
}

function helpMessage(command: string, problem?: string): SlackMessage {
  const c = command;
  const usage = [
    `*${c}* — a deploy lock per environment, shared with the \`daplaya\` CLI`,
    `\`${c} lock &lt;ENV&gt; [META]\` take the lock on ENV (never waits: if someone holds it, you are told who)`,
    `\`${c} uberlock &lt;ENV&gt; [META]\` break-glass freeze: nobody else can take a new lock on ENV`,
    `\`${c} release &lt;ENV&gt;\` release your lock(s) on ENV`,
    `\`${c} leases [ENV]\` list the active locks`,
    `\`${c} help\` this help`,
    `META is free text (default \`${DEFAULT_META}\`), e.g. a link to the deploy.`,
  ].join("\n");
  const blocks = problem ? [section(`:warning: ${problem}`), section(usage)] : [section(usage)];
  return message("ephemeral", problem ? `${problem}\n${usage}` : usage, blocks);
}

export function errorReply(error: string, command: string): SlackMessage {
  const text = `:warning: ${esc(error)}`;
  return message("ephemeral", text, [
    section(text),
    context(`\`${command} help\` shows the commands`),
  ]);
}

/** Says why the lock's user is `slack:<id>` and not an email (no bot token is configured). */
function identityNote(who: SlackIdentity): Block[] {
  if (!who.fallback) return [];
  return [context(
    `:information_source: No email from Slack (${esc(who.fallback)}), so you are \`${who.user}\`${
      who.userName ? ` (@${esc(who.userName)})` : ""
    } here. From the CLI, use \`--user ${who.user}\` for these locks.`,
  )];
}

function whoText(who: SlackIdentity): string {
  const user = esc(who.user);
  return who.fallback && who.userName ? `${user} (@${esc(who.userName)})` : user;
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

/** Escapes text for Slack mrkdwn. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Slack shows the date in the reader's time zone; the fallback is ISO 8601 UTC. */
function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${isoSeconds(ms)}>`;
}

/** Fallback text: the dates as ISO, without emoji codes. */
function plain(text: string): string {
  return text.replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, "$1").replace(/:[a-z_]+: /g, "");
}

/** A message; its fallback text is `text` without dates and emoji codes, cut to Slack's limit. */
function message(
  responseType: SlackMessage["response_type"],
  text: string,
  blocks: Block[],
): SlackMessage {
  return { response_type: responseType, text: fit(plain(text), MAX_FALLBACK_TEXT), blocks };
}

/** Texts are cut to Slack's limit here, whatever built them (`fit` keeps entities whole). */
function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: fit(text, MAX_BLOCK_TEXT) } };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: fit(text, MAX_BLOCK_TEXT) }] };
}

/**
 * Escapes `raw` for mrkdwn and cuts the result to at most `max` characters (UTF-16 units, as
 * Slack counts): whole characters and whole entities only, ending in "…" when cut. Limits apply
 * to what is sent, so the cut comes after escaping (`&` is sent as the 5 characters `&amp;`).
 */
export function escCut(raw: string, max: number): string {
  const escaped = esc(raw);
  if (escaped.length <= max) return escaped;
  let out = "";
  for (const ch of raw) {
    const e = esc(ch);
    if (out.length + e.length > max - 1) break;
    out += e;
  }
  return max > 0 ? `${out}…` : "";
}

/**
 * Cuts mrkdwn we built to at most `max` characters, never inside an entity (`&amp;`), a
 * `<…>` token (a date) or a surrogate pair; ends in "…" when cut.
 */
export function fit(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - 1);
  const amp = text.lastIndexOf("&", cut - 1);
  const semi = amp < 0 ? -1 : text.indexOf(";", amp);
  if (amp >= 0 && (semi < 0 || semi >= cut)) cut = amp;
  const open = text.lastIndexOf("<", cut - 1);
  if (open > text.lastIndexOf(">", cut - 1)) cut = open;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return max > 0 ? `${text.slice(0, cut)}…` : "";
}
