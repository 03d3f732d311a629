import type { Clock, Sleep } from "../core/clock.ts";
import type { LockStore, StoreConfig } from "../core/store.ts";

/** A command `run` started. */
export interface Child {
  /** Its exit code once it has ended (128 + the signal's number when a signal ended it). */
  readonly status: Promise<{ code: number }>;
  /** Sends a signal; a command that has already ended is left alone. */
  kill(signal: Deno.Signal): void;
}

export interface SpawnOptions {
  cwd: string;
  /** Added to this process's environment; stdin, stdout and stderr are this process's own. */
  env: Record<string, string>;
}

export interface ServeOptions {
  port: number;
  hostname: string;
  /** Stops the server: it finishes the requests it has, then `finished` resolves. */
  signal: AbortSignal;
  onListen(address: { hostname: string; port: number }): void;
}

/**
 * Everything a command touches outside itself. `main.ts` gives the real one; tests give
 * fakes, so every command, `run` and `serve` included, runs in-process.
 */
export interface CliContext {
  /** An environment variable; set but empty reads as unset. */
  env(name: string): string | undefined;
  stdout(text: string): void;
  stderr(text: string): void;
  openStore(config: StoreConfig): Promise<LockStore>;
  clock: Clock;
  sleep: Sleep;
  /** What `git ARGS` prints in `cwd`, trimmed; undefined when git fails, is missing or prints nothing. */
  git(args: string[]): Promise<string | undefined>;
  /** This host's name, for the `$USER@hostname` default user. */
  hostname(): string;
  /** Current directory, for git and `run`. */
  cwd: string;
  /**
   * Whether `program` names something that exists: a path (with a slash) from `cwd`, or a name
   * found in a directory of PATH. `run` checks it before taking the lock.
   */
  programExists(program: string): Promise<boolean>;
  /**
   * Starts a command. Throws Deno.errors.NotFound when there is no such program, another error
   * when it cannot be started.
   */
  spawn(program: string, args: string[], options: SpawnOptions): Child;
  /**
   * Calls `listener` with each signal that asks this process to stop (SIGINT and SIGTERM;
   * SIGINT and SIGBREAK on Windows), instead of the default of exiting, until the returned
   * function is called.
   */
  onStopSignal(listener: (signal: Deno.Signal) => void): () => void;
  /** Serves HTTP until `options.signal` aborts; throws when it cannot listen. */
  serve(
    options: ServeOptions,
    handler: (req: Request) => Promise<Response>,
  ): { finished: Promise<void> };
}
