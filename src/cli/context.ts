import type { Clock, Sleep } from "../core/clock.ts";
import type { LockStore } from "../store/port.ts";

/** Options every command accepts, before or after its name. */
export interface GlobalOptions {
  table?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  json?: boolean;
}

/** Where the table is and how to reach it, after flags and environment are merged. */
export interface StoreConfig {
  table: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Tighter limits for callers with a deadline (Slack answers within 3 s). */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

/**
 * Everything a command touches outside itself. `main.ts` gives the real one; tests give
 * fakes, so every command runs in-process.
 */
export interface CliContext {
  /** An environment variable; set but empty reads as unset. */
  env(name: string): string | undefined;
  stdout(text: string): void;
  stderr(text: string): void;
  openStore(config: StoreConfig): Promise<LockStore>;
  clock: Clock;
  sleep: Sleep;
  /** Committer email of HEAD in the current git repository, if any. */
  gitEmail(): Promise<string | undefined>;
  /** Current directory, for git and `run`. */
  cwd: string;
}
