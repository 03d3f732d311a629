/** Lease takeover rules with injected clocks: no real sleeps, skew chosen by the test. */
import assert from "node:assert/strict";
import { ManualClock, type Sleep } from "../../src/core/clock.ts";
import { NotAcquiredError } from "../../src/core/errors.ts";
import {
  type AcquireOptions,
  type Held,
  Locker,
  MAX_CLOCK_SKEW_MS,
} from "../../src/core/locker.ts";
import { MemoryStore } from "../../src/store/memory.ts";

const LEASE = 30_000;
const INTERVAL = 5_000;

function options(user: string, extra: Partial<AcquireOptions> = {}): AcquireOptions {
  return {
    env: "PRODUCTION",
    user,
    kind: "regular",
    meta: "CLI",
    metaExplicit: false,
    intervalMs: INTERVAL,
    ...extra,
  };
}

/**
 * A world where time passes in one-second ticks; while `holder` is alive it renews every
 * third of its lease, as `run` does.
 */
function world() {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const holderLocker = new Locker(store, clock, clock.sleep);
  const state: {
    held?: Held;
    alive: boolean;
    diesAt: number;
    lastRenew: number;
    renewals: number;
  } = {
    alive: true,
    diesAt: Infinity,
    lastRenew: 0,
    renewals: 0,
  };
  const sleep: Sleep = async (ms) => {
    const end = clock.monotonic() + ms;
    while (clock.monotonic() < end) {
      clock.advance(Math.min(1000, end - clock.monotonic()));
      const alive = state.alive && clock.monotonic() < state.diesAt;
      if (alive && state.held && clock.monotonic() - state.lastRenew >= LEASE / 3) {
        assert.equal(await holderLocker.renew(state.held), true);
        state.lastRenew = clock.monotonic();
        state.renewals++;
      }
    }
  };
  return {
    clock,
    store,
    state,
    async hold() {
      state.held = await holderLocker.acquire(options("holder", { leaseMs: LEASE, timeoutMs: 0 }));
      state.lastRenew = clock.monotonic();
    },
    waiter(skewMs: number) {
      return new Locker(store, clock.skewed(skewMs), sleep);
    },
  };
}

Deno.test("lease takeover follows the record-version rule", async (t) => {
  await t.step("waiter's clock 5 minutes ahead, holder renewing: never taken over", async () => {
    const w = world();
    await w.hold();
    const waiter = w.waiter(5 * 60_000);
    await assert.rejects(
      waiter.acquire(options("waiter", { timeoutMs: 10 * LEASE })),
      NotAcquiredError,
    );
    assert.ok(w.state.renewals >= 29, `renewals: ${w.state.renewals}`);
    assert.deepEqual((await w.store.active()).map((r) => r.user), ["holder"]);
  });

  await t.step(
    "waiter's clock 9 minutes ahead (within the tolerated skew): still safe",
    async () => {
      const w = world();
      await w.hold();
      const waiter = w.waiter(MAX_CLOCK_SKEW_MS - 60_000);
      await assert.rejects(
        waiter.acquire(options("waiter", { timeoutMs: 4 * LEASE })),
        NotAcquiredError,
      );
      assert.deepEqual((await w.store.active()).map((r) => r.user), ["holder"]);
    },
  );

  await t.step("holder dead: taken over after lease + interval on the waiter's clock", async () => {
    const w = world();
    await w.hold();
    w.state.alive = false;
    const waiter = w.waiter(5 * 60_000);
    const start = w.clock.monotonic();
    const held = await waiter.acquire(options("waiter", { timeoutMs: 10 * LEASE }));
    const waited = w.clock.monotonic() - start;
    assert.ok(waited >= LEASE && waited <= LEASE + INTERVAL, `waited ${waited} ms`);
    assert.deepEqual(held.superseded, [w.state.held!.record.id]);
    const old = await w.store.record(w.state.held!.record.id);
    assert.deepEqual([old?.active, old?.supersededBy], [false, held.record.id]);
  });

  await t.step(
    "holder dies while the waiter watches: the lease counts from its last renewal",
    async () => {
      const w = world();
      await w.hold();
      w.state.diesAt = w.clock.monotonic() + 2 * LEASE;
      const held = await w.waiter(0).acquire(options("waiter", { timeoutMs: 20 * LEASE }));
      assert.ok(w.state.renewals >= 5, `renewals: ${w.state.renewals}`);
      const sinceLastRenewal = held.sentAt - w.state.lastRenew;
      assert.ok(
        sinceLastRenewal >= LEASE,
        `took over ${sinceLastRenewal} ms after the last renewal`,
      );
      assert.ok(sinceLastRenewal <= LEASE + INTERVAL, `took over ${sinceLastRenewal} ms after`);
    },
  );

  await t.step("a long-dead lock is taken at once, without waiting a lease", async () => {
    const w = world();
    await w.hold();
    w.state.alive = false;
    w.clock.advance(LEASE + MAX_CLOCK_SKEW_MS + 1000);
    const waiter = w.waiter(0);
    const start = w.clock.monotonic();
    const held = await waiter.acquire(options("waiter", { timeoutMs: 0 }));
    assert.equal(w.clock.monotonic(), start);
    assert.deepEqual(held.superseded, [w.state.held!.record.id]);
  });

  await t.step("a lock without a lease is never taken over", async () => {
    const clock = new ManualClock();
    const store = new MemoryStore();
    const locker = new Locker(store, clock, clock.sleep);
    await locker.acquire(options("holder", { timeoutMs: 0 }));
    clock.advance(365 * 86_400_000);
    await assert.rejects(
      locker.acquire(options("waiter", { timeoutMs: 60_000 })),
      NotAcquiredError,
    );
  });

  await t.step(
    "an expired uberlock is superseded by a regular lock that it was blocking",
    async () => {
      const w = world();
      const locker = new Locker(w.store, w.clock, w.clock.sleep);
      const uber = await locker.acquire(
        options("ops", { kind: "uberlock", leaseMs: LEASE, timeoutMs: 0 }),
      );
      const held = await locker.acquire(options("dev", { timeoutMs: 2 * LEASE }));
      assert.deepEqual(held.superseded, [uber.record.id]);
      assert.deepEqual((await w.store.active()).map((r) => [r.user, r.uberlock]), [["dev", false]]);
    },
  );
});
