/**
 * `serve`'s own posts to Slack (lock events, reminders): started beside the HTTP server from
 * the settings `slackPosting` read (src/cli/config.ts).
 */
import type { LockStore } from "../core/store.ts";
import { formatDuration } from "../core/text.ts";
import { SlackNotifier } from "../slack/notifier.ts";
import type { SlackPosting } from "./config.ts";
import type { CliContext } from "./context.ts";

/** Polls and posts until `signal` aborts; resolves once the last posts are sent or given up. */
export function startPosting(
  ctx: CliContext,
  store: LockStore,
  posting: SlackPosting,
  slack: { botToken: string; apiUrl: string },
  signal: AbortSignal,
): Promise<void> {
  const notifier = new SlackNotifier({
    store,
    clock: ctx.clock,
    sleep: ctx.sleep,
    botToken: slack.botToken,
    apiUrl: slack.apiUrl,
    ...(posting.channels ? { channels: posting.channels } : {}),
    remindAfterMs: posting.remindAfterMs,
    pollMs: posting.pollMs,
    log: (line) => ctx.stderr(`${line}\n`),
  });
  return notifier.run(signal);
}

/** One line at start: where lock events go, and the reminders. */
export function postingLine(posting: SlackPosting): string {
  const c = posting.channels;
  const where = c
    ? [
      ...Object.entries(c.envs).map(([env, channel]) => `${env} in ${channel}`),
      ...(c.other ? [`other envs in ${c.other}`] : []),
    ].join(", ")
    : "";
  const events = c ? `lock events of ${where || "no env"}` : "no lock events";
  const reminders = posting.remindAfterMs > 0
    ? `reminders every ${formatDuration(posting.remindAfterMs)}`
    : "no reminders";
  return `Posting to Slack: ${events}; ${reminders}`;
}
