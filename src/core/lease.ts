import type { Clock, Sleep } from "./clock.ts";
import type { Held, Locker } from "./locker.ts";

export interface LeaseKeeperOptions {
  /** How long before a missing confirmation the holder must have stopped its work. */
  stopMarginMs: number;
  /** Called for renewal errors that are retried (not yet a lost lock). */
  onRetry?: (error: unknown) => void;
}

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
    let wait = every;
    while (!signal.aborted) {
      await this.sleep(Math.max(0, Math.min(wait, this.stopAt - this.clock.monotonic())), signal);
      if (signal.aborted) return;
      const sentAt = this.clock.monotonic();
      const ours = await this.#renew(signal);
      if (signal.aborted) return;
      if (ours === true) {
        this.#lastConfirmed = sentAt;
        wait = every;
      } else if (ours === false || this.clock.monotonic() >= this.stopAt) {
        return this.#declareLost(this.#lostReason(ours));
      } else {
        // Unknown outcome: try again soon, until the lease can no longer be confirmed.
        wait = Math.min(every, 1000);
      }
    }
  }

  /**
   * true: renewed; false: not ours any more; undefined: unknown (an error, or no answer
   * before the lease has to be given up).
   */
  async #renew(signal: AbortSignal): Promise<boolean | undefined> {
    const giveUp = new AbortController();
    const abort = () => giveUp.abort();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const deadline = this.sleep(Math.max(0, this.stopAt - this.clock.monotonic()), giveUp.signal)
        .then(() => undefined);
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
