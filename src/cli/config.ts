import { UsageError } from "../core/errors.ts";
import type { CliContext, GlobalOptions, StoreConfig } from "./context.ts";

export const DEFAULT_TABLE = "DaPlayaLocks";
const TABLE_RE = /^[A-Za-z0-9_.-]{3,255}$/;

/** Merges flags and environment (flags win) into where the table is. */
export function storeConfig(g: GlobalOptions, ctx: Pick<CliContext, "env">): StoreConfig {
  const env = (name: string) => ctx.env(name) || undefined;
  const table = g.table ?? env("DAPLAYA_TABLE") ?? DEFAULT_TABLE;
  if (!TABLE_RE.test(table)) {
    throw new UsageError(
      `invalid table name ${JSON.stringify(table)}: use 3-255 characters of A-Z a-z 0-9 _ . -`,
    );
  }
  const config: StoreConfig = { table };
  const region = g.region ?? env("DAPLAYA_AWS_REGION") ?? env("AWS_REGION") ??
    env("AWS_DEFAULT_REGION");
  if (region !== undefined) {
    if (!/^[a-z0-9-]{1,64}$/.test(region)) {
      throw new UsageError(`invalid region ${JSON.stringify(region)}: e.g. eu-west-1`);
    }
    config.region = region;
  }
  const endpoint = g.endpoint ?? env("DAPLAYA_DYNAMODB_ENDPOINT");
  if (endpoint !== undefined) {
    if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
      throw new UsageError(
        `invalid endpoint ${JSON.stringify(endpoint)}: use a URL like http://localhost:8000`,
      );
    }
    config.endpoint = endpoint;
  }
  const profile = g.profile ?? env("AWS_PROFILE");
  if (profile !== undefined) config.profile = profile;
  // The seed and older AWS tools spell the keys differently; accept them only when the
  // standard names are unset, so the SDK's own chain keeps priority.
  if (!env("AWS_ACCESS_KEY_ID") && !g.profile) {
    const accessKeyId = env("AWS_ACCES_KEY_ID") ?? env("AWS_ACCESS_KEY");
    const secretAccessKey = env("AWS_SECRET_ACCESS_KEY") ?? env("AWS_SECRET_KEY");
    if (accessKeyId && secretAccessKey) {
      const sessionToken = env("AWS_SESSION_TOKEN");
      config.credentials = {
        accessKeyId,
        secretAccessKey,
        ...(sessionToken ? { sessionToken } : {}),
      };
    }
  }
  return config;
}
