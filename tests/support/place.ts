import type { Place } from "../../src/core/model.ts";

/** A waiter's place in an env's line, as a waiting `lock` takes it at `since`. */
export function placeOf(user: string, meta: string, since: number): Place {
  return {
    pid: crypto.randomUUID(),
    user,
    meta,
    since,
    renewedAt: since,
    rvn: crypto.randomUUID(),
    leaseMs: 3000,
  };
}
