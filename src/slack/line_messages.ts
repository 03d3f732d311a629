/**
 * The answers about waiting in line from Slack (**Join the line**, `/daplaya cancel`) and the
 * messages `serve` sends a waiter later: it is yours, or you are no longer in line. Block Kit,
 * built from what happened, with no I/O.
 */
import { formatInstant } from "../core/freeze.ts";
import type { Held } from "../core/locker.ts";
import type { FreezeInForce } from "../core/policy.ts";
import { formatAge } from "../core/text.ts";
import type { SlackIdentity } from "./identity.ts";
import { identityNote, releaseButton, whoText } from "./messages.ts";
import { context, esc, escCut, MAX_BLOCK_TEXT, message, section, slackDate } from "./mrkdwn.ts";
import type { SlackMessage } from "./mrkdwn.ts";

/** How `serve` will tell a waiter that it is their turn, and how long it keeps their place. */
export interface Reach {
  /**
   * True: a direct message from the app (a bot token is set). False: only the Join click's
   * response_url, which Slack honours for 30 minutes, so the wait is shorter.
   */
  dm: boolean;
  maxWaitMs: number;
}

/**
 * Joined: the place in line, how they will hear, how to leave; during a freeze window, also
 * that the wait lasts until the window is over.
 */
export function joinedMessage(
  env: string,
  position: number,
  who: SlackIdentity,
  command: string,
  reach: Reach,
  frozen?: FreezeInForce,
): SlackMessage {
  const how = howYouHear(reach);
  const text = frozen
    ? `:hourglass_flowing_sand: You are #${position} in line for *${env}*. It is frozen (${
      frozen.freeze.reason.trim() === "" ? "no reason" : escCut(frozen.freeze.reason, 300)
    }) until ${
      formatInstant(frozen.end, frozen.freeze.tz)
    }: ${how} when it is yours, once the freeze is over. \`${command} cancel ${env}\` leaves the line.`
    : `:hourglass_flowing_sand: You are #${position} in line for *${env}*; ${how} when it is yours. \`${command} cancel ${env}\` leaves the line.`;
  return message("ephemeral", text, [
    section(text),
    context(reachNote(reach)),
    ...identityNote(who),
  ]);
}

/** Joined, but its first answer came too late to tell the place: the wait goes on. */
export function joinPendingMessage(
  env: string,
  who: SlackIdentity,
  command: string,
  reach: Reach,
): SlackMessage {
  const how = howYouHear(reach);
  const text =
    `:hourglass: Joining the line for *${env}*: DynamoDB did not confirm your place within Slack's 3 seconds, and I keep trying. ${how} when it is yours, or if I cannot keep your place. \`${command} leases ${env}\` shows the line; \`${command} cancel ${env}\` leaves it.`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** How a waiter hears when it is their turn. */
function howYouHear(reach: Reach): string {
  return reach.dm ? "I will message you" : "I will post here";
}

function reachNote(reach: Reach): string {
  return reach.dm
    ? `daplaya keeps your place for up to ${
      formatAge(reach.maxWaitMs)
    }. If daplaya's Slack service restarts meanwhile, you leave the line, and I tell you.`
    : `Without a bot token I can only answer here, and Slack allows that for 30 minutes: you leave the line after ${
      formatAge(reach.maxWaitMs)
    }. If daplaya's Slack service restarts meanwhile, you leave the line too.`;
}

/** A second Join for the same env: the place they have; `fromCli`: a CLI waiter keeps it. */
export function alreadyInLineMessage(
  env: string,
  position: number | undefined,
  who: SlackIdentity,
  command: string,
  fromCli: boolean,
): SlackMessage {
  // No position yet: a first click is still taking the place.
  const place = position === undefined ? "" : `#${position} `;
  const text = fromCli
    ? `:information_source: You are already ${place}in line for *${env}*, from the CLI (a waiting \`daplaya lock\` or \`run\` as *${
      whoText(who)
    }*): it takes the lock when your turn comes. Stop that command to leave the line. Nothing was changed.`
    : `:information_source: You are already ${place}in line for *${env}*; I will tell you when it is yours. \`${command} cancel ${env}\` leaves the line. Nothing was changed.`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** Your turn came: the lock is yours, with its Release button (a direct message). */
export function yoursMessage(held: Held, who: SlackIdentity): SlackMessage {
  const r = held.record;
  const headline = `:bell: *${r.env}* is yours: your turn in line came, and it is locked by *${
    whoText(who)
  }*`;
  const details = `since ${slackDate(r.createdAt)} · fence ${r.fence} · meta: `;
  return message("ephemeral", `${headline} (meta: ${escCut(r.meta, 200)})`, [
    section(headline),
    context(`${details}${escCut(r.meta, MAX_BLOCK_TEXT - details.length)}`),
    releaseButton(held),
  ]);
}

/** `/daplaya cancel`: the place is gone. */
export function leftLineMessage(env: string, who: SlackIdentity): SlackMessage {
  const text = `:wave: You left the line for *${env}*.`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** `/daplaya cancel` when there is nothing to leave (or only a CLI waiter's place, at `cliPosition`). */
export function notInLineMessage(
  env: string,
  who: SlackIdentity,
  command: string,
  cliPosition?: number,
): SlackMessage {
  const text = cliPosition !== undefined
    ? `:information_source: You are #${cliPosition} in line for *${env}* from the CLI (a waiting \`daplaya lock\` or \`run\`), not from Slack: stop that command to leave the line. Nothing was changed.`
    : `:information_source: You are not in line for *${env}*. Nothing was changed. (\`${command} leases ${env}\` shows who waits.)`;
  return message("ephemeral", text, [section(text), ...identityNote(who)]);
}

/** Why a Slack waiter's wait ended without the lock, when the waiter is told later. */
export type WaitEnd =
  | { why: "shutdown" }
  | { why: "timeout"; waitedMs: number }
  /** DynamoDB could not be reached (or failed) while the place was kept. */
  | { why: "failed" }
  /** The env's rules refuse the lock (changed while the place was kept): the core's line. */
  | { why: "refused"; line: string };

/** The wait ended without the lock, and the waiter did not ask for it (`cancel`). */
export function waitEndedMessage(env: string, end: WaitEnd, command: string): SlackMessage {
  const again = `\`${command} lock ${env}\` and *Join the line* to wait again.`;
  const text = end.why === "shutdown"
    ? `:warning: You are no longer in line for *${env}*: daplaya's Slack service stopped (a restart or a deploy), and it gives up the places it keeps. ${again}`
    : end.why === "timeout"
    ? `:hourglass: You waited ${
      formatAge(end.waitedMs)
    } in line for *${env}* without getting it, so you left the line. ${again}`
    : end.why === "refused"
    ? `:memo: You are no longer in line for *${env}*: ${esc(end.line)}. ${
      /requires a meta/.test(end.line)
        ? `In Slack, the meta is the text after the env: \`${command} lock ${env} why…\`, then *Join the line* to wait again.`
        : again
    }`
    : `:warning: You are no longer in line for *${env}*: daplaya could not keep your place (DynamoDB could not be reached). Nothing is held for you. ${again}`;
  return message("ephemeral", text, [section(text)]);
}

/** A Join click while `serve` is stopping. */
export function joinClosedMessage(env: string): SlackMessage {
  const text =
    `:warning: daplaya's Slack service is stopping, so it cannot keep a place in line for *${
      esc(env)
    }* now. Nothing was changed. Please try again in a moment.`;
  return message("ephemeral", text, [section(text)]);
}
