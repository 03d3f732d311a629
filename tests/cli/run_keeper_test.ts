/**
 * `daplaya run` in-process: a fake command (the context's `spawn`), fake signals and a clock
 * that moves only when the test says so, on the in-memory store. It checks the lease-keeping
 * that stops a command before its lease can be taken over; tests/cli/run_test.ts runs the
 * same command as real processes.
 */
import assert from "node:assert/strict";
import type { Child, CliContext, SpawnOptions } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/program.ts";
import { Locker } from "../../src/core/locker.ts";
import { FlakyStore } from "../support/flaky_store.ts";
import { acquireOptions } from "../support/acquire.ts";
import { SteppedClock } from "../support/stepped_clock.ts";

const INFO = { version: "0.0.0", target: "test", deno: "0.0.0" };
const LEASE = 30_000;
const GRACE = 5_000;
/** run stops its command this long before a lease with no confirmed renewal runs out. */
const STOP_MARGIN = GRACE + LEASE / 10;
const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** A command that ends when told to, or on a signal it does not ignore. */
class FakeChild implements Child {
  readonly signals: Deno.Signal[] = [];
  ignoresSigterm = false;
  #end = Promise.withResolvers<{ code: number }>();
  #ended = false;
  readonly status = this.#end.promise;

  kill(signal: Deno.Signal): void {
    this.signals.push(signal);
    if (signal === "SIGTERM" && this.ignoresSigterm) return;
    this.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
  }

  exit(code: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#end.resolve({ code });
  }
}

interface Started {
  program: string;
  args: string[];
  options: SpawnOptions;
}

function harness({ spawnError, missing = false }: { spawnError?: Error; missing?: boolean } = {}) {
  const clock = new SteppedClock();
  const store = new FlakyStore();
  const child = new FakeChild();
  const started = Promise.withResolvers<Started>();
  let stderr = "";
  let listener: ((signal: Deno.Signal) => void) | undefined;
  /** Signals that arrive while the command is being started. */
  const duringSpawn: Deno.Signal[] = [];
  const ctx: CliContext = {
    env: () => undefined,
    stdout: () => {},
    stderr: (text) => void (stderr += text),
    openStore: () => Promise.resolve(store),
    clock,
    sleep: clock.sleep,
    git: () => Promise.resolve(undefined),
    hostname: () => "box",
    cwd: "/work",
    programExists: (program) => Promise.resolve(!(missing && program === "deploy.sh")),
    spawn(program, args, options) {
      for (const signal of duringSpawn) listener?.(signal);
      started.resolve({ program, args, options });
      if (spawnError) throw spawnError;
      return child;
    },
    onStopSignal(fn) {
      listener = fn;
      return () => listener = undefined;
    },
    serve: () => {
      throw new Error("run starts no server");
    },
  };
  const run = (...flags: string[]) =>
    runCli(
      [
        "run",
        "--env",
        "production",
        "--user",
        "ci@example.com",
        "--ttl",
        `${LEASE / 1000}s`,
        "--grace",
        `${GRACE / 1000}s`,
        ...flags,
        "--",
        "deploy.sh",
        "v1",
      ],
      ctx,
      INFO,
    );
  const guard = () => store.guard("PRODUCTION");
  const rvn = async () => (await guard())?.regular?.rvn;
  /** Someone else takes the env (a forced release, then a grant). */
  const takeOver = async () => {
    const other = new Locker(store, clock, clock.sleep);
    await other.release({ env: "PRODUCTION", user: "ops", onlyUberlock: false, force: true });
    await other.acquire(acquireOptions("PRODUCTION", "ops@example.com"));
  };
  return {
    clock,
    store,
    child,
    started: started.promise,
    duringSpawn,
    run,
    guard,
    rvn,
    takeOver,
    signal: (s: Deno.Signal) => listener?.(s),
    get listening() {
      return listener !== undefined;
    },
    get stderr() {
      return stderr;
    },
  };
}

Deno.test("run in-process: lease keeping", async (t) => {
  await t.step(
    "starts the command with the lock's env, renews every third of the lease, and releases after it ends with its code",
    async () => {
      const h = harness();
      const exit = h.run();
      const { program, args, options } = await h.started;
      assert.deepEqual([program, args, options.cwd], ["deploy.sh", ["v1"], "/work"]);
      const lock = (await h.guard())!.regular!;
      assert.deepEqual(options.env, {
        DAPLAYA_ENV: "PRODUCTION",
        DAPLAYA_LOCK_ID: lock.id,
        DAPLAYA_FENCE: String(lock.fence),
      });
      assert.ok(lock.owner, "a kept lock");

      const first = await h.rvn();
      await h.clock.advance(LEASE / 3 - 500);
      assert.equal(await h.rvn(), first, "no renewal before a third of the lease");
      await h.clock.advance(1000);
      const second = await h.rvn();
      assert.notEqual(second, first, "renewed at a third of the lease");
      await h.clock.advance(LEASE / 3);
      assert.notEqual(await h.rvn(), second, "and again");

      h.child.exit(3);
      assert.equal(await exit, 3);
      assert.equal((await h.guard())?.regular, undefined, "released");
      assert.deepEqual(h.child.signals, []);
      assert.match(h.stderr, /released env PRODUCTION\n$/);
      assert.equal(h.listening, false, "stopped listening for signals");
    },
  );

  await t.step(
    "a renewal that finds the lock taken: SIGTERM, exit 5, the new lock untouched",
    async () => {
      const h = harness();
      const exit = h.run();
      await h.started;
      await h.takeOver();
      await h.clock.advance(LEASE / 3 + 500);
      assert.deepEqual(h.child.signals, ["SIGTERM"]);
      assert.equal(await exit, 5);
      assert.match(
        h.stderr,
        /lost the lock on env PRODUCTION while the command ran: the lock was released or taken over/,
      );
      assert.equal((await h.guard())?.regular?.user, "ops@example.com");
    },
  );

  await t.step(
    "renewals that fail: the command is stopped before a waiter may take over",
    async () => {
      const h = harness();
      const exit = h.run();
      await h.started;
      h.store.down = true;
      // A waiter may take over a whole lease after the last renewal it saw (here: the grant);
      // the command gets SIGTERM, and SIGKILL is due, a margin before that.
      await h.clock.advance(LEASE - STOP_MARGIN - 500);
      assert.deepEqual(h.child.signals, [], "still within the lease");
      assert.match(h.stderr, /lease renewal failed, retrying: cannot reach DynamoDB/);
      await h.clock.advance(1000);
      assert.deepEqual(h.child.signals, ["SIGTERM"]);
      assert.equal(await exit, 5);
      assert.match(h.stderr, /the lease could not be renewed before it ran out/);
    },
  );

  await t.step("a renewal that fails once is retried, and the command runs on", async () => {
    const h = harness();
    const exit = h.run();
    await h.started;
    const before = await h.rvn();
    h.store.down = true;
    await h.clock.advance(LEASE / 3 + 100);
    h.store.down = false;
    await h.clock.advance(1500);
    assert.notEqual(await h.rvn(), before, "renewed on the retry");
    await h.clock.advance(LEASE);
    assert.deepEqual(h.child.signals, []);
    h.child.exit(0);
    assert.equal(await exit, 0);
  });

  await t.step(
    "grace period: a command that ignores SIGTERM gets SIGKILL after --grace, not before",
    async () => {
      const h = harness();
      h.child.ignoresSigterm = true;
      const exit = h.run();
      await h.started;
      await h.takeOver();
      await h.clock.advance(LEASE / 3 + 100, 100);
      assert.deepEqual(h.child.signals, ["SIGTERM"]);
      await h.clock.advance(GRACE - 500);
      assert.deepEqual(h.child.signals, ["SIGTERM"], "within the grace period");
      await h.clock.advance(1000);
      assert.deepEqual(h.child.signals, ["SIGTERM", "SIGKILL"]);
      assert.equal(await exit, 5);
      assert.match(h.stderr, /stopping the command \(SIGTERM, SIGKILL after 5s\)/);
    },
  );

  await t.step("the grace period is at most a quarter of the lease", async () => {
    const h = harness();
    h.child.ignoresSigterm = true;
    const exit = h.run("--grace", "1m");
    await h.started;
    await h.takeOver();
    await h.clock.advance(LEASE / 3 + 100);
    assert.deepEqual(h.child.signals, ["SIGTERM"]);
    await h.clock.advance(LEASE / 4 + 500);
    assert.deepEqual(h.child.signals, ["SIGTERM", "SIGKILL"]);
    assert.equal(await exit, 5);
  });
});

Deno.test("run in-process: signals and commands that cannot start", async (t) => {
  await t.step("SIGINT goes to the command; the lock is released once it ends", async () => {
    const h = harness();
    const exit = h.run();
    await h.started;
    h.signal("SIGINT");
    assert.deepEqual(h.child.signals, ["SIGINT"]);
    assert.equal(await exit, 130);
    assert.equal((await h.guard())?.regular, undefined);
  });

  await t.step("a signal that comes while the command starts reaches it", async () => {
    const h = harness();
    h.duringSpawn.push("SIGTERM");
    const exit = h.run();
    await h.started;
    assert.equal(await exit, 143);
    assert.deepEqual(h.child.signals, ["SIGTERM"]);
  });

  await t.step("no such command: 127, and the lock is never taken", async () => {
    const h = harness({ missing: true });
    assert.equal(await h.run(), 127);
    assert.equal(
      h.stderr,
      "daplaya: cannot run deploy.sh: no such command (looked in PATH); the lock was not taken\n",
    );
    assert.equal(h.store.requests, 0, "the store was not even read");
  });

  await t.step(
    "a command that vanishes before it starts: 127, and the lock is released",
    async () => {
      const h = harness({
        spawnError: new Deno.errors.NotFound("No such file or directory (os error 2)"),
      });
      assert.equal(await h.run(), 127);
      assert.match(
        h.stderr,
        /cannot run deploy\.sh: No such file or directory \(os error 2\); released the lock\n$/,
      );
      assert.equal((await h.guard())?.regular, undefined);
      assert.equal(h.listening, false);
    },
  );

  await t.step("a command that cannot be run: 126, and the lock is released", async () => {
    const h = harness({
      spawnError: new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
    });
    assert.equal(await h.run(), 126);
    assert.equal((await h.guard())?.regular, undefined);
  });
});
