/**
 * `daplaya check` in-process: `runCli` with a fake context on the in-memory store and a manual
 * clock, as in cli_test.ts. Who holds an env (exit 0 free, 3 held), and with --id whether that
 * very lock still holds it (exit 0, else 5), in text and JSON.
 */
import assert from "node:assert/strict";
import { harness as cliHarness, type Outcome } from "../support/cli.ts";
import { placeOf } from "../support/place.ts";
import { SEED_ATTRIBUTES } from "../support/seed.ts";

/** One shared store and clock (starting at 2026-01-01T00:00:00Z); each run its own output. */
function harness() {
  const cli = cliHarness();
  const { store, clock } = cli;
  const run = (...args: string[]) => cli.run(args);
  /** Takes a lock through the CLI and returns its id. */
  async function lock(user: string, ...more: string[]): Promise<string> {
    const r = await run("lock", "--env", "production", "--user", user, "--json", ...more);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).lock.id;
  }
  /** A waiter's place in production's line, as a waiting `lock` takes it. */
  async function wait(user: string) {
    const place = placeOf(user, "CLI", clock.now());
    assert.equal((await store.join({ env: "PRODUCTION", place })).ok, true);
  }
  return { store, clock, run, lock, wait };
}

function ok(r: Outcome): Outcome {
  assert.equal(r.code, 0, r.stderr);
  return r;
}

/** Exit `code`, this line on stdout and nothing on stderr. */
function says(r: Outcome, code: number, line: string) {
  assert.deepEqual([r.code, r.stdout, r.stderr], [code, `${line}\n`, ""]);
}

/** Exit 5, nothing on stdout and this one line on stderr. */
function lost(r: Outcome, line: string) {
  assert.deepEqual([r.code, r.stdout, r.stderr], [5, "", `daplaya: ${line}\n`]);
}

/** Exactly one JSON document on stdout, exit `code`. */
function doc(r: Outcome, code: number) {
  assert.equal(r.code, code, r.stderr);
  assert.ok(r.stdout.endsWith("}\n"), r.stdout);
  return JSON.parse(r.stdout);
}

function assertLockObject(lock: Record<string, unknown>) {
  for (const key of [...SEED_ATTRIBUTES, "fence"]) assert.ok(key in lock, `${key} missing`);
  for (const key of ["createdAt", "updatedAt", "fence"]) {
    assert.equal(typeof lock[key], "number", key);
  }
}

const check = ["check", "--env", "production"];
const T0 = Date.UTC(2026, 0, 1);

Deno.test("check: a free env exits 0 and says how many wait in its line", async () => {
  const h = harness();
  const never = await h.run(...check);
  says(never, 0, "env PRODUCTION is free (nobody waits)");
  // One strongly consistent read of the env's guard, nothing else.
  assert.deepEqual([never.opened, never.requests], [1, 1]);
  assert.deepEqual(doc(await h.run(...check, "--json"), 0), {
    env: "PRODUCTION",
    held: false,
    heldBy: null,
    locks: [],
    waiting: [],
  });

  // Released, with a line: free until its first waiter's next try.
  await h.lock("alice");
  ok(await h.run("release", "--env", "production", "--user", "alice"));
  await h.wait("bob@example.com");
  h.clock.advance(3000);
  await h.wait("carol@example.com");
  says(await h.run(...check), 0, "env PRODUCTION is free (2 wait in line, first bob@example.com)");
  const d = doc(await h.run("--json", ...check), 0);
  assert.deepEqual([d.held, d.heldBy, d.locks], [false, null, []]);
  assert.deepEqual(d.waiting, [
    { env: "PRODUCTION", user: "bob@example.com", position: 1, since: T0, meta: "CLI" },
    { env: "PRODUCTION", user: "carol@example.com", position: 2, since: T0 + 3000, meta: "CLI" },
  ]);
});

Deno.test("check: a held env exits 3 and says who holds it, on stdout", async () => {
  const h = harness();
  const id = await h.lock("alice@example.com", "--meta", "deploy v1.2.3");
  h.clock.advance(4 * 60_000 + 12_000);
  says(
    await h.run(...check),
    3,
    "env PRODUCTION is held by alice@example.com (a lock, for 4m12s, meta: deploy v1.2.3)",
  );
  await h.wait("bob@example.com");
  await h.wait("carol@example.com");
  says(
    await h.run("check", "--env", "Production"),
    3,
    "env PRODUCTION is held by alice@example.com (a lock, for 4m12s, meta: deploy v1.2.3); 2 wait in line, first bob@example.com",
  );
  const r = await h.run(...check, "--json");
  assert.equal(r.stderr, "");
  const d = doc(r, 3);
  assert.deepEqual(Object.keys(d), ["env", "held", "heldBy", "locks", "waiting"]);
  assert.equal(d.held, true);
  assertLockObject(d.heldBy);
  assert.equal(d.heldBy.id, id);
  assert.equal(d.heldBy.user, "alice@example.com");
  assert.equal(d.heldBy.createdAt, T0);
  assert.deepEqual(d.locks, [d.heldBy]);
  assert.deepEqual(d.waiting.map((w: { user: string }) => w.user), [
    "bob@example.com",
    "carol@example.com",
  ]);
});

Deno.test("check: a lease shows when it ends; one run out still holds the env", async () => {
  const h = harness();
  await h.lock("alice", "--ttl", "1m");
  h.clock.advance(20_000);
  says(
    await h.run(...check),
    3,
    "env PRODUCTION is held by alice (a lock, for 20s, lease ends in 40s, meta: CLI)",
  );
  h.clock.advance(45_000);
  // Nobody took it over yet: a lock attempt would still have to wait.
  says(
    await h.run(...check),
    3,
    "env PRODUCTION is held by alice (a lock, for 1m5s, lease ran out 5s ago, meta: CLI)",
  );
  const d = doc(await h.run(...check, "--json"), 3);
  assert.deepEqual([d.heldBy.leaseMs, d.heldBy.expiresAt], [60_000, T0 + 60_000]);
});

Deno.test("check: an uberlock holds the env too (exit 3)", async () => {
  const h = harness();
  const uber = await h.lock("root", "--uberlock", "--meta", "incident 123");
  h.clock.advance(60_000);
  says(
    await h.run(...check),
    3,
    "env PRODUCTION is held by root (an uberlock, for 1m, meta: incident 123)",
  );
  const only = doc(await h.run(...check, "--json"), 3);
  assert.equal(only.heldBy.id, uber);
  assert.equal(only.heldBy.uberlock, true);

  // The uberlock's holder may take a regular lock under it: both hold the env.
  const regular = await h.lock("root");
  says(
    await h.run(...check),
    3,
    "env PRODUCTION is held by root (a lock, for 0s, meta: CLI) and root (an uberlock, for 1m, meta: incident 123)",
  );
  const both = doc(await h.run(...check, "--json"), 3);
  assert.deepEqual(both.locks.map((l: { id: string }) => l.id), [regular, uber]);
  assert.equal(both.heldBy.id, regular);

  // --id of the uberlock: it holds the env, and comes first.
  says(
    await h.run(...check, "--id", uber),
    0,
    `lock ${uber} holds env PRODUCTION (root, an uberlock, for 1m, until released)`,
  );
  const mine = doc(await h.run(...check, "--id", uber, "--json"), 0);
  assert.equal(mine.heldBy.id, uber);
  assert.deepEqual(mine.locks.map((l: { id: string }) => l.id), [uber, regular]);
});

Deno.test("check --id: the holding lock exits 0", async (t) => {
  const h = harness();
  const id = await h.lock("alice@example.com", "--ttl", "1m");
  h.clock.advance(20_000);

  await t.step("text", async () => {
    const r = await h.run(...check, "--id", id);
    says(
      r,
      0,
      `lock ${id} holds env PRODUCTION (alice@example.com, a lock, for 20s, lease ends in 40s)`,
    );
    assert.deepEqual([r.opened, r.requests], [1, 1]);
  });
  await t.step("JSON: holds, no reason", async () => {
    const r = await h.run("--json", ...check, "--id", id);
    assert.equal(r.stderr, "");
    const d = doc(r, 0);
    assert.deepEqual(Object.keys(d), ["env", "id", "holds", "held", "heldBy", "locks", "waiting"]);
    assert.deepEqual([d.env, d.id, d.holds, d.held], ["PRODUCTION", id, true, true]);
    assertLockObject(d.heldBy);
    assert.equal(d.heldBy.id, id);
  });
  await t.step("a lock without a lease holds the env until released", async () => {
    const h2 = harness();
    const plain = await h2.lock("bob");
    h2.clock.advance(3 * 3_600_000);
    says(
      await h2.run(...check, "--id", plain),
      0,
      `lock ${plain} holds env PRODUCTION (bob, a lock, for 3h, until released)`,
    );
  });
  await t.step("a renewed lease holds the env past its first end", async () => {
    // The holder re-locks at 20s: its recorded renewal time moves on, the lock id stays.
    assert.equal(await h.lock("alice@example.com", "--ttl", "1m"), id);
    h.clock.advance(50_000);
    says(
      await h.run(...check, "--id", id),
      0,
      `lock ${id} holds env PRODUCTION (alice@example.com, a lock, for 1m10s, lease ends in 10s)`,
    );
  });
});

Deno.test("check --id after the lock was released: exit 5, nobody holds it", async () => {
  const h = harness();
  const id = await h.lock("alice");
  ok(await h.run("release", "--env", "production", "--user", "alice"));
  const r = await h.run(...check, "--id", id);
  lost(r, `lock ${id} no longer holds env PRODUCTION: nobody holds it`);
  assert.deepEqual([r.opened, r.requests], [1, 1]);

  const j = await h.run(...check, "--id", id, "--json");
  assert.equal(j.stderr, `daplaya: lock ${id} no longer holds env PRODUCTION: nobody holds it\n`);
  const d = doc(j, 5);
  assert.deepEqual(d, {
    env: "PRODUCTION",
    id,
    holds: false,
    reason: "free",
    held: false,
    heldBy: null,
    locks: [],
    waiting: [],
  });
  // An env that has never been locked: the same.
  const other = await h.run("check", "--env", "staging", "--id", id);
  lost(other, `lock ${id} no longer holds env STAGING: nobody holds it`);
});

Deno.test("check --id of a lock taken over: exit 5, naming the new holder", async (t) => {
  const h = harness();
  const alice = await h.lock("alice", "--ttl", "10s");
  await t.step("its lease ran out and bob, waiting, took it over", async () => {
    // Bob waits, sees alice's record version unchanged for her whole lease, and takes over.
    const bob = await h.run(
      ..."lock --env production --user bob --timeout 1m --interval 1s".split(" "),
    );
    assert.equal(bob.code, 0, bob.stderr);
    assert.equal(bob.stdout, "Locked PRODUCTION for bob (CLI)\n");
    const record = await h.store.record(alice);
    assert.equal(record?.active, false);
    assert.ok(record?.supersededBy, "alice's lock was superseded");
    h.clock.advance(3000);
    lost(
      await h.run(...check, "--id", alice),
      `lock ${alice} no longer holds env PRODUCTION: bob holds it now (a lock, for 3s)`,
    );
    const j = await h.run(...check, "--id", alice, "--json");
    assert.match(j.stderr, /^daplaya: lock \S+ no longer holds env PRODUCTION: bob holds it now/);
    const d = doc(j, 5);
    assert.deepEqual([d.id, d.holds, d.reason, d.held], [alice, false, "taken", true]);
    assert.equal(d.heldBy.user, "bob");
    assert.notEqual(d.heldBy.id, alice);
  });
  await t.step("ended by force, and locked by someone else", async () => {
    ok(await h.run("release", "--env", "production", "--user", "carol", "--force"));
    const carol = await h.lock("carol", "--ttl", "5m");
    const root = await h.lock("root", "--uberlock");
    lost(
      await h.run(...check, "--id", alice),
      `lock ${alice} no longer holds env PRODUCTION: carol holds it now (a lock, for 0s) and root (an uberlock, for 0s)`,
    );
    const d = doc(await h.run(...check, "--id", alice, "--json"), 5);
    assert.equal(d.reason, "taken");
    assert.deepEqual(d.locks.map((l: { id: string }) => l.id), [carol, root]);
  });
});

Deno.test("check --id of a lease run out by its recorded renewal time: exit 5, while still in the guard", async () => {
  const h = harness();
  const id = await h.lock("alice", "--ttl", "30s");
  h.clock.advance(29_999);
  assert.equal((await h.run(...check, "--id", id)).code, 0);
  h.clock.advance(1);
  // Nobody took it over: the guard still names it, yet it holds the env no longer.
  assert.equal((await h.store.guard("PRODUCTION"))?.regular?.id, id);
  lost(
    await h.run(...check, "--id", id),
    `lock ${id} no longer holds env PRODUCTION: its lease ran out at 2026-01-01T00:00:30Z (0s ago)`,
  );
  h.clock.advance(12_000);
  const j = await h.run(...check, "--id", id, "--json");
  assert.equal(
    j.stderr,
    `daplaya: lock ${id} no longer holds env PRODUCTION: its lease ran out at 2026-01-01T00:00:30Z (12s ago)\n`,
  );
  const d = doc(j, 5);
  assert.deepEqual([d.holds, d.reason, d.held], [false, "lease-ran-out", true]);
  assert.deepEqual([d.heldBy.id, d.heldBy.expiresAt], [id, T0 + 30_000]);
  // Without --id the env is still held: a lock attempt would have to wait for the takeover.
  assert.equal((await h.run(...check)).code, 3);
});

Deno.test("check: bad input exits 2 with one line and reads nothing", async () => {
  const h = harness();
  const cases: [string[], RegExp][] = [
    [["check"], /^daplaya: missing --env: /],
    [["check", "--env", ""], /^daplaya: missing --env: /],
    [["check", "--json"], /^daplaya: missing --env: /],
    [["check", "--env", "bad env"], /^daplaya: invalid env "bad env": /],
    [["check", "--env"], /^daplaya: option '--env <env>' argument missing /],
    [["check", "--env", "x", "--id", ""], /^daplaya: missing --id: .*DAPLAYA_LOCK_ID/],
    [["check", "--env", "x", "--id", "", "--json"], /^daplaya: missing --id: /],
    [["check", "--env", "x", "--id", "two words"], /^daplaya: invalid --id "two words": /],
    [["check", "--env", "x", "--id", "x".repeat(129)], /^daplaya: invalid --id /],
    [["check", "--env", "x", "--id"], /^daplaya: option '--id <id>' argument missing /],
    [["check", "--env", "x", "--user", "u"], /^daplaya: unknown option '--user' /],
    [["check", "--env", "x", "extra"], /^daplaya: too many arguments /],
  ];
  for (const [args, line] of cases) {
    const r = await h.run(...args);
    const label = JSON.stringify(args);
    assert.equal(r.code, 2, `${label}: ${r.stderr}`);
    assert.equal(r.stdout, "", label);
    assert.match(r.stderr, /^daplaya: [^\n]+\n$/, label);
    assert.match(r.stderr, line, label);
    assert.equal(r.opened, 0, `${label} opened the store`);
  }
  assert.equal(h.store.requests, 0);
});
