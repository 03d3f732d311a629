/**
 * The status pages as HTML text: every env with its holder and line, and one env's history.
 * No scripts: the page refreshes itself with `<meta http-equiv="refresh">`, links are plain
 * links, and the one style sheet is inline (allowed by its hash in the Content-Security-Policy).
 */
import type { Waiter } from "../core/locker.ts";
import type { LockRecord } from "../core/model.ts";
import { formatAge, isoTime } from "../core/text.ts";
import { Html, linkify, markup, raw } from "./html.ts";

/** The page's only style sheet; its SHA-256 goes into the Content-Security-Policy. */
export const STYLE = `
:root { color-scheme: light dark; --muted: #6a737d; --line: #d0d7de; --free: #1a7f37; --held: #cf222e; --uber: #8250df; }
@media (prefers-color-scheme: dark) { :root { --muted: #8b949e; --line: #30363d; --free: #3fb950; --held: #f85149; --uber: #a371f7; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
p.note { color: var(--muted); margin: 0 0 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
td.meta { overflow-wrap: anywhere; max-width: 28rem; }
.env { font-weight: 600; white-space: nowrap; }
.free { color: var(--free); font-weight: 600; }
.held { color: var(--held); font-weight: 600; }
.uberlock { color: var(--uber); font-weight: 600; }
.muted { color: var(--muted); }
ol.line { margin: 0; padding-left: 1.4rem; }
ol.line li { margin: 0 0 .2rem; }
time { white-space: nowrap; }
`;

export interface OverviewData {
  envs: string[];
  locks: LockRecord[];
  waiting: Waiter[];
}

const CURRENT_HEAD = raw(
  "<thead><tr><th>Env</th><th>Holder</th><th>Kind</th><th>Held for</th><th>Meta</th><th>Lease ends</th><th>Line</th></tr></thead>",
);
const HISTORY_HEAD = raw(
  "<thead><tr><th>Taken</th><th>Holder</th><th>Kind</th><th>Held for</th><th>Ended</th><th>Meta</th></tr></thead>",
);

/** `GET /`: every env with its holder, kind, held for, meta, lease end and line. */
export function overviewPage(data: OverviewData, now: number, refreshSeconds: number): string {
  const byEnv = Map.groupBy(data.locks, (r) => r.env);
  const lines = Map.groupBy(data.waiting, (w) => w.env);
  const rows = data.envs.map((env) =>
    // A path segment `.` or `..` would not reach the env: those two names get no link.
    envRows(
      env,
      byEnv.get(env) ?? [],
      lines.get(env) ?? [],
      now,
      dots(env) ? undefined : `env/${env}`,
    )
  );
  const held = new Set(data.locks.map((r) => r.env)).size;
  const envs = `${data.envs.length} ${data.envs.length === 1 ? "env" : "envs"}`;
  const body = data.envs.length === 0
    ? markup`<p>No envs yet: the first <code>daplaya lock --env NAME</code> adds one.</p>`
    : markup`<table>\n${CURRENT_HEAD}\n<tbody>\n${rows}</tbody>\n</table>`;
  return layout(
    "daplaya: locks",
    refreshSeconds,
    markup`<h1>Locks</h1>
<p class="note">${envs}, ${held} held. ${
      updated(now, refreshSeconds)
    } <a href="api/locks">JSON</a></p>
${body}`,
  );
}

/** `GET /env/<ENV>`: who holds it and waits now, and its recent records, newest first. */
export function envPage(
  env: string,
  current: { locks: LockRecord[]; waiting: Waiter[] },
  history: LockRecord[],
  now: number,
  refreshSeconds: number,
): string {
  const rows = history.map((r) =>
    markup`<tr><td>${ago(r.createdAt, now)}</td><td>${who(r.user)}</td><td>${kind(r)}</td><td>${
      duration(r.createdAt, r.active ? now : r.releasedAt ?? r.updatedAt)
    }</td><td>${ended(r, now)}</td><td class="meta">${linkify(r.meta)}</td></tr>\n`
  );
  const recent = history.length === 0
    ? markup`<p>No locks recorded on env ${env}.</p>`
    : markup`<table>\n${HISTORY_HEAD}\n<tbody>\n${rows}</tbody>\n</table>`;
  return layout(
    `daplaya: ${env}`,
    refreshSeconds,
    markup`<p><a href="../">All envs</a></p>
<h1>${env}</h1>
<p class="note">${updated(now, refreshSeconds)}</p>
<p><img src="../badge/${env}.svg" alt="${env} badge"> <code>badge/${env}.svg</code></p>
<table>
${CURRENT_HEAD}
<tbody>
${envRows(env, current.locks, current.waiting, now)}</tbody>
</table>
<h2>Recent history</h2>
${recent}`,
  );
}

/** One row per lock of the env (one `free` row when none), the env and its line spanning them. */
function envRows(
  env: string,
  locks: LockRecord[],
  line: Waiter[],
  now: number,
  link?: string,
): Html {
  const span = Math.max(locks.length, 1);
  const name = link ? markup`<a href="${link}">${env}</a>` : markup`${env}`;
  const first = markup`<td class="env" rowspan="${span}">${name}</td>`;
  const waiters = markup`<td rowspan="${span}">${lineList(line, now)}</td>`;
  if (locks.length === 0) {
    return markup`<tr>${first}<td><span class="free">free</span></td><td></td><td></td><td></td><td></td>${waiters}</tr>\n`;
  }
  return markup`${
    locks.map((r, i) =>
      markup`<tr>${i === 0 ? first : ""}<td><span class="${r.uberlock ? "uberlock" : "held"}">${
        who(r.user)
      }</span></td><td>${kind(r)}</td><td>${duration(r.createdAt, now)}</td><td class="meta">${
        linkify(r.meta)
      }</td><td>${leaseEnd(r, now)}</td>${i === 0 ? waiters : ""}</tr>\n`
    )
  }`;
}

/** The line, first = next: who, how long they have waited, their meta. */
function lineList(line: Waiter[], now: number): Html {
  if (line.length === 0) return markup`<span class="muted">nobody waits</span>`;
  return markup`<ol class="line">${
    line.map((w) =>
      markup`<li>${who(w.user)} <span class="muted">waiting ${duration(w.since, now)}</span>${
        w.meta ? markup` <span class="meta">${linkify(w.meta)}</span>` : ""
      }</li>`
    )
  }</ol>`;
}

function layout(title: string, refreshSeconds: number, body: Html): string {
  return markup`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="${refreshSeconds}">
<title>${title}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
${body}
</body>
</html>
`.value;
}

function updated(now: number, refreshSeconds: number): Html {
  return markup`Updated <time datetime="${isoTime(now)}">${isoTime(now)}</time>, again every ${
    formatAge(refreshSeconds * 1000)
  }.`;
}

function who(user: string): Html {
  return user ? markup`${user}` : markup`<span class="muted">(no user)</span>`;
}

function kind(r: LockRecord): string {
  return r.uberlock ? "uberlock" : "lock";
}

/** An absolute UTC time, shown as `text`. */
function time(at: number, text: string, title = isoTime(at)): Html {
  return markup`<time datetime="${isoTime(at)}" title="${title}">${text}</time>`;
}

/** How long from `from` to `to`, with the start as an absolute UTC time. */
function duration(from: number, to: number): Html {
  return time(from, formatAge(to - from), `since ${isoTime(from)}`);
}

/** `4m12s ago`, with the absolute UTC time. */
function ago(at: number, now: number): Html {
  return time(at, `${formatAge(now - at)} ago`);
}

function leaseEnd(r: LockRecord, now: number): Html {
  if (r.expiresAt === undefined) return markup`<span class="muted">when released</span>`;
  return r.expiresAt > now
    ? markup`in ${time(r.expiresAt, formatAge(r.expiresAt - now))}`
    : markup`ran out ${ago(r.expiresAt, now)}`;
}

function ended(r: LockRecord, now: number): Html {
  if (r.active) {
    return markup`${r.expiresAt !== undefined && r.expiresAt <= now ? "lease ran out" : "held"}`;
  }
  if (r.releasedAt !== undefined) {
    return markup`${r.forced ? "forced" : "released"} by ${r.releasedBy ?? "?"} ${
      ago(r.releasedAt, now)
    }`;
  }
  if (r.supersededBy) return markup`lease ran out, taken over ${ago(r.updatedAt, now)}`;
  return markup`ended ${ago(r.updatedAt, now)}`;
}

function dots(env: string): boolean {
  return env === "." || env === "..";
}
