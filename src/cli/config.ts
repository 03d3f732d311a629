import { UsageError } from "../core/errors.ts";
import { parseDuration, parseEnv } from "../core/parse.ts";
import type { StoreConfig } from "../core/store.ts";
import { formatDuration, truncate } from "../core/text.ts";
import { DEFAULT_POLL_MS, type SlackChannels } from "../slack/settings.ts";
import type { CliContext } from "./context.ts";
import type { GlobalOptions } from "./global_options.ts";

export const DEFAULT_TABLE = "DaPlayaLocks";
const TABLE_RE = /^[A-Za-z0-9_.-]{3,255}$/;

/** An http(s) URL, else a usage error naming `what` and an example. */
export function httpUrl(raw: string, what: string, example: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(raw)}: use a URL like ${example}`);
  }
  return raw;
}

/** The region and where it was set: the flag, else the first of these variables that is set. */
export function regionSetting(
  g: GlobalOptions,
  ctx: Pick<CliContext, "env">,
): { region: string; from: string } | undefined {
  if (g.region !== undefined) return { region: g.region, from: "--region" };
  for (const from of ["DAPLAYA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]) {
    const region = ctx.env(from);
    if (region !== undefined) return { region, from };
  }
  return undefined;
}

/** Merges flags and environment (flags win) into where the table is. */
export function storeConfig(g: GlobalOptions, ctx: Pick<CliContext, "env">): StoreConfig {
  const table = g.table ?? ctx.env("DAPLAYA_TABLE") ?? DEFAULT_TABLE;
  if (!TABLE_RE.test(table)) {
    throw new UsageError(
      `invalid table name ${JSON.stringify(table)}: use 3-255 characters of A-Z a-z 0-9 _ . -`,
    );
  }
  const config: StoreConfig = { table };
  const region = regionSetting(g, ctx)?.region;
  if (region !== undefined) {
    if (!/^[a-z0-9-]{1,64}$/.test(region)) {
      throw new UsageError(`invalid region ${JSON.stringify(region)}: e.g. eu-west-1`);
    }
    config.region = region;
  }
  const endpoint = g.endpoint ?? ctx.env("DAPLAYA_DYNAMODB_ENDPOINT");
  if (endpoint !== undefined) {
    config.endpoint = httpUrl(endpoint, "endpoint", "http://localhost:8000");
  }
  const profile = g.profile ?? ctx.env("AWS_PROFILE");
  if (profile !== undefined) config.profile = profile;
  // The seed and older AWS tools spell the keys differently; accept them only when the
  // standard names are unset, so the SDK's own chain keeps priority.
  if (!ctx.env("AWS_ACCESS_KEY_ID") && !g.profile) {
    const accessKeyId = ctx.env("AWS_ACCES_KEY_ID") ?? ctx.env("AWS_ACCESS_KEY");
    const secretAccessKey = ctx.env("AWS_SECRET_ACCESS_KEY") ?? ctx.env("AWS_SECRET_KEY");
    if (accessKeyId && secretAccessKey) {
      const sessionToken = ctx.env("AWS_SESSION_TOKEN");
      config.credentials = {
        accessKeyId,
        secretAccessKey,
        ...(sessionToken ? { sessionToken } : {}),
      };
    }
  }
  return config;
}

/** What `serve` posts to Slack by itself: lock events and reminders (`slackPosting`). */
export interface SlackPosting {
  /** `DAPLAYA_SLACK_CHANNELS`; absent: no announcements. */
  channels?: SlackChannels;
  /** `DAPLAYA_REMIND_AFTER` (default 4h); 0: no reminders. */
  remindAfterMs: number;
  /** `DAPLAYA_SLACK_POLL_INTERVAL` (default 3s). */
  pollMs: number;
}

export const DEFAULT_REMIND_AFTER_MS = 4 * 3_600_000;
const CHANNEL_RE = /^[A-Z0-9]{2,40}$/;
const CHANNELS_EXAMPLE = "PRODUCTION=C0123,STAGING=C0456,*=C0789";

/**
 * `serve`'s Slack posting settings, or undefined when it posts nothing: posting is on when
 * `DAPLAYA_SLACK_CHANNELS` is set (announcements, and reminders unless `DAPLAYA_REMIND_AFTER`
 * is 0), or when only `DAPLAYA_REMIND_AFTER` is set to a duration (reminders in direct
 * messages only). Bad values are usage errors.
 */
export function slackPosting(ctx: Pick<CliContext, "env">): SlackPosting | undefined {
  const rawChannels = ctx.env("DAPLAYA_SLACK_CHANNELS");
  const rawRemind = ctx.env("DAPLAYA_REMIND_AFTER");
  const channels = rawChannels === undefined ? undefined : parseChannels(rawChannels);
  const remindAfterMs = rawRemind === undefined
    ? DEFAULT_REMIND_AFTER_MS
    : durationSetting(rawRemind, "DAPLAYA_REMIND_AFTER", 1000, { zero: true });
  const rawPoll = ctx.env("DAPLAYA_SLACK_POLL_INTERVAL");
  const pollMs = rawPoll === undefined
    ? DEFAULT_POLL_MS
    : durationSetting(rawPoll, "DAPLAYA_SLACK_POLL_INTERVAL", 100, { maxMs: 60_000 });
  if (!channels && (rawRemind === undefined || remindAfterMs === 0)) return undefined;
  return { ...(channels ? { channels } : {}), remindAfterMs, pollMs };
}

/** `PRODUCTION=C0123,STAGING=C0456,*=C0789`: a channel id per env, `*` for every other env. */
export function parseChannels(raw: string): SlackChannels {
  const channels: SlackChannels = { envs: {} };
  const bad = (why: string) =>
    new UsageError(
      `invalid DAPLAYA_SLACK_CHANNELS ${
        JSON.stringify(truncate(raw))
      }: ${why}; use ENV=CHANNEL_ID pairs, e.g. ${CHANNELS_EXAMPLE}`,
    );
  for (const pair of raw.split(",")) {
    const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(pair);
    if (!m) throw bad(`${JSON.stringify(truncate(pair.trim(), 40))} is not ENV=CHANNEL_ID`);
    const [, envText, channel] = m;
    if (!CHANNEL_RE.test(channel)) {
      throw bad(`${JSON.stringify(truncate(channel, 40))} is not a Slack channel id (C0123…)`);
    }
    if (envText === "*") {
      if (channels.other !== undefined) throw bad("* is given twice");
      channels.other = channel;
      continue;
    }
    let env: string;
    try {
      env = parseEnv(envText);
    } catch {
      throw bad(`${JSON.stringify(truncate(envText, 40))} is not an env`);
    }
    if (Object.hasOwn(channels.envs, env)) throw bad(`${env} is given twice`);
    channels.envs[env] = channel;
  }
  return channels;
}

/** A duration setting from the environment, within bounds (0 allowed when `zero`). */
function durationSetting(
  raw: string,
  name: string,
  minMs: number,
  o: { zero?: boolean; maxMs?: number } = {},
): number {
  const ms = parseDuration(raw, name);
  if (ms === 0 && o.zero) return 0;
  if (ms < minMs) {
    throw new UsageError(
      `invalid ${name} ${raw}: at least ${formatDuration(minMs)}${o.zero ? ", or 0 for off" : ""}`,
    );
  }
  if (o.maxMs !== undefined && ms > o.maxMs) {
    throw new UsageError(`invalid ${name} ${raw}: at most ${formatDuration(o.maxMs)}`);
  }
  return ms;
}
