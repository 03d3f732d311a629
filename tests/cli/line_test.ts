/**
 * The fair line of waiters per env, with real CLI processes against DynamoDB Local: stop signals
 * leave it, a killed waiter is skipped once its place lapses, `--no-wait` and newcomers never
 * barge in, an uberlock bypasses it, and lost answers to joining and leaving it change nothing.
 * The line is checked in the guard item itself (`guard#ENV`), read strongly consistent.
 *
 * Every step has its own env (and proxy) and they run side by side, so the file stays within
 * about a minute on two cores; every bound on time below is a bound for a hang, not a speed check.
 */
import assert from "node:assert/strict";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { Guard, LockRecord } from "../../src/core/model.ts";
import { type CliResult, daplaya, daplayaCommand } from "../../scripts/dev/daplaya.ts";
import {
  localEnv,
  localStore,
  startDynamoLocal,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../../scripts/dev/dynamodb_local.ts";
import { type FaultProxy, startFaultProxy } from "../../scripts/dev/fault_proxy.ts";
import { knownEnvs } from "../support/envs.ts";

const TABLE = "DaPlayaLocks";
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` is true; `ms` bounds a hang, it is not a speed check. */
async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A CLI process started in the background; `done` is its exit code and output. */
interface Proc {
  child: Deno.ChildProcess;
  done: Promise<CliResult>;
}

/** `done` within `ms`, else the process is killed and the step fails (a hang, not slowness). */
async function finished(p: Proc, ms: number, what: string): Promise<CliResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        p.child.kill("SIGKILL");
      } catch { /* ended meanwhile */ }
      reject(new Error(`${what} did not end within ${ms / 1000}s`));
    }, ms);
  });
  try {
    return await Promise.race([p.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stopped while waiting: the exit code, no stdout, and one `daplaya:` line after the waits. */
function stoppedCleanly(r: CliResult, code: number, env: string): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.at(-1), `daplaya: stopped while waiting for env ${env}; left its line`);
  for (const line of lines.slice(0, -1)) {
    assert.match(line, /^Still (locked|waiting) at env /, `no other line:\n${r.stderr}`);
  }
}

Deno.test("the line of waiters, with real processes", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const store = localStore(ddb.endpoint);
  const direct = new DynamoDBClient({
    region: TEST_REGION,
    endpoint: ddb.endpoint,
    credentials: TEST_CREDENTIALS,
  });
  const procs: Proc[] = [];
  const proxies: FaultProxy[] = [];
  const dir = await Deno.makeTempDir();

  /** Starts `daplaya ARGS` in the background. */
  function start(args: string[], via = env): Proc {
    const child = daplayaCommand(args, via).spawn();
    const done = child.output().then((out) => ({
      code: out.code,
      stdout: decode(out.stdout),
      stderr: decode(out.stderr),
    }));
    const proc = { child, done };
    procs.push(proc);
    return proc;
  }
  const cli = (...args: string[]): Promise<CliResult> => daplaya(args, env);
  async function ok(...args: string[]): Promise<CliResult> {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r;
  }
  const guard = async (name: string): Promise<Guard> => {
    const g = await store.guard(name);
    assert.ok(g, `a guard item for ${name}`);
    return g;
  };
  const lineOf = async (name: string) => (await guard(name)).line ?? [];
  const usersInLine = async (name: string) => (await lineOf(name)).map((p) => p.user);
  /** Waits until the line of `name` is exactly these users, in this order. */
  const lineIs = (name: string, users: string[]) =>
    until(
      async () => JSON.stringify(await usersInLine(name)) === JSON.stringify(users),
      60_000,
      `the line of ${name} to be [${users.join(", ")}]`,
    );
  /** The pids the guard item mirrors in `linePids` (a string set), read raw. */
  async function linePids(name: string): Promise<string[] | undefined> {
    const out = await direct.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { id: { S: `guard#${name}` } },
        ConsistentRead: true,
      }),
    );
    return out.Item?.linePids?.SS?.toSorted();
  }
  /** The line is exactly `users`, and `linePids` mirrors its pids (absent when it is empty). */
  async function lineExactly(name: string, users: string[]): Promise<void> {
    const line = await lineOf(name);
    assert.deepEqual(line.map((p) => p.user), users, `the line of ${name}`);
    const pids = line.map((p) => p.pid).toSorted();
    assert.deepEqual(await linePids(name), pids.length ? pids : undefined, `linePids of ${name}`);
  }
  /** Waits until `user`'s place has been renewed `times` more times than now. */
  async function renewals(name: string, user: string, times: number): Promise<void> {
    const seen = new Set<string>();
    const rvn = async () => (await lineOf(name)).find((p) => p.user === user)?.rvn;
    const first = await rvn();
    assert.ok(first, `${user} has a place in ${name}`);
    seen.add(first);
    await until(
      async () => {
        const now = await rvn();
        assert.ok(now, `${user} still has a place in ${name}`);
        seen.add(now);
        return seen.size > times;
      },
      60_000,
      `${times} renewals of ${user}'s place`,
    );
  }
  async function record(id: string): Promise<LockRecord> {
    const r = await store.record(id);
    assert.ok(r, `record ${id}`);
    return r;
  }

  // Concurrent steps must not use sanitizers (Deno runs such steps side by side).
  const step = (name: string, fn: () => Promise<void>, ignore = false) =>
    t.step({
      name,
      fn,
      ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      sanitizeExit: false,
    });

  try {
    assert.equal((await daplaya(["init"], env)).code, 0);
    // The fault sequences below are those of a lock on a known env: one grant, no typo check.
    await knownEnvs(ddb.endpoint, ["lost-join", "lost-leave"]);

    await Promise.all([
      step(
        "SIGINT and SIGTERM leave the line at once (130, 143), also a double SIGINT",
        async () => {
          await ok("lock", "--env", "signals", "--user", "holder");
          const wait = (user: string) =>
            start(["lock", "--env", "signals", "--user", user, "--interval", "1s"]);
          const a = wait("a");
          await lineIs("SIGNALS", ["a"]);
          const b = wait("b");
          await lineIs("SIGNALS", ["a", "b"]);
          const c = wait("c");
          await lineIs("SIGNALS", ["a", "b", "c"]);

          a.child.kill("SIGINT");
          stoppedCleanly(await finished(a, 60_000, "a after SIGINT"), 130, "SIGNALS");
          // Left before it exited: the next waiters moved up.
          await lineExactly("SIGNALS", ["b", "c"]);
          // b saw it: two renewals later it has printed its new place at least once.
          await renewals("SIGNALS", "b", 2);

          b.child.kill("SIGTERM");
          const rb = await finished(b, 60_000, "b after SIGTERM");
          stoppedCleanly(rb, 143, "SIGNALS");
          assert.match(rb.stderr, /^Still locked at env SIGNALS by holder \(you are #2 in line, /);
          assert.match(
            rb.stderr,
            /\nStill locked at env SIGNALS by holder \(you are #1 in line, held for \d+s; waited \d+s\)\n/,
          );
          await lineExactly("SIGNALS", ["c"]);

          // A second Ctrl-C while the first one is leaving the line.
          c.child.kill("SIGINT");
          await sleep(10);
          try {
            c.child.kill("SIGINT");
          } catch { /* already gone: the same outcome is expected */ }
          stoppedCleanly(await finished(c, 60_000, "c after two SIGINTs"), 130, "SIGNALS");
          await lineExactly("SIGNALS", []);
          // Nobody got the lock on the way out.
          assert.equal((await guard("SIGNALS")).regular?.user, "holder");
        },
      ),

      step("a waiting run stopped by SIGINT leaves the line; its command never runs", async () => {
        await ok("lock", "--env", "run-signal", "--user", "holder");
        const ran = `${dir}/run-signal.ran`;
        const run = start([
          "run",
          ...["--env", "run-signal", "--user", "runner", "--interval", "1s"],
          ...["--", "sh", "-c", `touch ${ran}`],
        ]);
        await lineIs("RUN-SIGNAL", ["runner"]);
        run.child.kill("SIGINT");
        stoppedCleanly(await finished(run, 60_000, "the run after SIGINT"), 130, "RUN-SIGNAL");
        await lineExactly("RUN-SIGNAL", []);
        // Released, the env stays free: the run does not come back for it.
        await ok("release", "--env", "run-signal", "--user", "holder");
        await sleep(1500);
        assert.equal((await guard("RUN-SIGNAL")).regular, undefined);
        assert.equal(await Deno.stat(ran).then(() => true, () => false), false, "it never ran");
      }),

      step("a SIGKILLed waiter is skipped once its place lapses", async () => {
        await ok("lock", "--env", "killed", "--user", "holder");
        const wait = (user: string) =>
          start(["--json", "lock", "--env", "killed", "--user", user, "--interval", "1s"]);
        const a = wait("a");
        await lineIs("KILLED", ["a"]);
        const b = wait("b");
        await lineIs("KILLED", ["a", "b"]);
        a.child.kill("SIGKILL");
        assert.equal((await finished(a, 60_000, "a after SIGKILL")).code, 137);
        // Killed: its place stays until someone sees it lapse.
        assert.deepEqual(await usersInLine("KILLED"), ["a", "b"]);
        await ok("release", "--env", "killed", "--user", "holder");
        const released = Date.now();
        const rb = await finished(b, 60_000, "b");
        const took = Date.now() - released;
        assert.equal(rb.code, 0, rb.stderr);
        assert.match(rb.stderr, /you are #2 in line/);
        const lock: LockRecord = JSON.parse(rb.stdout).lock;
        // a's place lease is 3s (3 × 1s), b renews every 1s: far less than this bound for a hang.
        assert.ok(took < 30_000, `b got it ${took} ms after the release`);
        assert.equal((await guard("KILLED")).regular?.id, lock.id);
        await lineExactly("KILLED", []);
      }),

      step("--no-wait and newcomers never barge in while the env is free", async () => {
        await ok("lock", "--env", "barge", "--user", "alice");
        // bob renews (and so notices the env is free) only every 20s: time for the others.
        const bob = start(
          ["--json", "lock", "--env", "barge", "--user", "bob", "--interval", "20s"],
        );
        await lineIs("BARGE", ["bob"]);
        const [bobPlace] = await lineOf("BARGE");
        await ok("release", "--env", "barge", "--user", "alice");
        const [once, onceJson] = await Promise.all([
          cli("lock", "--env", "barge", "--user", "carol", "--no-wait"),
          cli("--json", "lock", "--env", "barge", "--user", "carol", "--no-wait"),
        ]);
        assert.equal(once.code, 3, once.stderr);
        assert.equal(once.stdout, "");
        assert.match(
          once.stderr,
          /^daplaya: env BARGE is free but others were first: 1 waits in line, first bob \(for \d+s\)\n$/,
        );
        assert.equal(onceJson.code, 3, onceJson.stderr);
        assert.deepEqual(JSON.parse(onceJson.stdout), {
          acquired: false,
          heldBy: null,
          waiting: [{
            env: "BARGE",
            user: "bob",
            position: 1,
            since: bobPlace.since,
            meta: "CLI",
          }],
        });
        // A newcomer that waits takes a place behind bob, though nobody holds the env.
        const carol = start(
          ["--json", "lock", "--env", "barge", "--user", "carol", "--interval", "500ms"],
        );
        await lineIs("BARGE", ["bob", "carol"]);
        // All of that while the env was free and bob waited: nobody barged in.
        assert.equal((await guard("BARGE")).regular, undefined, "bob waited all along");
        assert.equal((await lineOf("BARGE"))[0].pid, bobPlace.pid);

        const rb = await finished(bob, 120_000, "bob");
        assert.equal(rb.code, 0, rb.stderr);
        const bobLock: LockRecord = JSON.parse(rb.stdout).lock;
        assert.equal((await guard("BARGE")).regular?.id, bobLock.id);
        await lineExactly("BARGE", ["carol"]);
        await renewals("BARGE", "carol", 2);
        assert.equal((await guard("BARGE")).regular?.id, bobLock.id, "carol still waits");
        await ok("release", "--env", "barge", "--user", "bob");

        const rc = await finished(carol, 60_000, "carol");
        assert.equal(rc.code, 0, rc.stderr);
        assert.match(
          rc.stderr,
          /^Still waiting at env BARGE: bob is next \(you are #2 in line; waited \d+s\)\n/,
        );
        assert.match(rc.stderr, /\nStill locked at env BARGE by bob \(you are #1 in line, /);
        const carolLock: LockRecord = JSON.parse(rc.stdout).lock;
        const ended = await record(bobLock.id);
        assert.ok(ended.releasedAt! <= carolLock.createdAt, "carol only after bob");
        assert.ok(carolLock.fence > bobLock.fence);
        await lineExactly("BARGE", []);
      }),

      step("an uberlock bypasses the line; the waiter keeps its place", async () => {
        await ok("lock", "--env", "uber", "--user", "alice");
        const bob = start(["--json", "lock", "--env", "uber", "--user", "bob", "--interval", "1s"]);
        await lineIs("UBER", ["bob"]);
        const [place] = await lineOf("UBER");
        const uber = await ok(
          "--json",
          "lock",
          ...["--env", "uber", "--user", "carol", "--uberlock", "--no-wait"],
        );
        const uberLock: LockRecord = JSON.parse(uber.stdout).lock;
        assert.equal(uberLock.uberlock, true);
        await lineExactly("UBER", ["bob"]);
        assert.equal((await lineOf("UBER"))[0].pid, place.pid, "the same place");

        // The regular lock ends; the uberlock still keeps bob out.
        await ok("release", "--env", "uber", "--user", "alice");
        await renewals("UBER", "bob", 2);
        const during = await guard("UBER");
        assert.equal(during.regular, undefined);
        assert.equal(during.uberlock?.id, uberLock.id);
        assert.equal(during.line?.[0].pid, place.pid);

        await ok("release", "--env", "uber", "--user", "carol", "--uberlock");
        const rb = await finished(bob, 60_000, "bob");
        assert.equal(rb.code, 0, rb.stderr);
        assert.match(
          rb.stderr,
          /\nStill locked at env UBER by carol \(you are #1 in line, an uberlock, held for \d+s; waited \d+s\)\n/,
        );
        const bobLock: LockRecord = JSON.parse(rb.stdout).lock;
        assert.ok((await record(uberLock.id)).releasedAt! <= bobLock.createdAt);
        assert.ok(bobLock.fence > uberLock.fence);
        await lineExactly("UBER", []);
      }),

      // Bob waits for carol's uberlock; were carol's regular lock to wait behind bob, neither
      // would get anywhere.
      step(
        "the uberlock holder takes its regular lock though others wait in line",
        async () => {
          await ok("lock", "--env", "uber-own", "--user", "carol", "--uberlock");
          const bob = start(
            ["lock", "--env", "uber-own", "--user", "bob", "--interval", "1s", "--timeout", "1m"],
          );
          await lineIs("UBER-OWN", ["bob"]);
          // Documented: while an uberlock is active, only its holder can take regular locks.
          const own = await cli(
            "--json",
            "lock",
            ...["--env", "uber-own", "--user", "carol", "--timeout", "10s", "--interval", "1s"],
          );
          assert.equal(own.code, 0, own.stderr);
          assert.equal(JSON.parse(own.stdout).lock.user, "carol");
          await lineExactly("UBER-OWN", ["bob"]);
          await ok("release", "--env", "uber-own", "--user", "carol");
          const rb = await finished(bob, 60_000, "bob");
          assert.equal(rb.code, 0, rb.stderr);
        },
      ),

      step("a lost answer to joining the line: one place, granted in turn", async () => {
        const p = await startFaultProxy(ddb.endpoint);
        proxies.push(p);
        await ok("lock", "--env", "lost-join", "--user", "alice");
        p.inject("UpdateItem", { kind: "lostAnswer" });
        const bob = start(
          ["--json", "lock", "--env", "lost-join", "--user", "bob", "--interval", "1s"],
          localEnv(p.url),
        );
        // The join was applied, its answer lost, and it was sent again.
        const updates = () => p.log.filter((e) => e.operation === "UpdateItem");
        await until(() => updates().length >= 2, 60_000, "the join and its resend");
        assert.deepEqual(updates().slice(0, 2).map((e) => e.fault), ["lostAnswer", "pass"]);
        await lineExactly("LOST-JOIN", ["bob"]);
        // Still exactly one place while bob renews it.
        await renewals("LOST-JOIN", "bob", 2);
        await lineExactly("LOST-JOIN", ["bob"]);

        await ok("release", "--env", "lost-join", "--user", "alice");
        const rb = await finished(bob, 60_000, "bob");
        assert.equal(rb.code, 0, rb.stderr);
        assert.doesNotMatch(rb.stderr, /daplaya:/);
        const lock: LockRecord = JSON.parse(rb.stdout).lock;
        assert.equal((await guard("LOST-JOIN")).regular?.id, lock.id);
        await lineExactly("LOST-JOIN", []);
      }),

      step("a lost answer to leaving the line: no place left behind, exit 3", async () => {
        const p = await startFaultProxy(ddb.endpoint);
        proxies.push(p);
        await ok("lock", "--env", "lost-leave", "--user", "alice");
        // An interval longer than the timeout: join, one renewal at the deadline, leave.
        p.inject("UpdateItem", { kind: "pass" }, { kind: "pass" }, { kind: "lostAnswer" });
        const r = await daplaya(
          ["lock", "--env", "lost-leave", "--user", "bob", "--timeout", "6s", "--interval", "1m"],
          localEnv(p.url),
        );
        assert.equal(r.code, 3, r.stderr);
        const lines = r.stderr.trimEnd().split("\n");
        assert.match(lines[0], /^Still locked at env LOST-LEAVE by alice \(you are #1 in line, /);
        assert.match(
          lines.at(-1)!,
          /^daplaya: env LOST-LEAVE is held by alice \(a lock, for \d+s, meta: CLI\); gave up after waiting 6s$/,
        );
        assert.equal(lines.length, 2, r.stderr);
        assert.deepEqual(
          p.log.filter((e) => e.operation === "UpdateItem").map((e) => e.fault),
          ["pass", "pass", "lostAnswer", "pass"],
          "join, renewal, leave (answer lost) and its resend",
        );
        await lineExactly("LOST-LEAVE", []);
        assert.equal((await guard("LOST-LEAVE")).regular?.user, "alice");
      }),
    ]);
  } finally {
    for (const p of procs) {
      try {
        p.child.kill("SIGKILL");
      } catch { /* ended */ }
    }
    await Promise.allSettled(procs.map((p) => p.done));
    await Promise.all(proxies.map((p) => p.close()));
    store.close();
    direct.destroy();
    await ddb.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
