/**
 * Checks for the Markdown documentation (README.md, docs/*.md): relative links that point at
 * files of the repository, `#anchors` that point at headings (GitHub's slugs), and no mention
 * of things users do not have. Pure functions over text; tests/docs_test.ts runs them on the
 * repository and on broken samples.
 */
import { posix } from "node:path";

/** What a link target is, as far as the checker needs to know. */
export type Lookup = (path: string) => { exists: false } | { exists: true; text?: string };

/** A Markdown file: its path relative to the repository root ("docs/slack.md") and text. */
export interface Doc {
  path: string;
  text: string;
}

/** Phrases that refer to material users never get (internal files outside the repository). */
export const FORBIDDEN: { pattern: RegExp; why: string }[] = [
  { pattern: /\.\.\/shared\b/, why: "../shared is not part of the repository" },
  { pattern: /\bSPEC\.md\b/i, why: "SPEC.md is not part of the repository" },
  { pattern: /\bthe spec\b/i, why: '"the spec" is not part of the repository' },
  { pattern: /\bseed\b/i, why: '"the seed" means nothing to users' },
];

/** The text with fenced code blocks blanked (line breaks kept). */
function withoutFences(text: string): string {
  let out = "";
  let fence: string | null = null;
  for (const line of text.split(/(?<=\n)/)) {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === null && m) {
      fence = m[1];
    } else if (fence !== null && m && m[1][0] === fence[0] && m[1].length >= fence.length) {
      fence = null;
    } else if (fence === null) {
      out += line;
      continue;
    }
    out += blank(line);
  }
  return out;
}

function blank(s: string): string {
  return s.replace(/[^\n]/g, " ");
}

/** The text with fenced code blocks and inline code spans blanked (line breaks kept). */
export function withoutCode(text: string): string {
  return withoutFences(text).replace(/(`+)[\s\S]*?\1/g, blank);
}

/** GitHub's anchor for a heading text (github-slugger): lower case, punctuation dropped. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/[`*]/g, "") // code spans, emphasis
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Every anchor a Markdown text defines: heading slugs (duplicates get -1, -2, …), HTML ids. */
export function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const counts = new Map<string, number>();
  const plain = withoutFences(text);
  for (const line of plain.split("\n")) {
    const m = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of plain.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(m[1]);
  return found;
}

/** A link found in a document: where it points, as written, and on which line. */
export interface Link {
  target: string;
  line: number;
}

/** The links of a Markdown text: inline `[text](target)`, images, reference definitions. */
export function links(text: string): Link[] {
  const plain = withoutCode(text);
  const lineOf = (index: number) => plain.slice(0, index).split("\n").length;
  const found: Link[] = [];
  for (const m of plain.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) {
    found.push({ target: m[1].replace(/^<(.*)>$/, "$1"), line: lineOf(m.index) });
  }
  for (const m of plain.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)) {
    found.push({ target: m[1].replace(/^<(.*)>$/, "$1"), line: lineOf(m.index) });
  }
  return found;
}

/** True for targets with a scheme (https:, mailto:, …): not files of the repository. */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * What is wrong with the relative links of `doc`, one line per problem ("README.md:12: …"):
 * a target outside the repository, a file that does not exist, an anchor that is not a
 * heading of its (Markdown) file.
 */
export function linkProblems(doc: Doc, lookup: Lookup): string[] {
  const problems: string[] = [];
  for (const { target, line } of links(doc.text)) {
    if (isExternal(target)) continue;
    const where = `${doc.path}:${line}: (${target})`;
    const hash = target.indexOf("#");
    const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const file = pathPart === "" ? doc.path : posix.normalize(
      pathPart.startsWith("/") ? pathPart.slice(1) : posix.join(posix.dirname(doc.path), pathPart),
    );
    if (file === ".." || file.startsWith("../")) {
      problems.push(`${where} points outside the repository`);
      continue;
    }
    const found = file === doc.path ? { exists: true as const, text: doc.text } : lookup(file);
    if (!found.exists) {
      problems.push(`${where} ${file} does not exist`);
      continue;
    }
    if (anchor !== undefined && file.endsWith(".md")) {
      if (found.text === undefined || !anchors(found.text).has(anchor)) {
        problems.push(`${where} ${file} has no heading #${anchor}`);
      }
    }
  }
  return problems;
}

/** Mentions of FORBIDDEN phrases, one line each ("docs/x.md:3: ../shared is not …"). */
export function forbiddenMentions(doc: Doc): string[] {
  const problems: string[] = [];
  doc.text.split("\n").forEach((text, i) => {
    for (const { pattern, why } of FORBIDDEN) {
      if (pattern.test(text)) problems.push(`${doc.path}:${i + 1}: ${why}`);
    }
  });
  return problems;
}
