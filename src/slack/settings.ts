/**
 * Settings of the Slack side that the CLI reads at start. Kept apart from the handler and the
 * poster so that loading the CLI (`--help`, `--version`) does not load them.
 */
export const DEFAULT_SLACK_API_URL = "https://slack.com/api";

/** How often `serve` looks for lock events to post. */
export const DEFAULT_POLL_MS = 3000;

/** Where each env's events are posted: `DAPLAYA_SLACK_CHANNELS`. */
export interface SlackChannels {
  /** Channel id by (upper-case) env. */
  envs: Record<string, string>;
  /** `*`: the channel of every other env; absent: other envs are not announced. */
  other?: string;
}
