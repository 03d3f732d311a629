/**
 * Slack's mrkdwn and Block Kit primitives: escaping, cutting texts to Slack's limits, dates in
 * the reader's time zone, and the blocks every answer is made of.
 */
import { isoTime } from "../core/text.ts";

/** Slack's limit for the text of a section, and of each text in a context block. */
export const MAX_BLOCK_TEXT = 3000;

/** Fallback text: Slack truncates it at 40,000 characters and advises at most 4,000. */
const MAX_FALLBACK_TEXT = 4000;

// deno-lint-ignore no-explicit-any
export type Block = Record<string, any>;

export interface SlackMessage {
  response_type: "in_channel" | "ephemeral";
  /** Only for answers sent to an interaction's response_url. */
  replace_original?: boolean;
  /** Fallback text (notifications, screen readers); the blocks are what people see. */
  text: string;
  blocks: Block[];
}

/** Escapes text for Slack mrkdwn. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
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

/** Slack shows the date in the reader's time zone; the fallback is ISO 8601 UTC. */
export function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${isoTime(ms)}>`;
}

/** How long ago, as Slack shows it to the reader ("5 minutes ago"); the fallback is ISO 8601 UTC. */
export function slackAgo(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{ago}|${isoTime(ms)}>`;
}

/** Fallback text: the dates as ISO, without emoji codes. */
function plain(text: string): string {
  return text.replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, "$1").replace(/:[a-z_]+: /g, "");
}

/** A message; its fallback text is `text` without dates and emoji codes, cut to Slack's limit. */
export function message(
  responseType: SlackMessage["response_type"],
  text: string,
  blocks: Block[],
): SlackMessage {
  return { response_type: responseType, text: fit(plain(text), MAX_FALLBACK_TEXT), blocks };
}

/** Texts are cut to Slack's limit here, whatever built them (`fit` keeps entities whole). */
export function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: fit(text, MAX_BLOCK_TEXT) } };
}

export function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: fit(text, MAX_BLOCK_TEXT) }] };
}
