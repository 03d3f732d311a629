/**
 * HTML (and SVG) built from text that may be hostile: every value put into `markup\`…\`` is
 * escaped unless it is itself `Html` built the same way. Stored values (users, meta) only ever
 * reach the page through here.
 */

/** Markup that is already safe: made by `markup` or `raw` only. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

// XML 1.0 allows no C0 controls but tab, LF and CR, and no U+FFFE/U+FFFF; HTML warns on them.
// deno-lint-ignore no-control-regex
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]/g;
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Text as HTML or XML character data, safe in element content and in quoted attribute values:
 * `& < > " '` become entities; characters XML forbids become U+FFFD.
 */
export function escapeHtml(text: string): string {
  return text.replace(NOT_XML, "\ufffd").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A value as markup: `Html` as it is, lists joined, nothing for null/undefined/false. */
function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(String(value));
}

/** A template whose interpolated values are escaped (see `render`). */
export function markup(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Html(out);
}

/** Markup written in this code, never from stored values: constant text only. */
export function raw(text: string): Html {
  return new Html(text);
}

/**
 * `http(s)://…` in free text, up to whitespace, a quote or an angle bracket. Trailing
 * punctuation (`deploy (https://ci/1).`) is left out of the link by `linkify`.
 */
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/**
 * Free text (a meta) with its http(s) URLs as links: everything escaped, only URLs that parse
 * as http or https become `<a href>` (never `javascript:` or `data:`), opened without a referrer
 * or a handle on this page.
 */
export function linkify(text: string): Html {
  const parts: unknown[] = [];
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) continue;
    parts.push(text.slice(at, m.index));
    parts.push(markup`<a href="${parsed.href}" rel="noopener noreferrer nofollow">${url}</a>`);
    at = m.index + url.length;
  }
  parts.push(text.slice(at));
  return markup`${parts}`;
}

/** Drops trailing punctuation and a closing parenthesis the URL did not open. */
function trimUrl(url: string): string {
  let end = url.length;
  for (;;) {
    const last = url[end - 1];
    if (/[.,;:!?]/.test(last)) end--;
    else if (last === ")" && count(url.slice(0, end), "(") < count(url.slice(0, end), ")")) end--;
    else break;
  }
  return url.slice(0, end);
}

function count(s: string, c: string): number {
  return s.split(c).length - 1;
}
