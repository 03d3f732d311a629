/**
 * The answers `/daplaya` gives, as Block Kit messages: built from what happened, with no I/O.
 */
import type { NotAcquiredError, NotHeldError } from "../core/errors.ts";
import type { Held, Waiter } from "../core/locker.ts";
import type { LockKind, LockRecord, Place } from "../core/model.ts";
import type { IdentityUnconfirmed, Names, SlackIdentity } from "./identity.ts";
import {
  type Block,
  context,
  esc,
  escCut,
  fit,
  MAX_BLOCK_TEXT,
  message,
  section,
  slackAgo,
  slackDate,
  type SlackMessage,
} from "./mrkdwn.ts";
import { type ButtonValue, buttonValue, DEFAULT_META, type JoinValue, joinValue } from "./parse.ts";

/** All block text of one message: Slack refuses much longer ones (`msg_blocks_too_long`). */
const MAX_MESSAGE_TEXT = 12_000;

/** Button on a lock answer: ends that very lock, if the clicker holds it (value: ButtonValue). */
export const RELEASE_ACTION = "release";

/** Button on an uberlock answer: ends that very uberlock, if the clicker holds it. */
export const RELEASE_UBERLOCK_ACTION = "release_uberlock";

/** Button on a refused `lock`: a place in the env's line, kept by `serve` (value: JoinValue). */
export const JOIN_ACTION = "join_line";

export type Holder = NotHeldError["holders"][number];

/** The button's lock is live but held by someone else: names them. */
export function refusal(
  env: string,
  live: Holder,
  who: SlackIdentity,
  names: Names = esc,
): SlackMessage {
  const what = live.kind === "uberlock" ? "uberlock" : "lock";
  const text =
    `:no_entry_sign: Only the holder can release *${env}* with this button: this ${what} is held by *${
      names(live.slot.user)
    }*, and you are *${whoText(who)}*. Nothing was changed.`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/**
 * The button's lock is over: says how, when its record says so (released by whom and when, or
 * taken over after its lease), and who holds the env now, as the release read it.
 */
export function overMessage(
  target: ButtonValue,
  onlyUberlock: boolean,
  holders: Holder[],
  who: SlackIdentity,
  record: LockRecord | null = null,
  names: Names = esc,
): SlackMessage {
  const { env } = target;
  const what = target.kind === "uberlock" ? "uberlock" : "lock";
  const now = holders.length > 0
    ? `*${env}* is now held by ${
      holders.map((h) =>
        `*${names(h.slot.user)}* (${h.kind === "uberlock" ? "an uberlock" : "a lock"} since ${
          slackDate(h.slot.createdAt)
        })`
      ).join(" and ")
    }.`
    : `Nobody holds ${onlyUberlock ? "an uberlock on " : ""}*${env}* now.`;
  const how = record?.id !== target.id || record.active
    ? "is already over: this button releases nothing else"
    : record.supersededBy !== undefined
    ? `is already over: its lease ran out and it was taken over ${slackAgo(record.updatedAt)}`
    : record.releasedAt !== undefined
    ? `was already ${record.forced ? "force-" : ""}released${
      record.releasedBy ? ` by *${names(record.releasedBy)}*` : ""
    } ${slackAgo(record.releasedAt)}`
    : "is already over: this button releases nothing else";
  const text = `:information_source: That ${what} on *${env}* ${how}. Nothing was changed. ${now}`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** A button from before buttons named their lock: it cannot tell which lock it was about. */
export function oldButtonMessage(env: string, command: string): SlackMessage {
  const text =
    `:warning: This Release button is from an older daplaya: it cannot tell which lock its message was about, so it releases nothing. Nothing was changed. To release your lock on *${env}*, use \`${command} release ${env}\`.`;
  return message("ephemeral", text, [section(text)]);
}

export function lockedMessage(held: Held, who: SlackIdentity): SlackMessage {
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
    // No identityNote: this answer is posted in the channel, and the note is for the asker.
    releaseButton(held),
  ]);
}

/**
 * The Release button of a message about one lock: it ends that very lock (or uberlock), and
 * only for its holder (the interaction handler checks it).
 */
export function releaseButton(held: Pick<Held, "record" | "kind">): Block {
  return {
    type: "actions",
    elements: [{
      type: "button",
      text: { type: "plain_text", text: "Release" },
      action_id: held.kind === "uberlock" ? RELEASE_UBERLOCK_ACTION : RELEASE_ACTION,
      value: buttonValue(held),
    }],
  };
}

export function heldByMessage(
  env: string,
  holder: NonNullable<NotAcquiredError["holder"]>,
  who: SlackIdentity,
  names: Names = esc,
  /** The refused lock's env and meta, to offer **Join the line** (uberlocks never wait). */
  join?: JoinValue,
): SlackMessage {
  const what = holder.kind === "uberlock" ? "an uberlock" : "a lock";
  const head = `:no_entry: *${env}* is held by *${names(holder.slot.user)}* (${what} since ${
    slackDate(holder.slot.createdAt)
  })\n>`;
  const text = `${head}${escCut(holder.slot.meta, MAX_BLOCK_TEXT - head.length)}`;
  const hint = join
    ? joinHint(env)
    : `Nothing was changed. Try again when it is released (\`leases ${env}\` shows it).`;
  return message("ephemeral", text, [
    section(text),
    context(hint),
    ...identityNote(who),
    ...(join ? [joinButton(join)] : []),
  ]);
}

function joinHint(env: string): string {
  return `Nothing was changed. *Join the line* to get it in turn: I will message you when it is yours (\`leases ${env}\` shows the line).`;
}

/** **Join the line**: a place in the env's line, kept by `serve` until it is the clicker's turn. */
export function joinButton(join: JoinValue): Block {
  return {
    type: "actions",
    elements: [{
      type: "button",
      text: { type: "plain_text", text: "Join the line" },
      action_id: JOIN_ACTION,
      value: joinValue(join),
    }],
  };
}

/** `/daplaya lock` on a free env that others wait in line for: nobody overtakes the line. */
export function waitingLineMessage(
  env: string,
  line: Place[],
  who: SlackIdentity,
  names: Names = esc,
  join?: JoinValue,
): SlackMessage {
  const first = line[0];
  const text = `:hourglass: *${env}* is free, but ${line.length} wait${
    line.length === 1 ? "s" : ""
  } in line for it, first *${names(first?.user ?? "")}* (since ${slackDate(first?.since ?? 0)})`;
  const hint = join
    ? joinHint(env)
    : `Nothing was changed. Waiters are served in order (\`leases ${env}\` shows the line).`;
  return message("ephemeral", text, [
    section(text),
    context(hint),
    ...identityNote(who),
    ...(join ? [joinButton(join)] : []),
  ]);
}

export function releasedMessage(
  env: string,
  released: LockRecord[],
  who: SlackIdentity,
): SlackMessage {
  const kinds = released.map((r) => (r.uberlock ? "uberlock" : "lock")).join(" and ");
  const text = `:unlock: *${env}* ${kinds} released by *${whoText(who)}*`;
  const ids = released.map((r) => `id ${r.id}`).join(" · ");
  return message("in_channel", text, [section(text), context(ids)]);
}

export function notHeldMessage(error: string, who: SlackIdentity): SlackMessage {
  const text = `:warning: ${esc(error)}`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/**
 * `/daplaya leases`: the active locks, each env's line under its last holder (`↳ #1 *bob*
 * waiting since …`); an env with waiters but no holder follows the locks, as free with its line.
 */
export function leasesMessage(
  env: string | undefined,
  locks: LockRecord[],
  names: Names = esc,
  waiting: Waiter[] = [],
): SlackMessage {
  const where = env ? ` on *${env}*` : "";
  if (locks.length === 0 && waiting.length === 0) {
    const text = `No active locks${where}`;
    return message("ephemeral", text, [section(text)]);
  }
  const queues = Map.groupBy(waiting, (w) => w.env);
  const lineOf = (name: string) =>
    (queues.get(name) ?? []).map((w) =>
      fit(
        `      ↳ #${w.position} *${names(w.user)}* waiting since ${slackDate(w.since)} · meta: ${
          escCut(w.meta, 300)
        }`,
        CHUNK,
      )
    );
  const last = new Map(locks.map((r, i) => [r.env, i]));
  const lines = locks.flatMap((r, i) => {
    const kind = r.uberlock ? ":rotating_light: uberlock" : ":lock: lock";
    const parts = [
      `*${r.env}* ${kind} by *${names(r.user)}* since ${slackDate(r.createdAt)}`,
      ...(r.expiresAt !== undefined ? [`lease until ${slackDate(r.expiresAt)}`] : []),
      `meta: ${escCut(r.meta, 300)}`,
    ];
    return [fit(`• ${parts.join(" · ")}`, CHUNK), ...(last.get(r.env) === i ? lineOf(r.env) : [])];
  });
  for (const [free, queue] of queues) {
    if (last.has(free)) continue;
    lines.push(`• *${free}* is free · ${queue.length} waiting in line`, ...lineOf(free));
  }
  const inLine = waiting.length > 0 ? ` · waiting in line: ${waiting.length}` : "";
  const header = `Active locks${where}: ${locks.length}${inLine}`;
  return listMessage(header, lines, (n) => `…and ${n} more: \`daplaya locks\` lists them all`);
}

/**
 * A header and lines, as sections of at most CHUNK characters, the whole message short enough
 * for Slack; lines that do not fit are counted in a last context (`more`), and `footer`, if
 * any, ends the message.
 */
export function listMessage(
  header: string,
  lines: string[],
  more: (left: number) => string,
  footer?: string,
): SlackMessage {
  const blocks: Block[] = [section(header)];
  let total = header.length + (footer?.length ?? 0);
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
  if (shown < lines.length) blocks.push(context(more(lines.length - shown)));
  if (footer) blocks.push(context(footer));
  return message("ephemeral", `${header}\n${lines.slice(0, shown).join("\n")}`, blocks);
}

/** Lines of a list are gathered into sections of at most this many characters. */
const CHUNK = 2900;

export function helpMessage(command: string, problem?: string): SlackMessage {
  const c = command;
  const usage = [
    `*${c}* — a deploy lock per environment, shared with the \`daplaya\` CLI`,
    `\`${c} lock &lt;ENV&gt; [META]\` take the lock on ENV (never waits: if someone holds it, you are told who, and may *Join the line*)`,
    `\`${c} uberlock &lt;ENV&gt; [META]\` break-glass freeze: nobody else can take a new lock on ENV`,
    `\`${c} release &lt;ENV&gt;\` release your lock(s) on ENV`,
    `\`${c} cancel &lt;ENV&gt;\` leave the line for ENV that you joined with *Join the line*`,
    `\`${c} leases [ENV]\` list the active locks and who waits in line (also \`locks\`)`,
    `\`${c} freezes [ENV]\` list the freeze windows in force and coming up: while one is in force, \`lock\` is refused (\`uberlock\` is not), and *Join the line* waits it out`,
    `\`${c} help\` this help`,
    `META is free text (default \`${DEFAULT_META}\`), e.g. a link to the deploy; an env may require one.`,
    `A first lock on an env whose name is close to a known one (\`PRODUCTON\`) is refused as a likely typo: add \`--new-env\` after the env to start it anyway.`,
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

/**
 * Says why the lock's user is `slack:<id>` and not an email (no bot token is configured). Only
 * in ephemeral answers: it is a hint for the asker, not for the channel.
 */
export function identityNote(who: SlackIdentity): Block[] {
  if (!who.fallback) return [];
  return [context(
    `:information_source: No email from Slack (${esc(who.fallback)}), so you are \`${who.user}\`${
      who.userName ? ` (@${esc(who.userName)})` : ""
    } here. From the CLI, use \`--user ${who.user}\` for these locks.`,
  )];
}

export function whoText(who: SlackIdentity): string {
  const user = esc(who.user);
  return who.fallback && who.userName ? `${user} (@${esc(who.userName)})` : user;
}

/** Under a late answer's first line: which command it is about. */
export function lateNote(what: string): Block {
  return context(
    `:hourglass_flowing_sand: The outcome of \`${what}\`, which could not be confirmed within Slack's 3 seconds.`,
  );
}

/** The email could not be confirmed: nothing was done, and the answer says why. */
export function noIdentityMessage(e: IdentityUnconfirmed): SlackMessage {
  const name =
    "daplaya takes Slack locks as your Slack email (the same user as the CLI's `--user`), never under another name.";
  const text = e.transient
    ? `:hourglass: Could not confirm who you are with Slack (${
      esc(e.message)
    }). Nothing was changed. Please retry in a moment: ${name}`
    : `:warning: ${
      esc(e.message)
    }. Nothing was changed: ${name} Whoever runs daplaya can fix this in the Slack app's settings.`;
  return message("ephemeral", text, [section(text)]);
}

/** DynamoDB did not answer in time (`timeout`) or could not be reached: the state is unknown. */
export function unknownStateMessage(
  action: "lock" | "release" | "leases" | "cancel" | "freezes",
  env: string | undefined,
  timeout: boolean,
  command: string,
): SlackMessage {
  const why = timeout ? "DynamoDB did not answer in time" : "DynamoDB could not be reached";
  const target = env ? ` *${env}*` : "";
  const text = action === "leases"
    ? `:warning: Could not read the locks${target}: ${why}. Please retry.`
    : action === "freezes"
    ? `:warning: Could not read the freeze windows${
      env ? ` of *${env}*` : ""
    }: ${why}. Please retry.`
    : timeout
    ? `:hourglass: Could not confirm the ${action} of${target}: ${why}. The lock state is unknown for now: the ${action} is still running, and its outcome will follow here. \`${command} leases ${env}\` shows the locks.`
    : `:warning: Could not confirm the ${action} of${target}: ${why}. The lock state is unknown; nothing is confirmed. Please retry \`${command} ${action} ${env}\`${
      action === "lock" ? " (retrying is safe: a lock you already hold is only refreshed)" : ""
    } or check with \`${command} leases ${env}\`.`;
  return message("ephemeral", text, [section(text)]);
}

/** A first lock on an env whose name is close to a known one: the suggestion, and how to go on. */
export function newEnvMessage(
  cmd: { kind: LockKind; env: string },
  suggestion: string,
  command: string,
): SlackMessage {
  const verb = cmd.kind === "uberlock" ? "uberlock" : "lock";
  const text =
    `:question: *${cmd.env}* has never been locked: did you mean *${suggestion}*? Nothing was changed. If *${cmd.env}* is a new env, use \`${command} ${verb} ${cmd.env} --new-env\`.`;
  return message("ephemeral", text, [section(text)]);
}
