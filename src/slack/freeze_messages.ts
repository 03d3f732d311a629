/**
 * The answers about an env's policy in Slack: a `lock` refused by a freeze window or by a rule,
 * and `/daplaya freezes`. Block Kit, built from what happened, with no I/O. Times are shown as
 * `formatInstant` writes them (UTC, and the window's own zone): a window is set in its zone, so
 * that is the time people agreed on.
 */
import { currentOrNext, describeSchedule, formatInstant } from "../core/freeze.ts";
import type { NotAcquiredError } from "../core/errors.ts";
import type { Freeze, Policy } from "../core/model.ts";
import type { FreezeInForce } from "../core/policy.ts";
import { formatAge } from "../core/text.ts";
import type { Names, SlackIdentity } from "./identity.ts";
import { identityNote, joinButton, listMessage } from "./messages.ts";
import { context, esc, escCut, message, section, slackDate, type SlackMessage } from "./mrkdwn.ts";
import type { JoinValue } from "./parse.ts";

/** A window's reason as shown: escaped, cut, or `(no reason)`. */
function reasonText(f: Freeze): string {
  return f.reason.trim() === "" ? "(no reason)" : escCut(f.reason, 300);
}

/** The CLI line that locks through a freeze: Slack has no override. */
export function overrideHint(env: string): string {
  return `No override from Slack: to lock anyway, use the CLI, \`daplaya lock --env ${env} --override-freeze --meta "why"\`.`;
}

/** What a freeze answer offers: **Join the line**, or why not. */
export type FrozenOffer =
  | { join: JoinValue }
  /** This serve keeps places, but not for as long as the window lasts. */
  | { tooLong: number }
  /** This serve keeps no places in line. */
  | { none: true };

/**
 * `/daplaya lock ENV` refused by a freeze window: its reason, its end (UTC and its zone) and
 * its id, who holds the env and who waits, if anyone; then **Join the line** (the wait lasts
 * through the window) and the CLI's override.
 */
export function frozenMessage(
  env: string,
  frozen: FreezeInForce,
  refusal: Pick<NotAcquiredError, "holder" | "line">,
  who: SlackIdentity,
  names: Names,
  offer: FrozenOffer,
  command: string,
): SlackMessage {
  const f = frozen.freeze;
  let text = `:snowflake: *${env}* is frozen: ${reasonText(f)} — until ${
    formatInstant(frozen.end, f.tz)
  }. Window \`${esc(f.id)}\`.`;
  const holder = refusal.holder;
  if (holder) {
    const what = holder.kind === "uberlock" ? "an uberlock" : "a lock";
    text += ` It is held by *${names(holder.slot.user)}* (${what} since ${
      slackDate(holder.slot.createdAt)
    }).`;
  }
  const waiting = refusal.line.length;
  if (waiting > 0) text += ` ${waiting === 1 ? "1 waits" : `${waiting} wait`} in line for it.`;
  const hint = "join" in offer
    ? `Nothing was changed. *Join the line* to get it in turn once the freeze is over: I will message you when it is yours (\`leases ${env}\` shows the line).`
    : "tooLong" in offer
    ? `Nothing was changed. The freeze lasts longer than I keep a place in line (${
      formatAge(offer.tooLong)
    }), so joining the line now would not get it: try again when it is over.`
    : `Nothing was changed. Try again when it is over (\`${command} freezes ${env}\` shows the windows).`;
  return message("ephemeral", text, [
    section(text),
    context(`${hint} ${overrideHint(env)}`),
    ...identityNote(who),
    ...("join" in offer ? [joinButton(offer.join)] : []),
  ]);
}

/**
 * A lock refused by the env's rules (the core's line, e.g. `env PRODUCTION requires a meta
 * saying why: …`). Slack locks have no ttl, so the rule to meet is a required meta: the hint
 * says how to give one in Slack.
 */
export function ruleMessage(
  line: string,
  cmd: { verb: string; env: string },
  who: SlackIdentity,
  command: string,
): SlackMessage {
  const text = `:memo: ${esc(line)}`;
  const metaRule = /requires a meta/.test(line);
  return message("ephemeral", text, [
    section(text),
    ...(metaRule
      ? [context(
        `In Slack, the meta is the text after the env: \`${command} ${cmd.verb} ${cmd.env} deploy v1.2.3 for INC-42\`.`,
      )]
      : []),
    ...identityNote(who),
  ]);
}

/** A window as `/daplaya freezes` lists it: the occurrence in force, or the next one. */
export interface FreezeItem {
  env: string;
  freeze: Freeze;
  start: number;
  end: number;
  inForce: boolean;
}

/**
 * The windows in force at `now` and coming up, from envs' policies: in force first, then those
 * coming up, each by start; windows that are over are left out.
 */
export function freezeItems(
  policies: { env: string; policy: Policy }[],
  now: number,
): FreezeItem[] {
  const items: FreezeItem[] = [];
  for (const { env, policy } of policies) {
    for (const freeze of policy.freezes) {
      const o = currentOrNext(freeze, now);
      if (o !== undefined) items.push({ env, freeze, ...o, inForce: o.start <= now });
    }
  }
  return items.sort((a, b) =>
    Number(b.inForce) - Number(a.inForce) || a.start - b.start ||
    a.env.localeCompare(b.env) || a.freeze.id.localeCompare(b.freeze.id)
  );
}

/** `/daplaya freezes [ENV]`: each window in force or coming up, on one line. */
export function freezesMessage(env: string | undefined, items: FreezeItem[]): SlackMessage {
  const where = env ? ` on *${env}*` : "";
  if (items.length === 0) {
    const text = `No freeze windows in force or coming up${where}.`;
    return message("ephemeral", text, [section(text)]);
  }
  const lines = items.map(({ env, freeze: f, start, end, inForce }) => {
    const when = inForce
      ? `in force until ${formatInstant(end, f.tz)}`
      : `from ${formatInstant(start, f.tz)} until ${formatInstant(end, f.tz)}`;
    const mark = inForce ? ":snowflake:" : ":calendar:";
    return `• ${mark} *${env}* ${reasonText(f)} · ${when} · ${
      esc(describeSchedule(f))
    } · window \`${esc(f.id)}\``;
  });
  const now = items.filter((i) => i.inForce).length;
  const header = `Freeze windows${where}: ${now} in force, ${items.length - now} coming up`;
  return listMessage(
    header,
    lines,
    (n) => `…and ${n} more: \`daplaya freeze list\` lists them all`,
    "While a window is in force, a regular lock is refused; an uberlock is not.",
  );
}
