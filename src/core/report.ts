/**
 * Documents for scripts: the JSON text every `--json` output uses, and the one document that
 * `daplaya locks --json` prints and `daplaya serve` answers `GET /api/locks` with, built in one
 * place so the two stay the same byte for byte.
 */
import type { Locker, Waiter } from "./locker.ts";
import type { LockRecord } from "./model.ts";

/** Active locks (by env, then oldest first) and who waits in each env's line. */
export interface LocksDocument {
  locks: LockRecord[];
  waiting: Waiter[];
}

/** The active locks and the lines, of one env or of all: `locks --json`, `GET /api/locks`. */
export async function readLocks(locker: Locker, env?: string): Promise<LocksDocument> {
  const [locks, waiting] = await Promise.all([locker.list(env), locker.waiting(env)]);
  return { locks, waiting };
}

/** JSON for scripts: two-space indent and one final newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}
