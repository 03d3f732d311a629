import { Command } from "@commander-js/extra-typings";
import { FailureError, UsageError } from "../core/errors.ts";
import { parseDuration } from "../core/parse.ts";
import { DEFAULT_SLACK_API_URL } from "../slack/settings.ts";
import { DEFAULT_REFRESH_SECONDS, parseStatusAuth } from "../web/auth.ts";
import { httpUrl, slackPosting, storeConfig } from "./config.ts";
import { withLocker } from "./shared.ts";
import type { CliContext } from "./context.ts";
import { globals, STORE_GLOBALS, usesGlobals } from "./global_options.ts";
import { examples } from "./help.ts";

const DEFAULT_PORT = 3000;
const DEFAULT_HOSTNAME = "0.0.0.0";

export function serveCommand(ctx: CliContext) {
  return usesGlobals(new Command("serve"), STORE_GLOBALS)
    .summary("serve the Slack command /daplaya and a status page")
    .description(
      "serve the Slack slash command /daplaya (POST /slack/commands, POST /slack/interactions, GET /healthz; needs DAPLAYA_SLACK_SIGNING_SECRET) and a read-only status page (GET /, /env/<ENV>, /api/locks, /badge/<ENV>.svg; HTTP Basic with DAPLAYA_STATUS_AUTH=user:password, reloads every DAPLAYA_STATUS_REFRESH, default 10s)",
    )
    .option("--port <n>", `port to listen on, 0 for any free one (default ${DEFAULT_PORT})`)
    .option("--hostname <host>", `address to listen on (default ${DEFAULT_HOSTNAME})`)
    .addHelpText(
      "after",
      examples([
        "the Slack endpoint and the status page on port 8080; the secret from your Slack app",
        "DAPLAYA_SLACK_SIGNING_SECRET=... daplaya serve --port 8080",
      ], [
        "the same, the status page behind a password",
        "DAPLAYA_SLACK_SIGNING_SECRET=... DAPLAYA_STATUS_AUTH=ops:s3cret daplaya serve --port 8080",
      ], [
        "also post every lock event in a channel per env (* = the others); remind holders after 4h",
        "DAPLAYA_SLACK_CHANNELS='PRODUCTION=C0123,*=C0789' DAPLAYA_SLACK_BOT_TOKEN=xoxb-... DAPLAYA_SLACK_SIGNING_SECRET=... daplaya serve",
      ]),
    )
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const port = parsePort(opts.port);
      const hostname = opts.hostname ?? DEFAULT_HOSTNAME;
      if (!/^[A-Za-z0-9.:_-]{1,255}$/.test(hostname)) {
        throw new UsageError(`invalid --hostname ${JSON.stringify(hostname)}: e.g. 0.0.0.0`);
      }
      const apiUrl = httpUrl(
        ctx.env("DAPLAYA_SLACK_API_URL") ?? DEFAULT_SLACK_API_URL,
        "DAPLAYA_SLACK_API_URL",
        DEFAULT_SLACK_API_URL,
      );
      storeConfig(g, ctx); // bad table settings are usage errors before the secret is checked
      const rawAuth = ctx.env("DAPLAYA_STATUS_AUTH");
      const auth = rawAuth === undefined ? undefined : parseStatusAuth(rawAuth);
      const refreshSeconds = parseRefresh(ctx.env("DAPLAYA_STATUS_REFRESH"));
      const posting = slackPosting(ctx);
      const signingSecret = ctx.env("DAPLAYA_SLACK_SIGNING_SECRET");
      if (!signingSecret) {
        throw new FailureError(
          "DAPLAYA_SLACK_SIGNING_SECRET is not set: set it to your Slack app's signing secret (Basic Information > App Credentials); serve refuses unsigned requests",
        );
      }
      const appId = ctx.env("DAPLAYA_SLACK_APP_ID");
      const botToken = ctx.env("DAPLAYA_SLACK_BOT_TOKEN");
      if (posting && !botToken) {
        throw new FailureError(
          "DAPLAYA_SLACK_BOT_TOKEN is not set: serve needs the bot token to post lock events and reminders (DAPLAYA_SLACK_CHANNELS, DAPLAYA_REMIND_AFTER)",
        );
      }
      // Tight limits: every Slack answer must leave within 3 seconds.
      await withLocker(ctx, g, async (locker, store) => {
        // Loaded here, not with the CLI: --help and --version stay quick.
        const [
          { createSlackHandler },
          { createStatusHandler },
          { postingLine, startPosting },
          { Policies },
        ] = await Promise.all([
          import("../slack/handler.ts"),
          import("../web/status.ts"),
          import("./serve_posting.ts"),
          import("../core/policy.ts"),
        ]);
        const slack = createSlackHandler({
          locker,
          policies: new Policies(store, ctx.clock),
          clock: ctx.clock,
          signingSecret,
          ...(appId ? { appId } : {}),
          ...(botToken ? { botToken } : {}),
          apiUrl,
          log: (line) => ctx.stderr(`${line}\n`),
        });
        const status = createStatusHandler({
          locker,
          clock: ctx.clock,
          ...(auth ? { auth } : {}),
          refreshSeconds,
          log: (line) => ctx.stderr(`${line}\n`),
        });
        // The status page's routes first; every other request is the Slack handler's.
        const handler = async (req: Request) => await status(req) ?? await slack(req);
        if (!botToken) {
          ctx.stderr(
            "daplaya: DAPLAYA_SLACK_BOT_TOKEN is not set: Slack users lock as slack:<user_id>, not as their email\n",
          );
        }
        const stop = new AbortController();
        const unlisten = ctx.onStopSignal(() => stop.abort());
        try {
          let server: { finished: Promise<void> };
          try {
            server = ctx.serve({
              port,
              hostname,
              signal: stop.signal,
              onListen: ({ hostname, port }) => {
                const host = hostname.includes(":") ? `[${hostname}]` : hostname;
                ctx.stderr(`Listening on http://${host}:${port}/\n`);
              },
            }, handler);
          } catch (e) {
            throw new FailureError(
              `cannot listen on ${hostname}:${port} (${
                (e as Error).message
              }): pick another --port or --hostname`,
              { cause: e },
            );
          }
          // Lock events and reminders, beside the requests and never in their way.
          if (posting) ctx.stderr(`${postingLine(posting)}\n`);
          const posted = posting && botToken
            ? startPosting(ctx, store, posting, { botToken, apiUrl }, stop.signal)
            : undefined;
          await server.finished;
          await slack.drain();
          await posted;
          ctx.stderr("Stopped\n");
        } finally {
          stop.abort();
          unlisten();
        }
      }, { requestTimeoutMs: 1000, maxAttempts: 2 });
    });
}

/** DAPLAYA_STATUS_REFRESH: whole seconds, 1s to 1h (default 10s). */
function parseRefresh(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_REFRESH_SECONDS;
  const ms = parseDuration(raw, "DAPLAYA_STATUS_REFRESH");
  if (ms % 1000 !== 0 || ms < 1000 || ms > 3_600_000) {
    throw new UsageError(
      `invalid DAPLAYA_STATUS_REFRESH ${
        JSON.stringify(raw)
      }: whole seconds from 1s to 1h, e.g. 30s`,
    );
  }
  return ms / 1000;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PORT;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port > 65535) {
    throw new UsageError(`invalid --port ${JSON.stringify(raw)}: a number from 0 to 65535`);
  }
  return port;
}
