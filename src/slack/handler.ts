/**
 * The Slack endpoint as a plain `(Request) => Promise<Response>`: routing, body limit,
 * signature and app checks, then the commands. Everything it touches is injected, so it runs
 * the same under `Deno.serve` and in tests.
 */
import type { Clock } from "../core/clock.ts";
import { type Locker, Observations } from "../core/locker.ts";
import type { Policies } from "../core/policy.ts";
import { isoTime } from "../core/text.ts";
import {
  DeadlineExceeded,
  type Outcome,
  type RunContext,
  runJoinButton,
  runReleaseButton,
  runSlash,
} from "./commands.ts";
import { JOIN_ACTION, RELEASE_ACTION, RELEASE_UBERLOCK_ACTION } from "./messages.ts";
import { SlackWaiters } from "./waiters.ts";
import type { SlackMessage } from "./mrkdwn.ts";
import { isSlackUserId, SlackIdentities } from "./identity.ts";
import { appIdAllowed, SlackVerifier } from "./verify.ts";

/** Slack sends far less; anything bigger is refused before it is verified or parsed. */
const MAX_BODY_BYTES = 16 * 1024;
/** Engine calls on the reply path must settle within this, so Slack hears back within 3 s. */
const DEFAULT_REPLY_BUDGET_MS = 2500;
/** Mentions are looked up only while at least this much of the reply budget is left after. */
const NAMES_MARGIN_MS = 300;
import { DEFAULT_SLACK_API_URL } from "./settings.ts";

export { DEFAULT_SLACK_API_URL };

export interface SlackHandlerDeps {
  /** The same engine as the CLI, on whatever store. */
  locker: Locker;
  /**
   * The envs' policies on the locker's store (`new Policies(store, clock)`), for
   * `/daplaya freezes`; without it, that command says it cannot read them.
   */
  policies?: Policies;
  clock: Clock;
  signingSecret: string;
  /** When set, requests for other apps get 403. */
  appId?: string;
  /** For users.info (locks as the email); without it users are `slack:<user_id>`. */
  botToken?: string;
  /** Slack Web API base URL (DAPLAYA_SLACK_API_URL), default https://slack.com/api */
  apiUrl?: string;
  /** One line per request; never given secrets, tokens or response URLs. */
  log(line: string): void;
  replyBudgetMs?: number;
  /** How often a Slack user's place in line is renewed (default 5 s). */
  waitIntervalMs?: number;
  /** The longest a Slack user waits in line (default 8 h; 29 min without a bot token). */
  maxWaitMs?: number;
}

export interface SlackHandler {
  (req: Request): Promise<Response>;
  /**
   * At shutdown: ends the waits of Slack users who joined a line here (`stopWaiting`), then
   * waits until answers still being posted to Slack's response_url are sent.
   */
  drain(): Promise<void>;
  /**
   * Ends the waits of Slack users who joined a line here: each leaves its line, and its user
   * is told; a Join clicked after it is refused.
   */
  stopWaiting(): Promise<void>;
}

const COMMANDS_PATH = "/slack/commands";
const INTERACTIONS_PATH = "/slack/interactions";
const COMMAND_RE = /^\/[A-Za-z0-9_.-]{1,40}$/;
const decoder = new TextDecoder();

/** What the log line says about a request, beyond method, path, status and time. */
type Note = Partial<Record<typeof LOG_FIELDS[number], string>>;
const LOG_FIELDS = ["cmd", "env", "user", "result", "reason", "error"] as const;

export function createSlackHandler(deps: SlackHandlerDeps): SlackHandler {
  const verifier = new SlackVerifier(deps.signingSecret);
  const identities = new SlackIdentities({
    apiUrl: deps.apiUrl ?? DEFAULT_SLACK_API_URL,
    ...(deps.botToken ? { botToken: deps.botToken } : {}),
    clock: deps.clock,
  });
  const budget = deps.replyBudgetMs ?? DEFAULT_REPLY_BUDGET_MS;
  const pending = new Set<Promise<void>>();
  // What this handler's lock requests have seen of each env, for as long as it serves.
  const seen = new Observations();
  const waiters = new SlackWaiters({
    locker: deps.locker,
    clock: deps.clock,
    seen,
    apiUrl: deps.apiUrl ?? DEFAULT_SLACK_API_URL,
    ...(deps.botToken ? { botToken: deps.botToken } : {}),
    ...(deps.waitIntervalMs !== undefined ? { intervalMs: deps.waitIntervalMs } : {}),
    ...(deps.maxWaitMs !== undefined ? { maxWaitMs: deps.maxWaitMs } : {}),
    log: deps.log,
  });

  async function handle(
    req: Request,
    path: string,
    note: Note,
    deadlineAt: number,
  ): Promise<Response> {
    if (path === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") return status(405, "GET, HEAD");
      return new Response("ok\n", { headers: { "content-type": "text/plain" } });
    }
    if (path !== COMMANDS_PATH && path !== INTERACTIONS_PATH) return status(404);
    if (req.method !== "POST") return status(405, "POST");
    const body = await readLimited(req, MAX_BODY_BYTES);
    if (body === "too large") return status(413);
    if (body === "unreadable") return status(400);
    const verdict = await verifier.verify(
      req.headers.get("x-slack-request-timestamp"),
      req.headers.get("x-slack-signature"),
      body,
      deps.clock.now(),
    );
    if (!verdict.ok) {
      note.reason = verdict.reason;
      return status(401);
    }
    const form = new URLSearchParams(decoder.decode(body));
    if (form.get("ssl_check") === "1") {
      note.result = "ssl_check";
      return new Response(null, { status: 200 });
    }
    return path === COMMANDS_PATH
      ? await command(form, note, deadlineAt)
      : await interaction(form, note, deadlineAt);
  }

  async function command(form: URLSearchParams, note: Note, deadlineAt: number) {
    if (!appIdAllowed(deps.appId, form.get("api_app_id"))) {
      note.reason = "other api_app_id";
      return status(403);
    }
    const userId = form.get("user_id") ?? "";
    if (!isSlackUserId(userId)) {
      note.reason = "missing user_id";
      return status(400);
    }
    const text = form.get("text") ?? "";
    note.cmd = /^\s*([A-Za-z]{1,12})(\s|$)/.exec(text)?.[1].toLowerCase() ?? (text ? "?" : "help");
    note.user = userId;
    const responseUrl = form.get("response_url") ?? "";
    // A late outcome is posted only after this answer has been handed over.
    const handOver = Promise.withResolvers<void>();
    const ctx = runContext(
      userId,
      form.get("user_name"),
      form.get("command"),
      deadlineAt,
      (late) => track(followUp(late, handOver.promise, responseUrl, { ...note })),
    );
    let outcome: Outcome;
    try {
      outcome = await runSlash(text, ctx);
    } finally {
      handOver.resolve();
    }
    noted(outcome, note);
    return Response.json(outcome.message);
  }

  async function interaction(form: URLSearchParams, note: Note, deadlineAt: number) {
    let payload: InteractionPayload;
    try {
      payload = JSON.parse(form.get("payload") ?? "");
      if (typeof payload !== "object" || payload === null) throw new Error("not an object");
    } catch {
      note.reason = "malformed payload";
      return status(400);
    }
    if (!appIdAllowed(deps.appId, payload.api_app_id)) {
      note.reason = "other api_app_id";
      return status(403);
    }
    const action = Array.isArray(payload.actions) ? payload.actions[0] : undefined;
    const actionId = action?.action_id;
    note.cmd = typeof payload.type === "string" ? payload.type.slice(0, 40) : "?";
    const join = actionId === JOIN_ACTION;
    if (
      payload.type !== "block_actions" ||
      (!join && actionId !== RELEASE_ACTION && actionId !== RELEASE_UBERLOCK_ACTION)
    ) {
      note.result = "ignored";
      return new Response(null, { status: 200 });
    }
    note.cmd = actionId;
    const userId = typeof payload.user?.id === "string" ? payload.user.id : "";
    const responseUrl = typeof payload.response_url === "string" ? payload.response_url : "";
    if (!isSlackUserId(userId) || !/^https?:\/\//.test(responseUrl)) {
      note.reason = "missing user or response_url";
      return status(400);
    }
    note.user = userId;
    const userName = payload.user?.username ?? payload.user?.name;
    const handOver = Promise.withResolvers<void>();
    const ctx = runContext(
      userId,
      typeof userName === "string" ? userName : null,
      null,
      deadlineAt,
      (late) => track(followUp(late, handOver.promise, responseUrl, { ...note })),
    );
    let outcome: Outcome;
    try {
      const value = typeof action?.value === "string" ? action.value : undefined;
      outcome = join
        ? await runJoinButton(value, ctx, { userId, responseUrl })
        : await runReleaseButton(value, actionId === RELEASE_UBERLOCK_ACTION, ctx);
    } catch (e) {
      handOver.resolve();
      throw e;
    }
    noted(outcome, note);
    // Slack ignores the body of an answer to a button: the reply goes to response_url, after
    // the acknowledgement, so a slow post never makes the button time out. A late outcome
    // follows it, never overtakes it.
    const posted = respond(responseUrl, outcome.message, userId);
    track(posted);
    posted.finally(handOver.resolve);
    return new Response(null, { status: 200 });
  }

  function runContext(
    userId: string,
    userName: string | null,
    command: string | null,
    deadlineAt: number,
    late: RunContext["late"],
  ): RunContext {
    const remaining = () => deadlineAt - deps.clock.monotonic();
    return {
      locker: deps.locker,
      seen,
      command: command && COMMAND_RE.test(command) ? command : "/daplaya",
      who: () => identities.resolve(userId, userName ?? undefined, remaining()),
      // Names leave time for the answer itself: what is not known by then is shown as it is.
      names: (users) => identities.names(users, remaining() - NAMES_MARGIN_MS),
      within: (call) => withDeadline(call, remaining()),
      late,
      waiters,
      ...(deps.policies ? { policies: deps.policies } : {}),
      now: () => deps.clock.now(),
    };
  }

  /**
   * Posts the real outcome of a lock or release that was answered "state unknown", once it
   * settles and the first answer has been handed over; logs one `late` line for it.
   */
  async function followUp(
    late: Promise<Outcome>,
    handedOver: Promise<void>,
    responseUrl: string,
    note: Note,
  ): Promise<void> {
    const outcome = await late;
    await handedOver;
    delete note.reason;
    delete note.error;
    noted(outcome, note);
    deps.log([stamp(), "late", ...logFields(note)].join(" "));
    if (!/^https?:\/\//.test(responseUrl)) {
      deps.log(`${stamp()} late outcome not posted: no response_url user=${note.user}`);
      return;
    }
    await respond(responseUrl, outcome.message, note.user ?? "?");
  }

  async function respond(url: string, message: SlackMessage, userId: string): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5000);
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(message),
        signal: abort.signal,
      });
      await res.body?.cancel();
      if (!res.ok) deps.log(`${stamp()} response_url answered ${res.status} user=${userId}`);
    } catch (e) {
      deps.log(`${stamp()} response_url post failed (${(e as Error).name}) user=${userId}`);
    } finally {
      clearTimeout(timer);
    }
  }

  function track(p: Promise<void>) {
    pending.add(p);
    p.finally(() => pending.delete(p));
  }

  function stamp() {
    return isoTime(deps.clock.now(), { millis: true });
  }

  const handler = async (req: Request): Promise<Response> => {
    const started = deps.clock.monotonic();
    const note: Note = {};
    const path = new URL(req.url).pathname;
    let res: Response;
    try {
      res = await handle(req, path, note, started + budget);
    } catch (e) {
      note.error = (e as Error)?.message ?? String(e);
      res = status(500);
    }
    const ms = Math.round(deps.clock.monotonic() - started);
    const fields = logFields(note);
    deps.log([stamp(), req.method, path.slice(0, 100), res.status, `${ms}ms`, ...fields].join(" "));
    return res;
  };
  return Object.assign(handler, {
    drain: async () => {
      await waiters.close();
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    stopWaiting: () => waiters.close(),
  });
}

interface InteractionPayload {
  type?: unknown;
  api_app_id?: unknown;
  response_url?: unknown;
  user?: { id?: unknown; username?: unknown; name?: unknown };
  actions?: { action_id?: unknown; value?: unknown }[];
}

function logFields(note: Note): string[] {
  return LOG_FIELDS
    .filter((k) => note[k] !== undefined)
    .map((k) => {
      const v = note[k]!;
      return `${k}=${/^[\w.@:+-]+$/.test(v) ? v : JSON.stringify(v.slice(0, 200))}`;
    });
}

/** Records what happened for the log line. */
function noted(outcome: Outcome, note: Note): void {
  note.result = outcome.result;
  if (outcome.env) note.env = outcome.env;
  if (outcome.error) note.error = outcome.error;
}

/** Races an engine call against the time left; a late result is dropped, never unhandled. */
function withDeadline<T>(call: Promise<T>, ms: number): Promise<T> {
  call.catch(() => {});
  if (ms <= 0) return Promise.reject(new DeadlineExceeded());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded()), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

/** Reads at most `limit` bytes, whatever Content-Length says (it may be absent or wrong). */
async function readLimited(
  req: Request,
  limit: number,
): Promise<Uint8Array | "too large" | "unreadable"> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await req.body?.cancel().catch(() => {});
    return "too large";
  }
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        return "too large";
      }
      chunks.push(value);
    }
  } catch {
    return "unreadable";
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return body;
}

function status(code: number, allow?: string): Response {
  const text: Record<number, string> = {
    400: "bad request",
    401: "invalid or missing Slack signature",
    403: "request for another Slack app",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    500: "internal error",
  };
  return new Response(`${text[code] ?? "error"}\n`, {
    status: code,
    headers: { "content-type": "text/plain", ...(allow ? { allow } : {}) },
  });
}
