/**
 * The contract suite: the same cases against the in-memory fake and against DynamoDB Local.
 * The fake is trustworthy only while it passes here.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../support/manual_clock.ts";
import {
  InterruptedError,
  LeftLineError,
  NewEnvError,
  NotAcquiredError,
  NotHeldError,
  UsageError,
} from "../../src/core/errors.ts";
import { FrozenError, Policies } from "../../src/core/policy.ts";
import { type AcquireOptions, Locker, type Waiting } from "../../src/core/locker.ts";
import type { Freeze, Place } from "../../src/core/model.ts";
import { SteppedClock } from "../support/stepped_clock.ts";
import { acquireOptions } from "../support/acquire.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { GrantRequest, LockStore } from "../../src/core/store.ts";
import {
  localStore,
  startDynamoLocal,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../../scripts/dev/dynamodb_local.ts";
import { startFaultProxy } from "../../scripts/dev/fault_proxy.ts";
import { DynamoStore } from "../../src/store/dynamodb/store.ts";

async function contract(t: Deno.TestContext, makeStore: (name: string) => Promise<LockStore>) {
  let n = 0;
  /** A fresh store (a fresh table for DynamoDB) per case, so cases do not see each other. */
  const fresh = async () => {
    const store = await makeStore(`Locks${++n}`);
    await store.init();
    const clock = new ManualClock();
    return { store, clock, locker: new Locker(store, clock, clock.sleep) };
  };

  await t.step("a lock is granted, recorded and listed; others are refused", async () => {
    const { store, locker } = await fresh();
    const held = await locker.acquire(acquireOptions("PRODUCTION", "alice", { meta: "deploy 1" }));
    assert.equal(held.refreshed, false);
    assert.match(
      held.record.id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    await assert.rejects(locker.acquire(acquireOptions("PRODUCTION", "bob")), NotAcquiredError);
    const active = await locker.list();
    assert.deepEqual(active.map((r) => [r.env, r.user, r.meta, r.active, r.uberlock]), [
      ["PRODUCTION", "alice", "deploy 1", true, false],
    ]);
    assert.deepEqual(await store.record(held.record.id), held.record);
    assert.equal((await locker.list("STAGING")).length, 0);
    store.close();
  });

  await t.step(
    "re-lock by the holder keeps the id, refreshes updatedAt, keeps meta unless given",
    async () => {
      const { store, clock, locker } = await fresh();
      const first = await locker.acquire(acquireOptions("STAGING", "alice", { meta: "first" }));
      clock.advance(1000);
      const again = await locker.acquire(acquireOptions("STAGING", "alice", { meta: "CLI" }));
      assert.equal(again.refreshed, true);
      assert.equal(again.record.id, first.record.id);
      assert.equal(again.record.updatedAt, first.record.updatedAt + 1000);
      assert.equal(again.record.meta, "first");
      const stored = await store.record(first.record.id);
      assert.equal(stored?.updatedAt, first.record.updatedAt + 1000);
      assert.equal(stored?.meta, "first");
      await locker.acquire(
        acquireOptions("STAGING", "alice", { meta: "second", metaExplicit: true }),
      );
      assert.equal((await store.record(first.record.id))?.meta, "second");
      assert.equal((await locker.history("STAGING", 10)).length, 1);
      store.close();
    },
  );

  await t.step("uberlock stacks over another user's lock and blocks everyone else's", async () => {
    const { store, locker } = await fresh();
    await locker.acquire(acquireOptions("PRODUCTION", "alice"));
    const uber = await locker.acquire(acquireOptions("PRODUCTION", "ops", { kind: "uberlock" }));
    assert.equal(uber.record.uberlock, true);
    // Alice's in-flight deploy keeps its lock; she can still refresh it.
    assert.equal((await locker.acquire(acquireOptions("PRODUCTION", "alice"))).refreshed, true);
    await locker.release({ env: "PRODUCTION", user: "alice", onlyUberlock: false, force: false });
    await assert.rejects(
      locker.acquire(acquireOptions("PRODUCTION", "bob")),
      /held by ops \(an uberlock/,
    );
    await assert.rejects(
      locker.acquire(acquireOptions("PRODUCTION", "bob", { kind: "uberlock" })),
      NotAcquiredError,
    );
    // Only the uberlock's holder may take regular locks meanwhile.
    await locker.acquire(acquireOptions("PRODUCTION", "ops"));
    const released = await locker.release({
      env: "PRODUCTION",
      user: "ops",
      onlyUberlock: true,
      force: false,
    });
    assert.deepEqual(released.map((r) => r.uberlock), [true]);
    assert.deepEqual((await locker.list("PRODUCTION")).map((r) => [r.user, r.uberlock]), [[
      "ops",
      false,
    ]]);
    store.close();
  });

  await t.step(
    "release ends only the user's own lock and keeps the record as history",
    async () => {
      const { store, clock, locker } = await fresh();
      const held = await locker.acquire(acquireOptions("QA", "alice"));
      await assert.rejects(
        locker.release({ env: "QA", user: "bob", onlyUberlock: false, force: false }),
        NotHeldError,
      );
      clock.advance(500);
      const [released] = await locker.release({
        env: "QA",
        user: "alice",
        onlyUberlock: false,
        force: false,
      });
      assert.equal(released.id, held.record.id);
      const stored = await store.record(held.record.id);
      assert.equal(stored?.active, false);
      assert.equal(stored?.releasedBy, "alice");
      assert.equal(stored?.updatedAt, held.record.createdAt + 500);
      assert.equal((await locker.list()).length, 0);
      await assert.rejects(
        locker.release({ env: "QA", user: "alice", onlyUberlock: false, force: false }),
        NotHeldError,
      );
      store.close();
    },
  );

  await t.step("force release ends whoever holds it and records who forced it", async () => {
    const { store, locker } = await fresh();
    const held = await locker.acquire(acquireOptions("QA", "alice"));
    const [released] = await locker.release({
      env: "QA",
      user: "admin",
      onlyUberlock: false,
      force: true,
    });
    assert.equal(released.user, "alice");
    const stored = await store.record(held.record.id);
    assert.deepEqual([stored?.active, stored?.releasedBy, stored?.forced], [false, "admin", true]);
    store.close();
  });

  await t.step(
    "forced, one kind at a time: the regular lock, or with onlyUberlock the uberlock",
    async () => {
      const { store, locker } = await fresh();
      await locker.acquire(acquireOptions("QA", "alice"));
      await locker.acquire(acquireOptions("QA", "ops", { kind: "uberlock" }));
      const force = { env: "QA", user: "admin", force: true };
      const [regular] = await locker.release({ ...force, onlyUberlock: false });
      assert.deepEqual([regular.user, regular.uberlock], ["alice", false]);
      await assert.rejects(locker.release({ ...force, onlyUberlock: false }), (e) => {
        assert.ok(e instanceof NotHeldError);
        assert.equal(
          e.message,
          "there is no active lock on env QA: ops holds an uberlock (for 0s)",
        );
        assert.deepEqual(e.holders.map((h) => h.kind), ["uberlock"]);
        return true;
      });
      const [uber] = await locker.release({ ...force, onlyUberlock: true });
      assert.deepEqual([uber.user, uber.uberlock, uber.releasedBy], ["ops", true, "admin"]);
      assert.equal((await store.guard("QA"))?.uberlock, undefined);
      store.close();
    },
  );

  await t.step("a first lock on an env is checked against the known envs", async () => {
    const { store, locker } = await fresh();
    await locker.acquire(acquireOptions("PRODUCTION", "alice"));
    await locker.release({ env: "PRODUCTION", user: "alice", onlyUberlock: false, force: false });
    // Asking for an existing env's guard: a new env fails, with nothing written.
    const probe = await store.grant({
      env: "NEVER",
      kind: "regular",
      record: {
        id: crypto.randomUUID(),
        user: "u",
        env: "NEVER",
        createdAt: 1,
        updatedAt: 1,
        active: true,
        uberlock: false,
        meta: "m",
        fence: 1,
      },
      rvn: "r",
      supersede: [],
      envIs: "existing",
      token: crypto.randomUUID(),
    });
    assert.deepEqual(probe, { granted: false, guard: null });
    assert.equal(await store.guard("NEVER"), null);
    assert.deepEqual(await store.history("NEVER", 5), []);
    await assert.rejects(
      locker.acquire(acquireOptions("PRODUCTON", "bob")),
      (e) => e instanceof NewEnvError && e.suggestion === "PRODUCTION",
    );
    assert.equal(await store.guard("PRODUCTON"), null);
    await locker.acquire(acquireOptions("PRODUCTON", "bob", { newEnv: true }));
    await locker.acquire(acquireOptions("STAGING", "bob"));
    assert.deepEqual(await store.envs(), ["PRODUCTION", "PRODUCTON", "STAGING"]);
    store.close();
  });

  await t.step(
    "history lists one env's records newest first, with a limit; guards never show",
    async () => {
      const { store, clock, locker } = await fresh();
      for (const user of ["a", "b", "c"]) {
        await locker.acquire(acquireOptions("DEV", user));
        clock.advance(10);
        await locker.release({ env: "DEV", user, onlyUberlock: false, force: false });
      }
      await locker.acquire(acquireOptions("OTHER", "z"));
      assert.deepEqual((await locker.history("DEV", 10)).map((r) => r.user), ["c", "b", "a"]);
      assert.deepEqual((await locker.history("DEV", 2)).map((r) => r.user), ["c", "b"]);
      assert.ok((await locker.history("DEV", 10)).every((r) => !r.active));
      assert.deepEqual((await locker.list()).map((r) => r.env), ["OTHER"]);
      store.close();
    },
  );

  await t.step(
    "fences strictly increase across kinds and releases, even with the clock behind",
    async () => {
      const { store, clock, locker } = await fresh();
      const fences: number[] = [];
      fences.push((await locker.acquire(acquireOptions("PROD", "a"))).record.fence);
      fences.push(
        (await locker.acquire(acquireOptions("PROD", "ops", { kind: "uberlock" }))).record.fence,
      );
      await locker.release({ env: "PROD", user: "a", onlyUberlock: false, force: false });
      await locker.release({ env: "PROD", user: "ops", onlyUberlock: false, force: false });
      // A host whose clock is an hour behind still gets a greater fence.
      const behind = new Locker(store, clock.skewed(-3_600_000), clock.sleep);
      fences.push((await behind.acquire(acquireOptions("PROD", "b"))).record.fence);
      assert.ok(fences[0] < fences[1] && fences[1] < fences[2], `fences ${fences}`);
      store.close();
    },
  );

  await t.step("20 concurrent acquirers: exactly one wins", async () => {
    const { store, locker } = await fresh();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => locker.acquire(acquireOptions("RACE", `user${i}`))),
    );
    const winners = results.filter((r) => r.status === "fulfilled");
    assert.equal(winners.length, 1);
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(r.reason instanceof NotAcquiredError, String(r.reason));
      }
    }
    assert.equal((await locker.list("RACE")).length, 1);
    assert.equal((await locker.history("RACE", 100)).length, 1);
    store.close();
  });

  await t.step("two users racing from 20 acquirers: one user wins, with one lock id", async () => {
    const { store, locker } = await fresh();
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => locker.acquire(acquireOptions("RACE2", i % 2 ? "alice" : "bob")),
      ),
    );
    const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value.record] : []);
    assert.ok(won.length >= 1);
    assert.equal(new Set(won.map((r) => r.user)).size, 1);
    assert.equal(new Set(won.map((r) => r.id)).size, 1);
    assert.equal((await locker.history("RACE2", 100)).length, 1);
    store.close();
  });

  await t.step("a re-lock hands out a new, higher fence and never a shorter lease", async () => {
    const { store, clock, locker } = await fresh();
    const first = await locker.acquire(acquireOptions("FENCE", "alice", { leaseMs: 60_000 }));
    clock.advance(1000);
    const again = await locker.acquire(acquireOptions("FENCE", "alice", { leaseMs: 3_000 }));
    assert.equal(again.record.id, first.record.id);
    assert.ok(again.record.fence > first.record.fence, `${again.record.fence}`);
    assert.equal(again.record.leaseMs, 60_000);
    const stored = await store.record(first.record.id);
    assert.deepEqual([stored?.fence, stored?.leaseMs], [again.record.fence, 60_000]);
    const guard = await store.guard("FENCE");
    assert.deepEqual([guard?.fence, guard?.regular?.fence, guard?.regular?.leaseMs], [
      again.record.fence,
      again.record.fence,
      60_000,
    ]);
    // A lock without a lease stays without one.
    await locker.acquire(acquireOptions("FOREVER", "alice"));
    const relocked = await locker.acquire(acquireOptions("FOREVER", "alice", { leaseMs: 3_000 }));
    assert.equal(relocked.record.leaseMs, undefined);
    assert.equal((await store.guard("FOREVER"))?.regular?.leaseMs, undefined);
    store.close();
  });

  await t.step("a kept lock is not joined by another process of the same user", async () => {
    const { store, locker } = await fresh();
    const kept = await locker.acquire(acquireOptions("KEPT", "ci@example.com", {
      owner: "process-1",
      leaseMs: 60_000,
    }));
    assert.equal((await store.guard("KEPT"))?.regular?.owner, "process-1");
    for (const owner of ["process-2", undefined]) {
      const e = await locker.acquire(
        acquireOptions("KEPT", "ci@example.com", owner ? { owner } : {}),
      )
        .then(() => undefined, (e) => e);
      assert.ok(e instanceof NotAcquiredError, String(e));
    }
    // Its keeper renews it; a renewal under another owner or none is refused.
    assert.equal(await locker.renew(kept), true);
    assert.equal(await locker.renew({ ...kept, owner: "process-2" }), false);
    const { owner: _, ...unowned } = kept;
    assert.equal(await locker.renew(unowned), false);
    const active = await locker.list("KEPT");
    assert.deepEqual(active.map((r) => r.id), [kept.record.id]);
    store.close();
  });

  await t.step("a refresh applies only to the record version it was decided on", async () => {
    const { store, clock } = await fresh();
    const locker = new Locker(store, clock, clock.sleep);
    const held = await locker.acquire(acquireOptions("RVN", "alice", { leaseMs: 60_000 }));
    const guard = (await store.guard("RVN"))!;
    const request = {
      env: "RVN",
      kind: "regular" as const,
      id: held.record.id,
      seenRvn: "not-the-current-one",
      rvn: crypto.randomUUID(),
      now: clock.now(),
      fence: guard.fence + 1,
      token: crypto.randomUUID(),
    };
    const stale = await store.refresh(request);
    assert.equal(stale.renewed, false);
    assert.equal(!stale.renewed && stale.guard?.regular?.rvn, held.rvn);
    const lowFence = await store.refresh({ ...request, seenRvn: held.rvn, fence: guard.fence });
    assert.equal(lowFence.renewed, false);
    const ok = await store.refresh({ ...request, seenRvn: held.rvn, owner: "process-1" });
    assert.equal(ok.renewed, true);
    assert.equal((await store.guard("RVN"))?.regular?.owner, "process-1");
    store.close();
  });

  await t.step("users compare case-insensitively", async () => {
    const { store, locker } = await fresh();
    await locker.acquire(acquireOptions("CASE", "Alice@Example.com", { kind: "uberlock" }));
    // The uberlock's holder takes regular locks under it, whatever the case of the email.
    const regular = await locker.acquire(acquireOptions("CASE", "alice@example.com"));
    const again = await locker.acquire(acquireOptions("CASE", "ALICE@example.com"));
    assert.equal(again.record.id, regular.record.id);
    const released = await locker.release({
      env: "CASE",
      user: "alice@EXAMPLE.com",
      onlyUberlock: false,
      force: false,
    });
    assert.equal(released.length, 2);
    store.close();
  });

  await t.step("a token reused with other parameters is refused, as DynamoDB does", async () => {
    const { store, clock, locker } = await fresh();
    const held = await locker.acquire(acquireOptions("TOKEN", "alice", { leaseMs: 60_000 }));
    const request = {
      env: "TOKEN",
      kind: "regular" as const,
      id: held.record.id,
      rvn: crypto.randomUUID(),
      now: clock.now(),
      leaseMs: 60_000,
      token: crypto.randomUUID(),
    };
    assert.equal((await store.renew(request)).renewed, true);
    // The same request again (a retry after a lost answer) succeeds without a change.
    assert.equal((await store.renew(request)).renewed, true);
    await assert.rejects(
      store.renew({ ...request, rvn: crypto.randomUUID() }),
      /IdempotentParameterMismatch/,
    );
    assert.equal((await store.guard("TOKEN"))?.regular?.rvn, request.rvn);
    store.close();
  });

  await t.step("history follows pages up to the limit", async () => {
    const { store, clock, locker } = await fresh();
    // 2048 three-byte characters: about 6 KB a record, so 200 need more than one 1 MB page.
    const meta = "€".repeat(2048);
    for (let i = 0; i < 200; i++) {
      clock.advance(1000);
      await locker.acquire(acquireOptions("PAGES", "alice", { meta }));
      await locker.release({ env: "PAGES", user: "alice", onlyUberlock: false, force: false });
    }
    const history = await locker.history("PAGES", 200);
    assert.equal(history.length, 200);
    assert.ok(history.every((r, i) => i === 0 || r.createdAt < history[i - 1].createdAt));
    assert.equal((await locker.history("PAGES", 150)).length, 150);
    store.close();
  });

  /** A fresh store whose clock moves only when the case says so (for waiting acquires). */
  const freshStepped = async () => {
    const store = await makeStore(`Locks${++n}`);
    await store.init();
    const clock = new SteppedClock();
    return { store, clock, locker: new Locker(store, clock, clock.sleep) };
  };
  const waiting = (env: string, user: string, extra: Partial<AcquireOptions> = {}) =>
    acquireOptions(env, user, { timeoutMs: 600_000, intervalMs: 1000, ...extra });
  const users = async (store: LockStore, env: string) =>
    ((await store.guard(env))?.line ?? []).map((p) => p.user);
  const place = (user: string, now: number, extra: Partial<Place> = {}): Place => ({
    pid: crypto.randomUUID(),
    user,
    meta: "CLI",
    since: now,
    renewedAt: now,
    rvn: crypto.randomUUID(),
    leaseMs: 3000,
    ...extra,
  });
  const releaseAll = (locker: Locker, env: string, user: string) =>
    locker.release({ env, user, onlyUberlock: false, force: false });

  await t.step("the line: joins keep their order; a place is never taken twice", async () => {
    const { store, clock, locker } = await fresh();
    const now = clock.now();
    assert.deepEqual(await store.join({ env: "LINE", place: place("bob", now) }), {
      ok: false,
      guard: null,
    });
    await locker.acquire(acquireOptions("LINE", "alice"));
    const bob = place("bob", now);
    const carol = place("carol", now);
    assert.equal((await store.join({ env: "LINE", place: bob })).ok, true);
    const joined = await store.join({ env: "LINE", place: carol });
    assert.deepEqual(joined.guard?.line?.map((p) => p.user), ["bob", "carol"]);
    // The same place again (a retry after a lost answer) is refused and shows it once.
    const again = await store.join({ env: "LINE", place: bob });
    assert.equal(again.ok, false);
    assert.deepEqual(again.guard?.line?.map((p) => p.pid), [bob.pid, carol.pid]);
    // A renewal finds its place by index; a stale index is refused with the line as it is.
    const renewed = await store.renewPlace({
      env: "LINE",
      pid: carol.pid,
      index: 1,
      rvn: "r2",
      now: now + 1,
    });
    assert.equal(renewed.ok, true);
    assert.deepEqual(renewed.guard?.line?.[1], { ...carol, rvn: "r2", renewedAt: now + 1 });
    const stale = await store.renewPlace({ env: "LINE", pid: carol.pid, index: 0, rvn: "r3", now });
    assert.equal(stale.ok, false);
    assert.equal(stale.guard?.line?.[1].rvn, "r2");
    // Leaving: only while the place is where it was said to be (and, if given, that version).
    assert.equal(
      (await store.leave({ env: "LINE", places: [{ pid: bob.pid, index: 0, rvn: "old" }] })).ok,
      false,
    );
    const left = await store.leave({ env: "LINE", places: [{ pid: bob.pid, index: 0 }] });
    assert.deepEqual(left.guard?.line?.map((p) => p.user), ["carol"]);
    // Left, but the answer was lost: the retry is refused and shows the place gone.
    const retried = await store.leave({ env: "LINE", places: [{ pid: bob.pid, index: 0 }] });
    assert.equal(retried.ok, false);
    assert.deepEqual(retried.guard?.line?.map((p) => p.user), ["carol"]);
    // A place that left may join again, at the end.
    assert.equal((await store.join({ env: "LINE", place: bob })).ok, true);
    assert.deepEqual(await users(store, "LINE"), ["carol", "bob"]);
    assert.deepEqual(
      (await store.guards(["LINE", "NOPE"])).map((g) => [g.env, g.line?.length]),
      [["LINE", 2]],
    );
    store.close();
  });

  await t.step(
    "a regular grant goes to the first place only; an uberlock ignores the line",
    async () => {
      const { store, clock, locker } = await fresh();
      await locker.acquire(acquireOptions("TURN", "alice"));
      const bob = place("bob", clock.now());
      const carol = place("carol", clock.now());
      await store.join({ env: "TURN", place: bob });
      await store.join({ env: "TURN", place: carol });
      await releaseAll(locker, "TURN", "alice");
      // Free, but others wait: a newcomer and a --no-wait are refused, naming who waits.
      await assert.rejects(locker.acquire(acquireOptions("TURN", "dave")), (e) => {
        assert.ok(e instanceof NotAcquiredError);
        assert.equal(e.holder, undefined);
        assert.deepEqual(e.line.map((p) => p.user), ["bob", "carol"]);
        assert.match(
          e.message,
          /env TURN is free but others were first: 2 wait in line, first bob/,
        );
        return true;
      });
      assert.deepEqual(await users(store, "TURN"), ["bob", "carol"]);
      // Carol's place is not first: refused. Bob's is: granted, and his place is gone.
      const grant = (user: string, pid: string) => {
        const now = clock.now();
        clock.advance(1);
        return store.grant({
          env: "TURN",
          kind: "regular",
          record: {
            id: crypto.randomUUID(),
            user,
            env: "TURN",
            createdAt: now,
            updatedAt: now,
            active: true,
            uberlock: false,
            meta: "CLI",
            fence: now + 10,
          },
          rvn: crypto.randomUUID(),
          supersede: [],
          place: pid,
          token: crypto.randomUUID(),
        });
      };
      assert.equal((await grant("carol", carol.pid)).granted, false);
      assert.equal((await grant("bob", bob.pid)).granted, true);
      assert.deepEqual(await users(store, "TURN"), ["carol"]);
      // Break-glass: an uberlock is granted with the line untouched.
      const uber = await locker.acquire(acquireOptions("TURN", "ops", { kind: "uberlock" }));
      assert.equal(uber.record.uberlock, true);
      assert.deepEqual(await users(store, "TURN"), ["carol"]);
      store.close();
    },
  );

  await t.step("waiters are granted in the order they joined, within one interval", async () => {
    const { store, clock, locker } = await freshStepped();
    await locker.acquire(acquireOptions("ORDER", "alice"));
    const seen: string[] = [];
    const onWait = (w: Waiting) => seen.push(`${w.position}:${w.holder?.user ?? "-"}`);
    const bob = locker.acquire(waiting("ORDER", "bob", { onWait }));
    await clock.sleeping(1);
    const carol = locker.acquire(waiting("ORDER", "carol"));
    await clock.sleeping(2);
    const dave = locker.acquire(waiting("ORDER", "dave"));
    await clock.sleeping(3);
    assert.deepEqual(await users(store, "ORDER"), ["bob", "carol", "dave"]);
    assert.deepEqual(seen, ["1:alice"]);
    // Each waiter costs one request per interval while it waits.
    const before = store.requests;
    await clock.advance(1000, 1000);
    await clock.sleeping(3);
    assert.equal(store.requests - before, 3);
    await releaseAll(locker, "ORDER", "alice");
    // A newcomer, even a single attempt right now, does not overtake.
    await assert.rejects(locker.acquire(acquireOptions("ORDER", "eve")), NotAcquiredError);
    await clock.advance(1000, 1000);
    const bobHeld = await bob;
    await clock.sleeping(2);
    assert.equal(bobHeld.record.user, "bob");
    assert.deepEqual(await users(store, "ORDER"), ["carol", "dave"]);
    await locker.releaseHeld(bobHeld);
    await clock.advance(1000, 1000);
    assert.equal((await carol).record.user, "carol");
    await clock.sleeping(1);
    await releaseAll(locker, "ORDER", "carol");
    await clock.advance(1000, 1000);
    assert.equal((await dave).record.user, "dave");
    assert.deepEqual(await users(store, "ORDER"), []);
    store.close();
  });

  await t.step("a waiter that stops (signal, timeout) leaves the line", async () => {
    const { store, clock, locker } = await freshStepped();
    await locker.acquire(acquireOptions("LEAVE", "alice"));
    const stop = new AbortController();
    const bob = locker.acquire(waiting("LEAVE", "bob", { signal: stop.signal }));
    await clock.sleeping(1);
    const carol = locker.acquire(waiting("LEAVE", "carol", { timeoutMs: 2500 }));
    await clock.sleeping(2);
    assert.deepEqual(await users(store, "LEAVE"), ["bob", "carol"]);
    stop.abort(143);
    await assert.rejects(bob, (e) => e instanceof InterruptedError && e.exitCode === 143);
    assert.deepEqual(await users(store, "LEAVE"), ["carol"]);
    const gaveUp = assert.rejects(carol, /held by alice .*gave up after waiting 2500ms/);
    await clock.advance(3000, 500);
    await gaveUp;
    assert.deepEqual(await users(store, "LEAVE"), []);
    store.close();
  });

  await t.step("a waiter whose place was removed joins again at the end, and says so", async () => {
    const { store, clock, locker } = await freshStepped();
    await locker.acquire(acquireOptions("AGAIN", "alice"));
    const notes: string[] = [];
    const bob = locker.acquire(waiting("AGAIN", "bob", { onNote: (n) => notes.push(n) }));
    await clock.sleeping(1);
    const carol = locker.acquire(waiting("AGAIN", "carol", { timeoutMs: 5000 }));
    await clock.sleeping(2);
    const line = (await store.guard("AGAIN"))?.line ?? [];
    assert.equal(
      (await store.leave({ env: "AGAIN", places: [{ pid: line[0].pid, index: 0 }] })).ok,
      true,
    );
    await clock.advance(1000, 1000);
    await clock.sleeping(2);
    assert.deepEqual(await users(store, "AGAIN"), ["carol", "bob"]);
    assert.deepEqual(notes, [
      "lost its place in the line of env AGAIN (not renewed within 3s); joining again at the end",
    ]);
    const done = Promise.allSettled([bob, carol]);
    await clock.advance(600_000, 60_000);
    const [b, c] = await done;
    assert.equal(b.status, "rejected");
    assert.equal(c.status, "rejected");
    assert.deepEqual(await users(store, "AGAIN"), []);
    store.close();
  });

  await t.step(
    "cancelWait removes a user's places; a waiter that may not rejoin then stops",
    async () => {
      const { store, clock, locker } = await freshStepped();
      await locker.acquire(acquireOptions("CANCEL", "alice"));
      const notes: string[] = [];
      const bob = locker.acquire(
        waiting("CANCEL", "bob", {
          rejoin: false,
          placeId: "slack-bob-1",
          onNote: (n) => notes.push(n),
        }),
      );
      await clock.sleeping(1);
      const stopCarol = new AbortController();
      const carol = locker.acquire(waiting("CANCEL", "carol", { signal: stopCarol.signal }));
      await clock.sleeping(2);
      // The same user waits from elsewhere too (a place the filter below leaves alone).
      const other = place("BOB", clock.now());
      await store.join({ env: "CANCEL", place: other });
      assert.deepEqual(await users(store, "CANCEL"), ["bob", "carol", "BOB"]);
      const slackOnly = (p: Place) => p.pid.startsWith("slack-");
      const removed = await locker.cancelWait("CANCEL", "Bob", slackOnly);
      assert.deepEqual(removed.map((p) => [p.pid, p.user]), [["slack-bob-1", "bob"]]);
      assert.deepEqual(await users(store, "CANCEL"), ["carol", "BOB"]);
      // Its waiter finds the place gone at its next renewal, and stops instead of rejoining.
      const stopped = assert.rejects(bob, (e) => {
        assert.ok(e instanceof LeftLineError);
        assert.equal(e.exitCode, 3);
        assert.equal(
          e.message,
          "the place of bob in the line of env CANCEL was removed (cancelled, or not renewed within 3s); not joining again",
        );
        return true;
      });
      await clock.advance(1000, 1000);
      await stopped;
      assert.deepEqual(notes, []);
      assert.deepEqual(await users(store, "CANCEL"), ["carol", "BOB"]);
      // Not (or no longer) in line: nothing to remove.
      assert.deepEqual(await locker.cancelWait("CANCEL", "bob", slackOnly), []);
      assert.deepEqual(await locker.cancelWait("NOLINE", "bob"), []);
      // Without a filter: every place of the user.
      assert.deepEqual((await locker.cancelWait("CANCEL", "bob")).map((p) => p.pid), [other.pid]);
      assert.deepEqual(await users(store, "CANCEL"), ["carol"]);
      assert.deepEqual((await locker.line("CANCEL")).map((p) => p.user), ["carol"]);
      stopCarol.abort();
      await assert.rejects(carol, InterruptedError);
      assert.deepEqual(await locker.line("CANCEL"), []);
      store.close();
    },
  );

  await t.step("cancelWait finds the places again where others moved them", async () => {
    const { store, clock, locker } = await fresh();
    await locker.acquire(acquireOptions("MOVED", "alice"));
    const [dave, bob1, carol, bob2] = ["dave", "bob", "carol", "bob"].map((u) =>
      place(u, clock.now())
    );
    for (const p of [dave, bob1, carol, bob2]) await store.join({ env: "MOVED", place: p });
    // Dave leaves between cancelWait's read and its write: both of bob's places move up one.
    let raced = false;
    const racing = {
      guard: (env: string) => store.guard(env),
      leave: async (req: Parameters<LockStore["leave"]>[0]) => {
        if (!raced) {
          raced = true;
          await store.leave({ env: "MOVED", places: [{ pid: dave.pid, index: 0 }] });
        }
        return await store.leave(req);
      },
    } as unknown as LockStore;
    const removed = await new Locker(racing, clock, clock.sleep).cancelWait("MOVED", "bob");
    assert.ok(raced);
    assert.deepEqual(removed.map((p) => p.pid), [bob1.pid, bob2.pid]);
    assert.deepEqual(await users(store, "MOVED"), ["carol"]);
    store.close();
  });

  await t.step("a dead waiter's place lapses after its place lease, a live one never", async () => {
    const { store, clock, locker } = await freshStepped();
    await locker.acquire(acquireOptions("DEAD", "alice"));
    // Two places whose waiters are gone (SIGKILL): one stays as it was; the other is renewed
    // by the test every second, like a live waiter, until it stops at 10 s.
    const dead = place("dead", clock.now());
    const live = place("live", clock.now());
    await store.join({ env: "DEAD", place: dead });
    await store.join({ env: "DEAD", place: live });
    const bob = locker.acquire(waiting("DEAD", "bob"));
    await clock.sleeping(1);
    await releaseAll(locker, "DEAD", "alice");
    const renewLive = async () => {
      const line = (await store.guard("DEAD"))?.line ?? [];
      const index = line.findIndex((p) => p.pid === live.pid);
      if (index >= 0) {
        await store.renewPlace({
          env: "DEAD",
          pid: live.pid,
          index,
          rvn: crypto.randomUUID(),
          now: clock.now(),
        });
      }
    };
    for (let s = 1; s <= 10; s++) {
      await renewLive();
      await clock.advance(1000, 1000);
      await clock.sleeping(1);
      // The dead place is gone after its 3 s place lease; the live one is still ahead of bob.
      assert.deepEqual(
        await users(store, "DEAD"),
        s < 3 ? ["dead", "live", "bob"] : ["live", "bob"],
      );
    }
    // The live waiter dies too: bob is granted once its place lapses.
    for (let s = 0; s < 5; s++) await clock.advance(1000, 1000);
    assert.equal((await bob).record.user, "bob");
    assert.deepEqual(await users(store, "DEAD"), []);
    store.close();
  });

  await t.step(
    "a single attempt passes only places whose own renewal time is long past",
    async () => {
      const { store, clock, locker } = await fresh();
      await locker.acquire(acquireOptions("STALE", "alice"));
      const gone = place("gone", clock.now() - 11 * 60_000, {
        renewedAt: clock.now() - 11 * 60_000,
      });
      await store.join({ env: "STALE", place: gone });
      await releaseAll(locker, "STALE", "alice");
      assert.equal((await locker.acquire(acquireOptions("STALE", "bob"))).record.user, "bob");
      assert.deepEqual(await users(store, "STALE"), []);
      store.close();
    },
  );

  await t.step(
    "uberlock goes past the line; the holder re-locks at once; waiters keep their turn",
    async () => {
      const { store, clock, locker } = await freshStepped();
      await locker.acquire(acquireOptions("BREAK", "alice"));
      const bob = locker.acquire(waiting("BREAK", "bob"));
      await clock.sleeping(1);
      assert.equal((await locker.acquire(acquireOptions("BREAK", "alice"))).refreshed, true);
      const uber = await locker.acquire(acquireOptions("BREAK", "ops", { kind: "uberlock" }));
      await releaseAll(locker, "BREAK", "alice");
      await clock.advance(3000, 1000);
      await clock.sleeping(1);
      assert.deepEqual(await users(store, "BREAK"), ["bob"]);
      await locker.releaseHeld(uber);
      await clock.advance(1000, 1000);
      assert.equal((await bob).record.user, "bob");
      store.close();
    },
  );

  await t.step("the uberlock's holder takes its regular lock past the line", async () => {
    const { store, clock, locker } = await fresh();
    await locker.acquire(acquireOptions("OWN", "ops", { kind: "uberlock" }));
    await store.join({ env: "OWN", place: place("bob", clock.now()) });
    await assert.rejects(locker.acquire(acquireOptions("OWN", "carol")), NotAcquiredError);
    const own = await locker.acquire(acquireOptions("OWN", "OPS"));
    assert.equal(own.record.uberlock, false);
    assert.deepEqual(await users(store, "OWN"), ["bob"]);
    store.close();
  });

  await t.step(
    "a lease that ran out is superseded in the same request that grants the next",
    async () => {
      const { store, locker } = await fresh();
      const old = await locker.acquire(acquireOptions("LEASE", "alice", { leaseMs: 10_000 }));
      const held = await locker.acquire(
        acquireOptions("LEASE", "bob", { timeoutMs: 60_000, intervalMs: 5000 }),
      );
      assert.deepEqual(held.superseded, [old.record.id]);
      const stored = await store.record(old.record.id);
      assert.deepEqual([stored?.active, stored?.supersededBy], [false, held.record.id]);
      assert.deepEqual((await locker.list("LEASE")).map((r) => r.user), ["bob"]);
      store.close();
    },
  );

  await t.step("a key is claimed once, whoever claims it; claims are not locks", async () => {
    const { store, clock, locker } = await fresh();
    const held = await locker.acquire(acquireOptions("PRODUCTION", "alice"));
    const racing = await Promise.all(
      Array.from({ length: 10 }, () => store.claim(`lock#${held.record.id}`, clock.now())),
    );
    assert.equal(racing.filter((won) => won).length, 1);
    clock.advance(60_000);
    assert.equal(await store.claim(`lock#${held.record.id}`, clock.now()), false);
    // Other keys are claims of their own.
    assert.equal(await store.claim(`end#${held.record.id}`, clock.now()), true);
    assert.equal(await store.claim(`remind#${held.record.id}#1`, clock.now()), true);
    assert.equal(await store.claim(`remind#${held.record.id}#2`, clock.now()), true);
    assert.equal(await store.claim(`remind#${held.record.id}#1`, clock.now()), false);
    // Never a lock: not listed, not history, no env, no record.
    assert.deepEqual((await locker.list()).map((r) => r.id), [held.record.id]);
    assert.deepEqual((await locker.history("PRODUCTION", 10)).map((r) => r.id), [held.record.id]);
    assert.deepEqual(await store.envs(), ["PRODUCTION"]);
    assert.equal(await store.record(`claim#lock#${held.record.id}`), null);
    store.close();
  });

  await policyContract(t, fresh);
}

/** A one-off freeze window around `now`: from `fromMs` before it to `untilMs` after it. */
function window(id: string, now: number, fromMs: number, untilMs: number, reason = "holidays") {
  return {
    id,
    reason,
    tz: "Europe/Berlin",
    schedule: { from: now - fromMs, until: now + untilMs },
    addedBy: "ops",
    addedAt: now,
  } satisfies Freeze;
}

async function policyContract(
  t: Deno.TestContext,
  fresh: () => Promise<{ store: LockStore; clock: ManualClock; locker: Locker }>,
) {
  await t.step(
    "a policy is versioned: a change or a grant decided on an older one is refused",
    async () => {
      const { store, clock } = await fresh();
      const once = window("once01", clock.now(), 0, 60_000);
      const weekly: Freeze = { ...once, id: "week01", schedule: { weekly: "Fri 15:00-Mon 09:00" } };
      const set = (seenVersion: number, freezes: Freeze[]) =>
        store.setPolicy({
          env: "PROD",
          seenVersion,
          rules: { requireMeta: true, maxTtlMs: 7_200_000, defaultTtlMs: 1_800_000 },
          freezes,
          token: crypto.randomUUID(),
        });
      assert.deepEqual(await set(0, [once, weekly]), { ok: true });
      // Kept exactly, with version 1, in a guard that makes the env known (fence 0).
      const guard = await store.guard("PROD");
      assert.deepEqual(guard?.policy, {
        version: 1,
        rules: { requireMeta: true, maxTtlMs: 7_200_000, defaultTtlMs: 1_800_000 },
        freezes: [once, weekly],
      });
      assert.equal(guard?.fence, 0);
      assert.deepEqual(await store.envs(), ["PROD"]);
      // Decided on version 0: refused, with the guard that says why.
      const stale = await set(0, []);
      assert.equal(stale.ok, false);
      assert.equal(!stale.ok && stale.guard?.policy?.version, 1);
      assert.deepEqual(await set(1, []), { ok: true });
      assert.equal((await store.guard("PROD"))?.policy?.version, 2);
      const grant = (policyVersion?: number): GrantRequest => ({
        env: "PROD",
        kind: "regular",
        record: {
          id: crypto.randomUUID(),
          user: "alice",
          env: "PROD",
          createdAt: clock.now(),
          updatedAt: clock.now(),
          active: true,
          uberlock: false,
          meta: "m",
          fence: clock.now(),
        },
        rvn: crypto.randomUUID(),
        supersede: [],
        ...(policyVersion !== undefined ? { policyVersion } : {}),
        token: crypto.randomUUID(),
      });
      for (const version of [undefined, 1, 3]) {
        const refused = await store.grant(grant(version));
        assert.equal(refused.granted, false, `policy version ${version}`);
        assert.equal(!refused.granted && refused.guard?.policy?.version, 2);
      }
      assert.deepEqual(await store.grant(grant(2)), { granted: true });
      store.close();
    },
  );

  await t.step("a freeze window refuses a regular lock, naming its reason and end", async () => {
    const { store, clock, locker } = await fresh();
    const held = await locker.acquire(acquireOptions("PROD", "alice", { leaseMs: 60_000 }));
    const policies = new Policies(store, clock);
    await policies.addFreeze("PROD", window("frz001", clock.now(), 0, 3_600_000));
    // A lock held when the window starts keeps its lock, its renewals and its re-locks.
    assert.equal(await locker.renew(held), true);
    assert.equal((await locker.acquire(acquireOptions("PROD", "alice"))).refreshed, true);
    await locker.releaseHeld(held);
    const before = store.requests;
    await assert.rejects(
      locker.acquire(acquireOptions("PROD", "bob")),
      (e) =>
        e instanceof FrozenError && e.exitCode === 3 &&
        /^env PROD is frozen: holidays \(window frz001, until 2026-01-01 01:00 UTC \(02:00 Europe\/Berlin\)\)/
          .test(e.message),
    );
    // The blind grant, refused on the policy version; then the decision: frozen.
    assert.equal(store.requests - before, 1);
    // An uberlock is not stopped by a freeze.
    const uber = await locker.acquire(acquireOptions("PROD", "ops", { kind: "uberlock" }));
    assert.equal(uber.record.uberlock, true);
    assert.equal(uber.record.overrodeFreeze, undefined);
    store.close();
  });

  await t.step("--override-freeze goes through and the record names the window", async () => {
    const { store, clock, locker } = await fresh();
    await locker.acquire(acquireOptions("PROD", "alice"));
    await locker.release({ env: "PROD", user: "alice", onlyUberlock: false, force: false });
    const policies = new Policies(store, clock);
    await policies.addFreeze("PROD", window("frz002", clock.now(), 1000, 60_000));
    clock.advance(1000);
    const held = await locker.acquire(
      acquireOptions("PROD", "bob", {
        meta: "hotfix #12",
        metaExplicit: true,
        overrideFreeze: true,
      }),
    );
    assert.equal(held.record.overrodeFreeze, "frz002");
    assert.equal((await store.record(held.record.id))?.overrodeFreeze, "frz002");
    assert.equal((await locker.history("PROD", 1))[0].overrodeFreeze, "frz002");
    // Outside a window there is nothing to override, and nothing is recorded.
    await locker.releaseHeld(held);
    clock.advance(60_000);
    const later = await locker.acquire(
      acquireOptions("PROD", "bob", {
        meta: "hotfix #13",
        metaExplicit: true,
        overrideFreeze: true,
      }),
    );
    assert.equal((await store.record(later.record.id))?.overrodeFreeze, undefined);
    store.close();
  });

  await t.step("a waiting lock waits a freeze out in line, within its timeout", async () => {
    const { store, clock, locker } = await fresh();
    await locker.acquire(acquireOptions("PROD", "alice"));
    await locker.release({ env: "PROD", user: "alice", onlyUberlock: false, force: false });
    const policies = new Policies(store, clock);
    await policies.addFreeze("PROD", window("frz003", clock.now(), 0, 30_000, "release train"));
    await assert.rejects(
      locker.acquire(acquireOptions("PROD", "bob", { timeoutMs: 20_000 })),
      /^Error: env PROD is frozen: release train .*; gave up after waiting 20s$|frozen: release train.*gave up after waiting 20s$/,
    );
    const waits: Waiting[] = [];
    const held = await locker.acquire(
      acquireOptions("PROD", "carol", { timeoutMs: 60_000, onWait: (w) => waits.push(w) }),
    );
    assert.ok(held.record.createdAt >= waits[0].frozen!.end, "granted once the window ended");
    assert.equal(waits[0].frozen?.freeze.id, "frz003");
    assert.equal(waits[0].position, 1);
    assert.deepEqual(await locker.waiting("PROD"), []);
    store.close();
  });

  await t.step(
    "rules: a required meta, a default and a max ttl; refusals write nothing",
    async () => {
      const { store, clock, locker } = await fresh();
      await locker.acquire(acquireOptions("PROD", "alice"));
      await locker.release({ env: "PROD", user: "alice", onlyUberlock: false, force: false });
      const policies = new Policies(store, clock);
      await policies.setRules("PROD", {
        requireMeta: true,
        maxTtlMs: 3_600_000,
        defaultTtlMs: 600_000,
      });
      await assert.rejects(
        locker.acquire(acquireOptions("PROD", "bob", { kind: "uberlock" })),
        (e) => e instanceof UsageError && /env PROD requires a meta saying why/.test(e.message),
      );
      await assert.rejects(
        locker.acquire(acquireOptions("PROD", "bob", { metaExplicit: true, leaseMs: 7_200_000 })),
        (e) =>
          e instanceof UsageError &&
          /--ttl 2h is longer than env PROD allows \(max ttl 1h\)/.test(e.message),
      );
      assert.deepEqual(await locker.list(), []);
      assert.equal((await locker.history("PROD", 10)).length, 1);
      // The CI run's URL is a meta; no --ttl gets the default ttl.
      const ci = await locker.acquire(acquireOptions("PROD", "bob", { metaFromCi: true }));
      assert.equal(ci.record.leaseMs, 600_000);
      // A re-lock over the max ttl is refused too; a command's own default lease is shortened.
      await assert.rejects(
        locker.acquire(acquireOptions("PROD", "bob", { leaseMs: 7_200_000 })),
        UsageError,
      );
      await locker.releaseHeld(ci);
      const run = await locker.acquire(
        acquireOptions("PROD", "bob", {
          metaFromCi: true,
          leaseMs: 7_200_000,
          leaseIsDefault: true,
        }),
      );
      assert.equal(run.record.leaseMs, 3_600_000);
      await locker.releaseHeld(run);
      // Without a default ttl, the max ttl bounds a lock taken without --ttl.
      await policies.setRules("PROD", { maxTtlMs: 3_600_000 });
      const plain = await locker.acquire(acquireOptions("PROD", "bob"));
      assert.equal(plain.record.leaseMs, 3_600_000);
      await locker.releaseHeld(plain);
      await policies.setRules("PROD", {});
      assert.equal((await locker.acquire(acquireOptions("PROD", "bob"))).record.leaseMs, undefined);
      store.close();
    },
  );

  await t.step(
    "a freeze added between a lock's decision and its grant is never missed",
    async () => {
      const { store: real, clock, locker: setup } = await fresh();
      await setup.acquire(acquireOptions("PROD", "alice"));
      await setup.release({ env: "PROD", user: "alice", onlyUberlock: false, force: false });
      const policies = new Policies(real, clock);
      // Every grant is preceded by a new window: the decision was made on the policy before it.
      let added = 0;
      const racing = new Proxy(real, {
        get(target, prop) {
          if (prop === "grant") {
            return async (req: GrantRequest) => {
              if (added < 3) {
                // Two windows already over (the lock decides again and goes on), then one in force.
                await policies.addFreeze(
                  "PROD",
                  ++added === 3
                    ? window("race03", clock.now(), 0, 3_600_000)
                    : window(`race0${added}`, clock.now(), 2000, -1000),
                );
              }
              return target.grant(req);
            };
          }
          const value = Reflect.get(target, prop);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const locker = new Locker(racing, clock, clock.sleep);
      await assert.rejects(
        locker.acquire(acquireOptions("PROD", "bob")),
        /frozen: holidays \(window race03/,
      );
      assert.deepEqual(await locker.list(), []);
      assert.equal((await real.guard("PROD"))?.policy?.version, 3);
      real.close();
    },
  );

  await t.step(
    "windows are removed by id; an unknown id or env is refused, nothing written",
    async () => {
      const { store, clock } = await fresh();
      const policies = new Policies(store, clock);
      await policies.addFreeze("PROD", window("frz004", clock.now(), 0, 60_000));
      await assert.rejects(
        policies.removeFreeze("PROD", "nope00"),
        /env PROD has no freeze window nope00 \(its windows: frz004\)/,
      );
      await assert.rejects(policies.removeFreeze("STAGING", "frz004"), /unknown env STAGING/);
      assert.equal((await policies.of("PROD")).version, 1);
      assert.equal((await policies.removeFreeze("PROD", "frz004")).id, "frz004");
      assert.deepEqual(await policies.of("PROD"), { version: 2, rules: {}, freezes: [] });
      assert.equal(await store.guard("STAGING"), null);
      store.close();
    },
  );
}

Deno.test("contract: in-memory fake", async (t) => {
  await contract(t, () => Promise.resolve(new MemoryStore()));
});

Deno.test("contract: DynamoDB Local", async (t) => {
  const ddb = await startDynamoLocal();
  try {
    await contract(t, (table) => Promise.resolve(localStore(ddb.endpoint, table)));

    await t.step("a claim whose answer was lost is still the claimer's, once", async () => {
      const proxy = await startFaultProxy(ddb.endpoint);
      const store = new DynamoStore({
        table: "Claims",
        region: TEST_REGION,
        endpoint: proxy.url,
        credentials: TEST_CREDENTIALS,
        requestTimeoutMs: 1000,
      });
      try {
        await store.init();
        // Written, then the answer dropped: the SDK sends the same request again.
        proxy.inject("PutItem", { kind: "lostAnswer" });
        assert.equal(await store.claim("lock#lost", 1), true);
        assert.deepEqual(proxy.log.filter((l) => l.operation === "PutItem").length, 2);
        assert.equal(await store.claim("lock#lost", 2), false);
      } finally {
        store.close();
        await proxy.close();
      }
    });

    await t.step("policy changes whose answers were lost are applied once", async () => {
      const proxy = await startFaultProxy(ddb.endpoint);
      const store = new DynamoStore({
        table: "LostPolicy",
        region: TEST_REGION,
        endpoint: proxy.url,
        credentials: TEST_CREDENTIALS,
        requestTimeoutMs: 1000,
        maxAttempts: 1,
      });
      try {
        await store.init();
        const clock = new ManualClock();
        const policies = new Policies(store, clock);
        // Applied, then every answer lost: the change is read back and found done.
        proxy.inject("TransactWriteItems", { kind: "lostAnswer" });
        await policies.addFreeze("PROD", window("lost01", clock.now(), 0, 60_000), true);
        assert.deepEqual((await policies.of("PROD")).freezes.map((f) => f.id), ["lost01"]);
        proxy.inject("TransactWriteItems", { kind: "lostAnswer" });
        assert.equal((await policies.removeFreeze("PROD", "lost01")).id, "lost01");
        assert.deepEqual(await policies.of("PROD"), { version: 2, rules: {}, freezes: [] });
        assert.equal(
          proxy.log.filter((l) => l.operation === "TransactWriteItems").length,
          2,
          "one write per change",
        );
      } finally {
        store.close();
        await proxy.close();
      }
    });

    await t.step(
      "an uncontended lock is one request (a new env's first, four), a release two",
      async () => {
        const store = localStore(ddb.endpoint, "Counted");
        await store.init();
        const clock = new ManualClock();
        const locker = new Locker(store, clock, clock.sleep);
        const before = store.requests;
        // The first lock on an env: a grant that asks for the env's guard item, the known envs
        // (the list item and the active index), then the grant that creates it.
        await locker.acquire(acquireOptions("PROD", "alice"));
        assert.equal(store.requests - before, 4);
        await locker.release({ env: "PROD", user: "alice", onlyUberlock: false, force: false });
        assert.equal(store.requests - before, 6);
        clock.advance(1000); // a fence above the last one, from the clock
        await locker.acquire(acquireOptions("PROD", "alice"));
        assert.equal(store.requests - before, 7);
        store.close();
      },
    );
  } finally {
    await ddb.stop();
  }
});
