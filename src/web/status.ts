/**
 * The read-only status page that `daplaya serve` answers beside the Slack endpoint:
 *
 * - `GET /`: every env with its holder, kind, held for, meta, lease end and line, refreshing
 *   itself;
 * - `GET /env/<ENV>`: that env now, and its recent history;
 * - `GET /api/locks`: the document `daplaya locks --json` prints;
 * - `GET /badge/<ENV>.svg`: `PRODUCTION | locked by alice`, `PRODUCTION | free`.
 *
 * A plain `(Request) => Promise<Response | undefined>`: undefined for any other path, which the
 * caller hands on (to the Slack handler). No scripts anywhere, a strict Content-Security-Policy,
 * and optionally HTTP Basic authentication.
 */
import type { Clock } from "../core/clock.ts";
import type { Locker } from "../core/locker.ts";
import { parseEnv } from "../core/parse.ts";
import { jsonText, readLocks } from "../core/report.ts";
import { isoTime } from "../core/text.ts";
import { BasicAuth, DEFAULT_REFRESH_SECONDS, type StatusAuth } from "./auth.ts";

export { DEFAULT_REFRESH_SECONDS };
import { badgeState, badgeSvg } from "./badge.ts";
import { envPage, overviewPage, STYLE } from "./pages.ts";

/** How often the page reloads itself unless told otherwise (DAPLAYA_STATUS_REFRESH). */
/** Records shown on an env's page. */
const HISTORY_LIMIT = 50;

export interface StatusHandlerDeps {
  locker: Locker;
  clock: Clock;
  /** When set, every status route needs these credentials (HTTP Basic). */
  auth?: StatusAuth;
  /** Seconds between the page's reloads (default 10). */
  refreshSeconds?: number;
  /** One line per request it answers; never given credentials. */
  log?(line: string): void;
}

export type StatusHandler = (req: Request) => Promise<Response | undefined>;

type Route =
  | { page: "overview" }
  | { page: "favicon" }
  | { page: "api" }
  | { page: "env"; raw: string }
  | { page: "badge"; raw: string };

/** Which status route a path is, if any. */
export function statusRoute(path: string): Route | undefined {
  if (path === "/") return { page: "overview" };
  if (path === "/api/locks") return { page: "api" };
  // Browsers ask for it at every load: an empty answer they may keep, rather than a 404.
  if (path === "/favicon.ico") return { page: "favicon" };
  if (path.startsWith("/env/")) return { page: "env", raw: path.slice("/env/".length) };
  const badge = /^\/badge\/(.+)\.svg$/.exec(path);
  if (badge) return { page: "badge", raw: badge[1] };
  return undefined;
}

const NO_SCRIPTS =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function createStatusHandler(deps: StatusHandlerDeps): StatusHandler {
  const basic = deps.auth ? new BasicAuth(deps.auth) : undefined;
  const refresh = deps.refreshSeconds ?? DEFAULT_REFRESH_SECONDS;
  // The page's policy: no scripts, no sources at all but its own style sheet and images.
  const pagePolicy = crypto.subtle.digest("SHA-256", new TextEncoder().encode(STYLE)).then(
    (d) => `${NO_SCRIPTS}; style-src 'sha256-${new Uint8Array(d).toBase64()}'; img-src 'self'`,
  );

  async function answer(req: Request, route: Route, note: { error?: string }) {
    if (basic && !await basic.allows(req.headers.get("authorization"))) {
      return text(401, "authentication required\n", {
        "www-authenticate": 'Basic realm="daplaya", charset="UTF-8"',
      });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, "method not allowed: the status page is read-only\n", {
        allow: "GET, HEAD",
      });
    }
    let env: string | undefined;
    if (route.page === "env" || route.page === "badge") {
      env = envOf(route.raw);
      if (env === undefined) {
        return text(400, "bad env name: use 1-64 characters of A-Z a-z 0-9 _ . -\n");
      }
    }
    const now = () => deps.clock.now();
    try {
      switch (route.page) {
        case "overview": {
          const data = await deps.locker.overview();
          return page(200, overviewPage(data, now(), refresh), await pagePolicy);
        }
        case "env": {
          const [current, history] = await Promise.all([
            readLocks(deps.locker, env),
            deps.locker.history(env!, HISTORY_LIMIT),
          ]);
          const known = history.length > 0 || current.locks.length > 0 ||
            current.waiting.length > 0;
          const body = envPage(env!, current, history, now(), refresh);
          return page(known ? 200 : 404, body, await pagePolicy);
        }
        case "favicon":
          return new Response(null, {
            status: 204,
            headers: { ...COMMON, "cache-control": "max-age=86400" },
          });
        case "api":
          return respond(200, jsonText(await readLocks(deps.locker)), {
            "content-type": "application/json; charset=utf-8",
            "cache-control": "no-store",
          });
        case "badge": {
          const locks = await deps.locker.list(env);
          const ever = locks.length > 0 || (await deps.locker.history(env!, 1)).length > 0;
          const { text: state, color } = badgeState(locks, ever);
          return respond(200, badgeSvg(env!, state, color), {
            "content-type": "image/svg+xml; charset=utf-8",
            "cache-control": "no-cache",
          });
        }
      }
    } catch (e) {
      note.error = (e as Error)?.message ?? String(e);
      return text(503, "could not read the locks; try again\n");
    }
  }

  return async (req) => {
    const path = new URL(req.url).pathname;
    const route = statusRoute(path);
    if (!route) return undefined;
    const started = deps.clock.monotonic();
    const note: { error?: string } = {};
    let res: Response;
    try {
      res = await answer(req, route, note);
    } catch (e) {
      note.error = (e as Error)?.message ?? String(e);
      res = text(500, "internal error\n");
    }
    if (deps.log) {
      const ms = Math.round(deps.clock.monotonic() - started);
      const error = note.error === undefined
        ? []
        : [`error=${JSON.stringify(note.error.slice(0, 200))}`];
      deps.log(
        [
          isoTime(deps.clock.now(), { millis: true }),
          req.method,
          path.slice(0, 100),
          res.status,
          `${ms}ms`,
          ...error,
        ]
          .join(" "),
      );
    }
    return res;
  };
}

/** The env a path names (URL-decoded, then checked like `--env`), or undefined. */
function envOf(raw: string): string | undefined {
  try {
    return parseEnv(decodeURIComponent(raw));
  } catch {
    return undefined;
  }
}

/** Headers on every status answer. */
const COMMON = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

function respond(status: number, body: string, headers: Record<string, string>): Response {
  return new Response(body, {
    status,
    headers: { "content-security-policy": NO_SCRIPTS, ...COMMON, ...headers },
  });
}

function page(status: number, body: string, policy: string): Response {
  return respond(status, body, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": policy,
  });
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return respond(status, body, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  });
}
