/**
 * What `serve` posts by itself (chat.postMessage): one short line per lock event, and the
 * reminders to holders. Built from the event, with no I/O; holders are shown as Slack mentions
 * where `names` knows them.
 */
import type { LockEvent, Reminder } from "../core/events.ts";
import type { LockRecord } from "../core/model.ts";
import { formatAge } from "../core/text.ts";
import type { Names } from "./identity.ts";
import { releaseButton } from "./messages.ts";
import { type Block, esc, escCut, message, section, slackDate } from "./mrkdwn.ts";

/** A chat.postMessage body without its channel. */
export interface Post {
  /** Fallback text (notifications); the blocks are what people see. */
  text: string;
  blocks: Block[];
}

/** At most this much mrkdwn of the meta in one post: a line, not a page. */
const MAX_META = 500;
/** A link's label (the URL without its scheme) is cut to this many characters. */
const MAX_LINK_LABEL = 60;
/** URLs in meta become links; they end at a space or at a character Slack's links refuse. */
const URL_RE = /https?:\/\/[^\s<>|"'`]+/g;

export function eventPost(e: LockEvent, names: Names): Post {
  const r = e.record;
  const holder = `*${names(r.user)}*`;
  const meta = ` · meta: ${metaMrkdwn(r.meta)}`;
  if (e.type === "locked") {
    const what = r.uberlock ? "uberlocked" : "locked";
    const text = e.tookOverFrom
      ? `${
        r.uberlock ? ":rotating_light:" : ":lock:"
      } *${r.env}* ${what} by ${holder}, taken over from *${
        names(e.tookOverFrom.user)
      }* whose lease ran out${meta}`
      : r.uberlock
      ? `:rotating_light: *${r.env}* uberlocked by ${holder}: nobody else can take a new lock until it is released${meta}`
      : `:lock: *${r.env}* locked by ${holder}${meta}`;
    return post(text, [section(text), releaseButton(heldOf(r))]);
  }
  const after = r.releasedAt !== undefined ? ` after ${formatAge(r.releasedAt - r.createdAt)}` : "";
  const what = r.uberlock ? "uberlock" : "lock";
  const text = r.forced
    ? `:warning: *${r.env}* ${what} of ${holder} force-released by *${
      names(r.releasedBy ?? "someone")
    }*${after}${r.uberlock ? ": the freeze is over" : ""}${meta}`
    : r.uberlock
    ? `:white_check_mark: *${r.env}* uberlock released by ${holder}${after}: the freeze is over${meta}`
    : `:unlock: *${r.env}* released by ${holder}${after}${meta}`;
  return post(text, [section(text)]);
}

/**
 * A reminder that a lock is still held: `direct` in a direct message to its holder, otherwise
 * in the env's channel (the holder has no Slack user).
 */
export function reminderPost(r: Reminder, names: Names, direct: boolean): Post {
  const l = r.record;
  const what = l.uberlock ? "uberlock" : "lock";
  const held = `the ${what} on *${l.env}* for ${formatAge(r.heldMs)} (since ${
    slackDate(l.createdAt)
  }) · meta: ${metaMrkdwn(l.meta)}`;
  const text = direct
    ? `:alarm_clock: You have held ${held}. Release it when you are done.`
    : `:alarm_clock: *${names(l.user)}* has held ${held}`;
  return post(text, [section(text), releaseButton(heldOf(l))]);
}

/**
 * Meta as mrkdwn: escaped, with each http(s) URL as a link labelled with the URL without its
 * scheme (`<https://ci.example.com/run/42|ci.example.com/run/42>`); at most `max` characters,
 * ending in `…` when cut (never inside a link or an entity).
 */
export function metaMrkdwn(meta: string, max = MAX_META): string {
  let out = "";
  let at = 0;
  const add = (raw: string): boolean => {
    const e = esc(raw);
    if (out.length + e.length <= max) {
      out += e;
      return true;
    }
    out += escCut(raw, Math.max(1, max - out.length));
    return false;
  };
  for (const m of meta.matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    if (!add(meta.slice(at, m.index))) return out;
    const label = escCut(url.replace(/^https?:\/\//, ""), MAX_LINK_LABEL);
    const link = `<${esc(url)}|${label}>`;
    if (out.length + link.length > max) return `${out}…`;
    out += link;
    at = m.index + url.length;
  }
  add(meta.slice(at));
  return out;
}

/** Sentence punctuation after a URL, and a closing parenthesis it did not open, are not part of it. */
function trimUrl(url: string): string {
  const count = (c: string) => url.split(c).length - 1;
  for (;;) {
    if (/[.,;:!?]$/.test(url)) url = url.slice(0, -1);
    else if (url.endsWith(")") && count("(") < count(")")) url = url.slice(0, -1);
    else return url;
  }
}

function post(text: string, blocks: Block[]): Post {
  const m = message("in_channel", text, blocks);
  return { text: m.text, blocks: m.blocks };
}

function heldOf(record: LockRecord) {
  return { record, kind: record.uberlock ? "uberlock" as const : "regular" as const };
}
