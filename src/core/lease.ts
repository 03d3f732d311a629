import type { Clock, Sleep } from "./clock.ts";
import type { Held, Locker } from "./locker.ts";

export interface LeaseKeeperOptions {
  /** How long before a missing confirmation the holder must have stopped its work. */
  stopMarginMs: number;
  /** Called for renewal errors that are retried (not yet a lost lock). */
  onRetry?: (error: unknown) => void;
  /** Called when the wall clock jumped ahead of the monotonic one: the machine was asleep. */
  onWake?: (asleepMs: number) => void;
}

/** The keeper looks at the clocks at least this often (also keeps every timer small). */
const TICK_MS = 1000;
/** Wall-clock time beyond monotonic time that means the machine was suspended. */
const ASLEEP_MS = 2000;
/** After a wake, how long the renewal that proves the lock is still ours may take at most. */
const WAKE_CHECK_MS = 2000;

/**
 * Keeps a held lease alive: renews every third of the lease. The lock counts as lost when a
 * renewal finds it gone or taken, or - failing closed - when no renewal could be confirmed
 * and the lease (counted from the last confirmed renewal's send time, on our monotonic clock)
 * is about to run out. Waiters measure a whole lease from after that renewal, so the holder
 * always gives up first.
 */
export class LeaseKeeper {
  readonly lost: Promise<string>;
  #declareLost!: (reason: string) => void;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #lastConfirmed: number;

  constructor(
    private readonly locker: Locker,
    private readonly held: Held,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
    private readonly options: LeaseKeeperOptions,
  ) {
    this.lost = new Promise((resolve) => this.#declareLost = resolve);
    this.#lastConfirmed = held.sentAt;
  }

  get leaseMs(): number {
    return this.held.record.leaseMs!;
  }

  /** The monotonic time after which we can no longer claim the lock. */
  get stopAt(): number {
    return this.#lastConfirmed + this.leaseMs - this.options.stopMarginMs;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const every = this.leaseMs / 3;
    let renewAt = this.clock.monotonic() + every;
    let wall = this.clock.now();
    let mono = this.clock.monotonic();
    while (!signal.aborted) {
      const until = Math.min(renewAt, this.stopAt);
      await this.sleep(Math.max(0, Math.min(TICK_MS, until - this.clock.monotonic())), signal);
      if (signal.aborted) return;
      // While a machine sleeps (Linux suspend) the monotonic clock stands still but a waiter's
      // time runs: count the gap against the lease and renew at once, before going on.
      const asleep = (this.clock.now() - wall) - (this.clock.monotonic() - mono);
      wall = this.clock.now();
      mono = this.clock.monotonic();
      let budget = this.stopAt - mono;
      if (asleep > ASLEEP_MS) {
        this.options.onWake?.(asleep);
        this.#lastConfirmed -= asleep;
        renewAt = mono;
        budget = Math.max(budget, WAKE_CHECK_MS);
      }
      if (mono < renewAt && mono < this.stopAt) continue;
      const sentAt = this.clock.monotonic();
      const ours = await this.#renew(signal, budget);
      if (signal.aborted) return;
      if (ours === true) {
        this.#lastConfirmed = sentAt;
        renewAt = this.clock.monotonic() + every;
      } else if (ours === false || this.clock.monotonic() >= this.stopAt) {
        return this.#declareLost(this.#lostReason(ours));
      } else {
        // Unknown outcome: try again soon, until the lease can no longer be confirmed.
        renewAt = this.clock.monotonic() + Math.min(every, 1000);
      }
      wall = this.clock.now();
      mono = this.clock.monotonic();
    }
  }

  /**
   * true: renewed; false: not ours any more; undefined: unknown (an error, or no answer
   * within `budgetMs`).
   */
  async #renew(signal: AbortSignal, budgetMs: number): Promise<boolean | undefined> {
    const giveUp = new AbortController();
    const abort = () => giveUp.abort();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const deadline = this.sleep(Math.max(0, budgetMs), giveUp.signal).then(() => undefined);
      const renewal = this.locker.renew(this.held).catch((e) => {
        this.options.onRetry?.(e);
        return undefined;
      });
      return await Promise.race([renewal, deadline]);
    } finally {
      giveUp.abort();
      signal.removeEventListener("abort", abort);
    }
  }

  #lostReason(ours: boolean | undefined): string {
    return ours === false
      ? "the lock was released or taken over by someone else"
      : "the lease could not be renewed before it ran out";
  }
}
