import type { AcquireOptions } from "../../src/core/locker.ts";

/** Engine options for a single regular-lock attempt; `extra` overrides any of them. */
export function acquireOptions(
  env: string,
  user: string,
  extra: Partial<AcquireOptions> = {},
): AcquireOptions {
  return {
    env,
    user,
    kind: "regular",
    meta: "CLI",
    metaExplicit: false,
    intervalMs: 5000,
    timeoutMs: 0,
    ...extra,
  };
}
