import type { LockKind, Place, Slot } from "./model.ts";

/**
 * Typed domain errors. Each carries the exit code of SPEC section 3; `main.ts` maps them
 * to one line on stderr in a single place.
 */
export abstract class DaplayaError extends Error {
  abstract readonly exitCode: number;
}

/** Exit 2: unknown command or flag, missing or invalid value. Nothing was written. */
export class UsageError extends DaplayaError {
  readonly exitCode = 2;
  override name = "UsageError";
}

/**
 * Exit 2: the env was never locked and looks like a typo of one that was (`PRODUCTON`).
 * Nothing was written; the caller says how to start a new env anyway.
 */
export class NewEnvError extends UsageError {
  override name = "NewEnvError";
  constructor(readonly env: string, readonly suggestion: string) {
    super(
      `env ${env} has never been locked: did you mean ${suggestion}? (if ${env} is a new env, add --new-env)`,
    );
  }
}

/** Exit 1: AWS, network, missing table, missing credentials. */
export class FailureError extends DaplayaError {
  readonly exitCode = 1;
  override name = "FailureError";
}

/**
 * Exit 1, but transient: throttling, 5xx, a lost or refused connection, still after the SDK's
 * retries. A waiting `lock` tries again at its next interval instead of giving up.
 */
export class UnavailableError extends FailureError {
  override name = "UnavailableError";
  /**
   * True when a write may have been applied all the same (an attempt reached DynamoDB and its
   * answer was lost, a 5xx, a transaction still in progress): read back before reporting.
   */
  outcomeUnknown = false;
}

/**
 * Exit 3: the lock is held by someone else, or others wait in line before us, and we may not
 * wait (longer).
 */
export class NotAcquiredError extends DaplayaError {
  readonly exitCode = 3;
  override name = "NotAcquiredError";
  constructor(
    message: string,
    readonly holder: { kind: LockKind; slot: Slot } | undefined,
    /** The places in line ahead of us (all of them for a `--no-wait`), first = next. */
    readonly line: Place[] = [],
  ) {
    super(message);
  }
}

/**
 * Exit 3: a waiter that may not join the line again (`AcquireOptions.rejoin: false`) found its
 * place gone: someone removed it (`Locker.cancelWait`, e.g. `/daplaya cancel` on another `serve`
 * replica), or it lapsed because it could not be renewed in time. Nothing is held.
 */
export class LeftLineError extends DaplayaError {
  readonly exitCode = 3;
  override name = "LeftLineError";
  constructor(readonly env: string, readonly user: string, placeLeaseText: string) {
    super(
      `the place of ${user} in the line of env ${env} was removed (cancelled, or not renewed within ${placeLeaseText}); not joining again`,
    );
  }
}

/**
 * A stop signal (Ctrl-C, SIGTERM) ended the wait: the line was left and nothing is held.
 * Exits like a shell does for the signal: 130 for SIGINT, 143 for SIGTERM.
 */
export class InterruptedError extends DaplayaError {
  override name = "InterruptedError";
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** Exit 4: release found no active lock of this user. */
export class NotHeldError extends DaplayaError {
  readonly exitCode = 4;
  override name = "NotHeldError";
  /**
   * `holders`: who holds the env instead, as the release read it. `kept`: the user's own lock is
   * there, but a running `daplaya run` keeps it.
   */
  constructor(
    message: string,
    readonly holders: { kind: LockKind; slot: Slot }[] = [],
    readonly kept = false,
  ) {
    super(message);
  }
}

/**
 * Exit 5: a lock no longer holds its env: `run` lost it while its command ran, or `check --id`
 * found it released, taken over or with its lease run out.
 */
export class LockLostError extends DaplayaError {
  readonly exitCode = 5;
  override name = "LockLostError";
}

/**
 * Exit 3 from `check`: someone holds the env. Who holds it is the command's result, printed on
 * stdout; the error itself has no line for stderr.
 */
export class EnvHeldError extends DaplayaError {
  readonly exitCode = 3;
  override name = "EnvHeldError";
  constructor(readonly env: string) {
    super("");
  }
}

/** `run`: the command's own exit code; its message, if any, was already printed. */
export class CommandExit extends DaplayaError {
  override name = "CommandExit";
  constructor(readonly exitCode: number, message = "") {
    super(message);
  }
}
