import { Command } from "@commander-js/extra-typings";
import { FailureError, UsageError } from "../core/errors.ts";
import { createSlackHandler, DEFAULT_SLACK_API_URL } from "../slack/handler.ts";
import { httpUrl, storeConfig } from "./config.ts";
import { withLocker } from "./shared.ts";
import type { CliContext } from "./context.ts";
import { globals, STORE_GLOBALS, usesGlobals } from "./global_options.ts";
import { examples } from "./help.ts";

const DEFAULT_PORT = 3000;
const DEFAULT_HOSTNAME = "0.0.0.0";

export function serveCommand(ctx: CliContext) {
  return usesGlobals(new Command("serve"), STORE_GLOBALS)
    .summary("serve the Slack slash command /daplaya")
    .description(
      "serve the Slack slash command /daplaya (POST /slack/commands, POST /slack/interactions, GET /healthz); needs DAPLAYA_SLACK_SIGNING_SECRET",
    )
    .option("--port <n>", `port to listen on, 0 for any free one (default ${DEFAULT_PORT})`)
    .option("--hostname <host>", `address to listen on (default ${DEFAULT_HOSTNAME})`)
    .addHelpText(
      "after",
      examples([
        "the Slack endpoint on port 8080; the secret from your Slack app",
        "DAPLAYA_SLACK_SIGNING_SECRET=... daplaya serve --port 8080",
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
      const signingSecret = ctx.env("DAPLAYA_SLACK_SIGNING_SECRET");
      if (!signingSecret) {
        throw new FailureError(
          "DAPLAYA_SLACK_SIGNING_SECRET is not set: set it to your Slack app's signing secret (Basic Information > App Credentials); serve refuses unsigned requests",
        );
      }
      const appId = ctx.env("DAPLAYA_SLACK_APP_ID");
      const botToken = ctx.env("DAPLAYA_SLACK_BOT_TOKEN");
      // Tight limits: every Slack answer must leave within 3 seconds.
      await withLocker(ctx, g, async (locker) => {
        const handler = createSlackHandler({
          locker,
          clock: ctx.clock,
          signingSecret,
          ...(appId ? { appId } : {}),
          ...(botToken ? { botToken } : {}),
          apiUrl,
          log: (line) => ctx.stderr(`${line}\n`),
        });
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
          await server.finished;
          await handler.drain();
          ctx.stderr("Stopped\n");
        } finally {
          unlisten();
        }
      }, { requestTimeoutMs: 1000, maxAttempts: 2 });
    });
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PORT;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port > 65535) {
    throw new UsageError(`invalid --port ${JSON.stringify(raw)}: a number from 0 to 65535`);
  }
  return port;
}
