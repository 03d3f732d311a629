/** Lease takeover rules with injected clocks: no real sleeps, skew chosen by the test. */
import assert from "node:assert/strict";
import type { Sleep } from "../../src/core/clock.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { LeftLineError, NotAcquiredError } from "../../src/core/errors.ts";
import {
  type AcquireOptions,
  FAST_PATH_WATCH_MS,
  type Held,
  Locker,
  MAX_CLOCK_SKEW_MS,
  Observations,
} from "../../src/core/locker.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { SteppedClock } from "../support/stepped_clock.ts";

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

  await t.step(
    "a long-dead plain lock is taken after a short watch, not a whole lease; --no-wait never",
    async () => {
      const clock = new ManualClock();
      const store = new MemoryStore();
      const locker = new Locker(store, clock, clock.sleep);
      const longLease = 60 * 60_000;
      const old = await locker.acquire(options("holder", { leaseMs: longLease, timeoutMs: 0 }));
      clock.advance(longLease + MAX_CLOCK_SKEW_MS + 1000);
      await assert.rejects(locker.acquire(options("waiter", { timeoutMs: 0 })), NotAcquiredError);
      const start = clock.monotonic();
      const held = await locker.acquire(options("waiter", { timeoutMs: longLease }));
      const waited = clock.monotonic() - start;
      assert.ok(
        waited >= FAST_PATH_WATCH_MS && waited <= FAST_PATH_WATCH_MS + INTERVAL,
        `waited ${waited} ms`,
      );
      assert.deepEqual(held.superseded, [old.record.id]);
    },
  );

  await t.step(
    "a holder whose clock is 13 minutes slow is never taken over while it renews",
    async () => {
      // A run keeps a 2-minute lease, renewing every 40 s; a plain holder re-locks as often.
      for (const owner of ["run-process", undefined]) {
        const lease = 120_000;
        const clock = new ManualClock();
        const store = new MemoryStore();
        const slow = clock.skewed(-13 * 60_000);
        const holder = new Locker(store, slow, clock.sleep);
        const holderOptions = options("holder", {
          leaseMs: lease,
          timeoutMs: 0,
          ...(owner ? { owner } : {}),
        });
        let held = await holder.acquire(holderOptions);
        let renewals = 0;
        const sleep: Sleep = async (ms) => {
          const end = clock.monotonic() + ms;
          while (clock.monotonic() < end) {
            clock.advance(1000);
            if (clock.monotonic() % (lease / 3) === 0) {
              if (owner) assert.equal(await holder.renew(held), true);
              else held = await holder.acquire(holderOptions);
              renewals++;
            }
          }
        };
        const waiter = new Locker(store, clock, sleep);
        await assert.rejects(
          waiter.acquire(options("waiter", { timeoutMs: 10 * lease })),
          NotAcquiredError,
        );
        assert.ok(renewals >= 29, `renewals: ${renewals}`);
        assert.deepEqual((await store.active()).map((r) => r.user), ["holder"]);
      }
    },
  );

  await t.step("a dead kept lock is taken over after a whole lease, never early", async () => {
    const clock = new ManualClock();
    const store = new MemoryStore();
    const locker = new Locker(store, clock, clock.sleep);
    const lease = 5 * 60_000;
    await locker.acquire(options("holder", { leaseMs: lease, timeoutMs: 0, owner: "p1" }));
    clock.advance(lease + MAX_CLOCK_SKEW_MS + 1000);
    const start = clock.monotonic();
    await locker.acquire(options("waiter", { timeoutMs: 2 * lease }));
    const waited = clock.monotonic() - start;
    assert.ok(waited >= lease && waited <= lease + INTERVAL, `waited ${waited} ms`);
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

Deno.test("single attempts share what they saw through AcquireOptions.seen", async (t) => {
  for (const owner of [undefined, "run-token"]) {
    await t.step(
      `a ${owner ? "kept" : "plain"} lease: taken over after a whole lease`,
      async () => {
        const clock = new ManualClock();
        const store = new MemoryStore();
        const locker = new Locker(store, clock, clock.sleep);
        const old = await locker.acquire(
          options("holder", { leaseMs: LEASE, timeoutMs: 0, ...(owner ? { owner } : {}) }),
        );
        const seen = new Observations();
        const attempt = () => locker.acquire(options("other", { timeoutMs: 0, seen }));
        await assert.rejects(attempt(), NotAcquiredError);
        clock.advance(LEASE - 1);
        await assert.rejects(attempt(), NotAcquiredError);
        // Without the shared memory, each attempt starts watching again.
        clock.advance(1);
        await assert.rejects(
          locker.acquire(options("other", { timeoutMs: 0 })),
          NotAcquiredError,
        );
        const held = await attempt();
        assert.deepEqual(held.superseded, [old.record.id]);
      },
    );
  }
});

Deno.test("rejoin: false never takes the lock without its place", async (t) => {
  /** A store where `/daplaya cancel` (from another replica) removes bob's place just before a grant. */
  class CancelBeforeGrant extends MemoryStore {
    cancel = false;
    override async grant(req: Parameters<MemoryStore["grant"]>[0]) {
      if (this.cancel && req.place !== undefined) {
        this.cancel = false;
        const line = (await this.guard(req.env))?.line ?? [];
        const index = line.findIndex((p) => p.pid === req.place);
        await this.leave({ env: req.env, places: [{ pid: req.place, index }] });
      }
      return await super.grant(req);
    }
  }
  for (const rejoin of [false, true]) {
    await t.step(`rejoin: ${rejoin}`, async () => {
      const clock = new SteppedClock();
      const store = new CancelBeforeGrant();
      const locker = new Locker(store, clock, clock.sleep);
      const alice = await locker.acquire(options("alice", { timeoutMs: 0 }));
      const bob = locker.acquire(options("bob", { timeoutMs: 60_000, intervalMs: 1000, rejoin }));
      await clock.sleeping(1);
      await locker.releaseHeld(alice);
      store.cancel = true;
      const outcome = bob.then((held) => held.record.user, (e) => e);
      await clock.advance(1000, 1000);
      if (rejoin) {
        // Its place gone, the line empty and the env free: a waiter that may rejoin takes it.
        assert.equal(await outcome, "bob");
      } else {
        assert.ok((await outcome) instanceof LeftLineError);
        assert.deepEqual(await store.active(), []);
      }
      assert.deepEqual((await store.guard("PRODUCTION"))?.line ?? [], []);
    });
  }
});
