import type { Locker } from "../core/locker.ts";
import type { Policies } from "../core/policy.ts";
import { parseDuration } from "../core/parse.ts";
import { formatDuration } from "../core/text.ts";
import { UsageError } from "../core/errors.ts";
import { storeConfig } from "./config.ts";
import type { LockStore, StoreConfig } from "../core/store.ts";
import type { CliContext } from "./context.ts";
import type { GlobalOptions } from "./global_options.ts";

/** Opens the store only after every input is validated, and always closes it. */
export async function withLocker<T>(
  ctx: CliContext,
  g: GlobalOptions,
  fn: (locker: Locker, store: LockStore) => Promise<T>,
  limits: Pick<StoreConfig, "requestTimeoutMs" | "maxAttempts"> = {},
): Promise<T> {
  const store = await ctx.openStore({ ...storeConfig(g, ctx), ...limits });
  try {
    // Loaded with the store, not with the CLI: --help and --version stay quick.
    const { Locker } = await import("../core/locker.ts");
    return await fn(new Locker(store, ctx.clock, ctx.sleep), store);
  } finally {
    store.close();
  }
}

/** Like withLocker, for commands that read or change env policies (`freeze`, `policy`). */
export function withPolicies<T>(
  ctx: CliContext,
  g: GlobalOptions,
  fn: (policies: Policies) => Promise<T>,
): Promise<T> {
  return withLocker(ctx, g, async (_locker, store) => {
    const { Policies } = await import("../core/policy.ts");
    return await fn(new Policies(store, ctx.clock));
  });
}

/**
 * A duration flag with a lower bound, so a typo cannot turn into a busy loop, and optionally an
 * upper one.
 */
export function durationOption(
  raw: string | undefined,
  flag: string,
  minMs: number,
  maxMs?: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw, flag);
  if (ms < minMs) {
    throw new UsageError(`invalid ${flag} ${raw}: at least ${formatDuration(minMs)}`);
  }
  if (maxMs !== undefined && ms > maxMs) {
    throw new UsageError(`invalid ${flag} ${raw}: at most ${formatDuration(maxMs)}`);
  }
  return ms;
}
