/** The lease keeper of `run`, in-process on a clock that moves only when the test says so. */
import assert from "node:assert/strict";
import { LeaseKeeper } from "../../src/core/lease.ts";
import { Locker } from "../../src/core/locker.ts";
import { acquireOptions } from "../support/acquire.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { FlakyStore } from "../support/flaky_store.ts";
import { SteppedClock } from "../support/stepped_clock.ts";

const LEASE = 30_000;
const MARGIN = 5_000;

async function keeping() {
  const clock = new SteppedClock();
  const store = new FlakyStore();
  const locker = new Locker(store, clock, clock.sleep);
  const held = await locker.acquire(
    acquireOptions("PRODUCTION", "ci", { leaseMs: LEASE, owner: "this-process" }),
  );
  const woke: number[] = [];
  const keeper = new LeaseKeeper(locker, held, clock, clock.sleep, {
    stopMarginMs: MARGIN,
    onWake: (ms) => woke.push(ms),
  });
  let lost: string | undefined;
  keeper.lost.then((reason) => lost = reason);
  keeper.start();
  const rvn = async () => (await store.guard("PRODUCTION"))?.regular?.rvn;
  /** Another user takes the env (a forced release, then a grant). */
  const takeOver = async () => {
    const other = new Locker(store, clock, clock.sleep);
    await other.release({ env: "PRODUCTION", user: "ops", onlyUberlock: false, force: true });
    await other.acquire(acquireOptions("PRODUCTION", "ops"));
  };
  return { clock, store, keeper, held, woke, rvn, takeOver, lost: () => lost };
}

Deno.test("lease keeper", async (t) => {
  await t.step("renews every third of the lease, and only then", async () => {
    const k = await keeping();
    const first = await k.rvn();
    await k.clock.advance(LEASE / 3 - 500);
    assert.equal(await k.rvn(), first);
    await k.clock.advance(1000);
    const second = await k.rvn();
    assert.notEqual(second, first);
    await k.clock.advance(LEASE / 3);
    assert.notEqual(await k.rvn(), second);
    assert.equal(k.lost(), undefined);
    await k.keeper.stop();
  });

  await t.step("a renewal that finds the lock taken declares it lost", async () => {
    const k = await keeping();
    await k.takeOver();
    await k.clock.advance(LEASE / 3 + 500);
    assert.match(k.lost() ?? "", /released or taken over/);
    await k.keeper.stop();
  });

  await t.step("renewals that fail: lost before a waiter may take over", async () => {
    const k = await keeping();
    k.store.down = true;
    // A waiter may take over a whole lease after the last renewal it saw (here: the grant).
    await k.clock.advance(LEASE - MARGIN - 1000);
    assert.equal(k.lost(), undefined, "still within the lease");
    await k.clock.advance(1500);
    assert.match(k.lost() ?? "", /could not be renewed before it ran out/);
    await k.keeper.stop();
  });

  await t.step("a renewal that fails once is retried within a second", async () => {
    const k = await keeping();
    const before = await k.rvn();
    k.store.down = true;
    await k.clock.advance(LEASE / 3 + 100);
    assert.equal(await k.rvn(), before);
    k.store.down = false;
    await k.clock.advance(1000);
    assert.notEqual(await k.rvn(), before);
    assert.equal(k.lost(), undefined);
    await k.keeper.stop();
  });

  await t.step(
    "after the machine slept, the lock is checked at once: taken means lost",
    async () => {
      const k = await keeping();
      await k.clock.advance(2000);
      // Asleep for 5 minutes: the waiter's lease ran out and it took over meanwhile.
      k.clock.suspend(5 * 60_000);
      await k.takeOver();
      await k.clock.advance(1000);
      assert.equal(k.woke.length, 1);
      assert.ok(k.woke[0] >= 5 * 60_000 - 1000, `${k.woke[0]}`);
      assert.match(k.lost() ?? "", /released or taken over/);
      await k.keeper.stop();
    },
  );

  await t.step("after the machine slept, a lock nobody took is kept", async () => {
    const k = await keeping();
    await k.clock.advance(2000);
    const before = await k.rvn();
    k.clock.suspend(5 * 60_000);
    await k.clock.advance(1000);
    assert.equal(k.woke.length, 1);
    assert.notEqual(await k.rvn(), before, "renewed at once");
    await k.clock.advance(LEASE);
    assert.equal(k.lost(), undefined);
    await k.keeper.stop();
  });

  await t.step("after a long sleep with DynamoDB out of reach: lost at once", async () => {
    const k = await keeping();
    k.clock.suspend(5 * 60_000);
    k.store.down = true;
    await k.clock.advance(1000);
    // The check may take two seconds at most; the lease ran out while the machine slept.
    await k.clock.advance(2500);
    assert.match(k.lost() ?? "", /could not be renewed/);
    await k.keeper.stop();
  });

  await t.step("a lease of a week keeps every timer small", async () => {
    const clock = new SteppedClock();
    const locker = new Locker(new MemoryStore(), clock, clock.sleep);
    const held = await locker.acquire(
      acquireOptions("LONG", "ci", { leaseMs: 7 * 86_400_000, owner: "p" }),
    );
    const asked: number[] = [];
    const keeper = new LeaseKeeper(locker, held, clock, (ms, signal) => {
      asked.push(ms);
      return clock.sleep(ms, signal);
    }, { stopMarginMs: MARGIN });
    keeper.start();
    await clock.advance(5000, 1000);
    assert.ok(asked.length >= 4 && asked.every((ms) => ms <= 1000), `${asked}`);
    await keeper.stop();
  });
});
