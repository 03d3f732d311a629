import type { Clock, Sleep } from "../../src/core/clock.ts";

/**
 * A clock whose time moves only when the test says so, and a sleeper that wakes when it does:
 * code that loops on sleeps (a lease keeper) runs step by step, as fast as the test advances.
 */
export class SteppedClock implements Clock {
  #mono = 0;
  #sleepers = new Set<{ until: number; wake: () => void }>();
  constructor(public wall = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.wall + this.#mono;
  }

  monotonic(): number {
    return this.#mono;
  }

  sleep: Sleep = (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = { until: this.#mono + ms, wake: () => resolve() };
      this.#sleepers.add(sleeper);
      signal?.addEventListener("abort", () => {
        this.#sleepers.delete(sleeper);
        resolve();
      }, { once: true });
    });

  /** Moves both clocks on in steps of at most `stepMs`, letting woken code run after each. */
  async advance(ms: number, stepMs = 100): Promise<void> {
    const end = this.#mono + ms;
    await settle();
    while (this.#mono < end) {
      this.#mono = Math.min(end, this.#mono + stepMs);
      for (const s of [...this.#sleepers]) {
        if (s.until <= this.#mono) {
          this.#sleepers.delete(s);
          s.wake();
        }
      }
      await settle();
    }
  }

  /**
   * Resolves once `n` sleepers wait (each loop under test is parked in its sleep), polling in
   * real time: the code under test may be waiting for a real server's answer meanwhile.
   */
  async sleeping(n: number, timeoutMs = 20_000): Promise<void> {
    const start = Date.now();
    while (this.#sleepers.size < n) {
      if (Date.now() - start > timeoutMs) {
        throw new Error(`${this.#sleepers.size} sleepers after ${timeoutMs} ms, expected ${n}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** The machine sleeps: the wall clock moves on, the monotonic clock stands still. */
  suspend(ms: number): void {
    this.wall += ms;
  }
}

/** Lets every promise chain that can run now run (a macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
