import { UsageError } from "../core/errors.ts";
import type { StoreConfig } from "../core/store.ts";
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
