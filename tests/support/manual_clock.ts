import type { Clock, Sleep } from "../../src/core/clock.ts";

/** A clock and sleeper for tests: sleeping advances both clocks at once, instantly. */
export class ManualClock implements Clock {
  #mono = 0;
  constructor(public wall = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.wall + this.#mono;
  }
  monotonic(): number {
    return this.#mono;
  }
  advance(ms: number): void {
    this.#mono += ms;
  }
  /** A clock sharing this one's time but reading `skewMs` ahead on the wall clock. */
  skewed(skewMs: number): Clock {
    return { now: () => this.now() + skewMs, monotonic: () => this.monotonic() };
  }
  sleep: Sleep = (ms) => {
    this.advance(ms);
    return Promise.resolve();
  };
}
