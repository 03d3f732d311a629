/** Lock events found by polling, on the in-memory store with a manual clock. */
import assert from "node:assert/strict";
import { EVENT_WINDOW_MS, type LockEvent, LockWatcher } from "../../src/core/events.ts";
import { Locker } from "../../src/core/locker.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { acquireOptions } from "../support/acquire.ts";
import { ManualClock } from "../support/manual_clock.ts";

function world(remindAfterMs = 0) {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const locker = new Locker(store, clock, clock.sleep);
  const watcher = new LockWatcher(store, { remindAfterMs });
  const poll = () => watcher.poll(clock.now());
  const release = (env: string, user: string, o: { force?: boolean; uber?: boolean } = {}) =>
    locker.release({ env, user, onlyUberlock: o.uber ?? false, force: o.force ?? false });
  return { clock, store, locker, watcher, poll, release };
}

/** `type key-prefix env user [by] [from]`, for short asserts. */
function brief(e: LockEvent): string {
  const r = e.record;
  const parts: string[] = [e.type, r.uberlock ? "uberlock" : "lock", r.env, r.user];
  if (e.type === "released") parts.push(`by=${r.releasedBy}`, `forced=${r.forced ?? false}`);
  if (e.type === "locked" && e.tookOverFrom) parts.push(`from=${e.tookOverFrom.user}`);
  return parts.join(" ");
}

Deno.test("lock events by polling", async (t) => {
  await t.step("a first poll tells locks of the last minutes, not older ones", async () => {
    const w = world();
    await w.locker.acquire(acquireOptions("OLD", "alice"));
    w.clock.advance(EVENT_WINDOW_MS + 1000);
    const recent = await w.locker.acquire(acquireOptions("NEW", "bob"));
    const { events } = await w.poll();
    assert.deepEqual(events.map(brief), ["locked lock NEW bob"]);
    assert.equal(events[0].key, `lock#${recent.record.id}`);
    assert.equal(events[0].at, recent.record.createdAt);
    assert.deepEqual((await w.poll()).events, []);
  });

  await t.step("each lock and release once, in order; a refresh is no event", async () => {
    const w = world();
    assert.deepEqual((await w.poll()).events, []);
    const held = await w.locker.acquire(acquireOptions("PRODUCTION", "alice"));
    w.clock.advance(1000);
    assert.deepEqual((await w.poll()).events.map(brief), ["locked lock PRODUCTION alice"]);
    // Locking again (a CI retry) refreshes the same lock: nothing new.
    await w.locker.acquire(acquireOptions("PRODUCTION", "alice"));
    assert.deepEqual((await w.poll()).events, []);
    await w.release("PRODUCTION", "alice");
    const { events } = await w.poll();
    assert.deepEqual(events.map(brief), [
      "released lock PRODUCTION alice by=alice forced=false",
    ]);
    assert.equal(events[0].key, `end#${held.record.id}`);
    assert.deepEqual((await w.poll()).events, []);
    // A release and a new lock between two polls: both, the release first.
    await w.locker.acquire(acquireOptions("QA", "carol"));
    await w.poll();
    w.clock.advance(10);
    await w.release("QA", "carol");
    w.clock.advance(10);
    await w.locker.acquire(acquireOptions("QA", "dave"));
    assert.deepEqual((await w.poll()).events.map(brief), [
      "released lock QA carol by=carol forced=false",
      "locked lock QA dave",
    ]);
  });

  await t.step("a forced release names who forced it", async () => {
    const w = world();
    await w.locker.acquire(acquireOptions("STAGING", "alice"));
    await w.poll();
    await w.release("STAGING", "bob", { force: true });
    assert.deepEqual((await w.poll()).events.map(brief), [
      "released lock STAGING alice by=bob forced=true",
    ]);
  });

  await t.step("uberlock on and off", async () => {
    const w = world();
    await w.poll();
    await w.locker.acquire(acquireOptions("PRODUCTION", "ops", { kind: "uberlock" }));
    assert.deepEqual((await w.poll()).events.map(brief), ["locked uberlock PRODUCTION ops"]);
    await w.release("PRODUCTION", "ops", { uber: true });
    assert.deepEqual((await w.poll()).events.map(brief), [
      "released uberlock PRODUCTION ops by=ops forced=false",
    ]);
  });

  await t.step("a takeover of a lapsed lease is one event: the new lock, from whom", async () => {
    const w = world();
    const old = await w.locker.acquire(acquireOptions("LEASE", "alice", { leaseMs: 5000 }));
    await w.poll();
    // Bob waits; alice never renews; after a whole lease bob takes it over.
    const bob = await w.locker.acquire(
      acquireOptions("LEASE", "bob", { timeoutMs: 60_000, intervalMs: 1000 }),
    );
    assert.deepEqual(bob.superseded, [old.record.id]);
    const { events } = await w.poll();
    assert.deepEqual(events.map(brief), ["locked lock LEASE bob from=alice"]);
    assert.equal(events[0].key, `lock#${bob.record.id}`);
    assert.deepEqual((await w.poll()).events, []);
    // A watcher that never saw alice's lock finds it in the env's history (and tells her lock
    // too, as it is within the window: the claims in the table keep it from a second post).
    const fresh = new LockWatcher(w.store);
    assert.deepEqual((await fresh.poll(w.clock.now())).events.map(brief), [
      "locked lock LEASE alice",
      "locked lock LEASE bob from=alice",
    ]);
  });

  await t.step("a first poll also tells what happened in the window before it", async () => {
    const w = world();
    await w.locker.acquire(acquireOptions("GONE", "old"));
    await w.release("GONE", "old");
    w.clock.advance(EVENT_WINDOW_MS + 1000);
    await w.locker.acquire(acquireOptions("CI", "ci@example.com"));
    w.clock.advance(1000);
    await w.release("CI", "ci@example.com");
    await w.locker.acquire(acquireOptions("HELD", "erin"));
    const { events } = await w.poll();
    assert.deepEqual(events.map(brief), [
      "locked lock CI ci@example.com",
      "released lock CI ci@example.com by=ci@example.com forced=false",
      "locked lock HELD erin",
    ]);
    assert.deepEqual((await w.poll()).events, []);
  });

  await t.step("reminders: once per period while held, then forgotten", async () => {
    const w = world(2000);
    const held = await w.locker.acquire(acquireOptions("PRODUCTION", "alice"));
    assert.deepEqual((await w.poll()).reminders, []);
    w.clock.advance(1999);
    assert.deepEqual((await w.poll()).reminders, []);
    w.clock.advance(1);
    const [first, ...none] = (await w.poll()).reminders;
    assert.deepEqual(none, []);
    assert.deepEqual([first.key, first.period, first.heldMs, first.until], [
      `remind#${held.record.id}#1`,
      1,
      2000,
      held.record.createdAt + 4000,
    ]);
    w.clock.advance(1000);
    assert.deepEqual((await w.poll()).reminders, []);
    w.clock.advance(1000);
    assert.deepEqual((await w.poll()).reminders.map((r) => r.key), [
      `remind#${held.record.id}#2`,
    ]);
    // A watcher that starts late reminds of the current period only.
    w.clock.advance(5000);
    const late = new LockWatcher(w.store, { remindAfterMs: 2000 });
    assert.deepEqual((await late.poll(w.clock.now())).reminders.map((r) => r.period), [4]);
    await w.release("PRODUCTION", "alice");
    w.clock.advance(10_000);
    assert.deepEqual((await w.poll()).reminders, []);
  });

  await t.step("a poll that fails changes nothing: the next one tells it", async () => {
    const w = world();
    await w.poll();
    await w.locker.acquire(acquireOptions("FLAKY", "alice"));
    const record = w.store.record.bind(w.store);
    const active = w.store.active.bind(w.store);
    w.store.active = () => Promise.reject(new Error("cannot reach DynamoDB"));
    await assert.rejects(w.poll(), /cannot reach/);
    w.store.active = active;
    assert.deepEqual((await w.poll()).events.map(brief), ["locked lock FLAKY alice"]);
    await w.release("FLAKY", "alice");
    w.store.record = () => Promise.reject(new Error("cannot reach DynamoDB"));
    await assert.rejects(w.poll(), /cannot reach/);
    w.store.record = record;
    assert.deepEqual((await w.poll()).events.map(brief), [
      "released lock FLAKY alice by=alice forced=false",
    ]);
  });
});
