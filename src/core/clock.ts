/** Wall clock (epoch ms, written into records) and monotonic clock (ms, for measuring waits). */
export interface Clock {
  now(): number;
  monotonic(): number;
}

/**
 * How far apart two hosts' wall clocks are trusted to be: a lease (or a place in line) whose
 * holder's own timestamp is older than lease + this margin is long dead (the fast path).
 */
export const MAX_CLOCK_SKEW_MS = 10 * 60_000;

/** Sleeps `ms`; resolves early (without throwing) when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** The longest delay a timer takes; a longer one would fire at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const realSleep: Sleep = async (ms, signal) => {
  // Long sleeps (a --timeout of months) go in steps each timer can take.
  let left = ms;
  do {
    const step = Math.min(left, MAX_TIMER_MS);
    await sleepOnce(step, signal);
    left -= step;
  } while (left > 0 && !signal?.aborted);
};

const sleepOnce: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
