/**
 * The contract suite: the same cases against the in-memory fake and against DynamoDB Local.
 * The fake is trustworthy only while it passes here.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../support/manual_clock.ts";
import { NewEnvError, NotAcquiredError, NotHeldError } from "../../src/core/errors.ts";
import { Locker } from "../../src/core/locker.ts";
import { acquireOptions } from "../support/acquire.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { LockStore } from "../../src/core/store.ts";
import { localStore, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";

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
}

Deno.test("contract: in-memory fake", async (t) => {
  await contract(t, () => Promise.resolve(new MemoryStore()));
});

Deno.test("contract: DynamoDB Local", async (t) => {
  const ddb = await startDynamoLocal();
  try {
    await contract(t, (table) => Promise.resolve(localStore(ddb.endpoint, table)));

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
