/**
 * Two processes never hold an env at once, whatever user they give, whatever their clocks say
 * and whatever answers get lost: real CLI processes against DynamoDB Local (through a fault
 * proxy where answers are lost), and a holder whose clock is 13 minutes slow (faketime).
 */
import assert from "node:assert/strict";
import { hasFaketime } from "../support/faketime.ts";
import { daplaya, daplayaCommand, denoRun, ROOT } from "../../scripts/dev/daplaya.ts";
import { knownEnvs } from "../support/envs.ts";
import { localEnv, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";
import { type Fault, startFaultProxy } from "../../scripts/dev/fault_proxy.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Polls until `fn` is true; `ms` bounds a hang, it is not a speed check. */
async function until(fn: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

interface Lock {
  id: string;
  user: string;
  fence: number;
  leaseMs?: number;
  createdAt: number;
}

Deno.test("two processes never hold an env at once", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const dir = await Deno.makeTempDir();
  const step = (name: string, fn: () => Promise<void>) =>
    t.step({ name, fn, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false });
  async function locks(name: string): Promise<Lock[]> {
    const r = await daplaya(["--json", "locks", "--env", name], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).locks;
  }
  try {
    assert.equal((await daplaya(["init"], env)).code, 0);
    // Faulted grants below are those of a lock on a known env: one grant, no typo check.
    await knownEnvs(ddb.endpoint, ["in-progress", "maybe"]);

    await Promise.all([
      step("three runs by one user: they take turns, with their own locks and fences", async () => {
        const log = `${dir}/same-user.log`;
        const script = `start=$(date +%s%N); sleep 1; ` +
          `echo "$DAPLAYA_LOCK_ID $DAPLAYA_FENCE $start $(date +%s%N)" >> ${log}`;
        const results = await Promise.all(
          [1, 2, 3].map(() =>
            daplaya([
              "run",
              ...["--env", "same-user", "--user", "ci@example.com", "--ttl", "30s"],
              ...["--interval", "500ms", "--timeout", "3m", "--", "sh", "-c", script],
            ], env)
          ),
        );
        for (const r of results) assert.equal(r.code, 0, r.stderr);
        const sections = (await Deno.readTextFile(log)).trim().split("\n")
          .map((line) => line.split(" "))
          .map(([id, fence, start, end]) => ({
            id,
            fence: Number(fence),
            start: BigInt(start),
            end: BigInt(end),
          }))
          .sort((a, b) => (a.start < b.start ? -1 : 1));
        assert.equal(sections.length, 3);
        assert.equal(new Set(sections.map((s) => s.id)).size, 3, "each run has its own lock");
        for (let i = 1; i < sections.length; i++) {
          assert.ok(sections[i].start > sections[i - 1].end, `runs ${i - 1} and ${i} overlap`);
          assert.ok(sections[i].fence > sections[i - 1].fence, "fences increase");
        }
        const waited = results.filter((r) =>
          r.stderr.includes("Still locked at env SAME-USER by ci@example.com")
        );
        assert.ok(waited.length >= 1, "the later runs waited like for anyone else");
        assert.deepEqual(await locks("same-user"), []);
      }),

      step("a plain lock of the same user neither joins a run nor cuts its lease", async () => {
        const started = `${dir}/keep.started`;
        const ended = `${dir}/keep.ended`;
        const run = daplayaCommand([
          "run",
          ...["--env", "keep", "--user", "ci@example.com", "--ttl", "60s", "--", "sh", "-c"],
          `touch ${started}; sleep 5; date +%s%N > ${ended}`,
        ], env).spawn();
        await until(() => exists(started), 120_000, "the run's command to start");
        const plain = await daplaya(
          ["lock", "--env", "keep", "--user", "ci@example.com", "--ttl", "3s", "--no-wait"],
          env,
        );
        assert.equal(plain.code, 3, plain.stderr);
        assert.match(plain.stderr, /env KEEP is held by ci@example\.com/);
        const [kept] = await locks("keep");
        assert.equal(kept.leaseMs, 60_000);
        // Someone else waits until the run's command has ended and its lock is released.
        const other = await daplaya([
          "--json",
          "lock",
          ...["--env", "keep", "--user", "bob@example.com", "--timeout", "3m"],
          ...["--interval", "500ms"],
        ], env);
        assert.equal(other.code, 0, other.stderr);
        const granted: Lock = JSON.parse(other.stdout).lock;
        const endedAt = Number(BigInt((await Deno.readTextFile(ended)).trim()) / 1_000_000n);
        assert.ok(granted.createdAt >= endedAt, `granted ${granted.createdAt}, ended ${endedAt}`);
        assert.ok(granted.fence > kept.fence);
        const out = await run.output();
        assert.equal(out.code, 0, decode(out.stderr));
      }),

      step("release by the same user of a run's lock: exit 4 and --force named", async () => {
        const started = `${dir}/release.started`;
        const run = daplayaCommand([
          "run",
          ...["--env", "kept-release", "--user", "ci@example.com", "--ttl", "60s", "--"],
          ...["sh", "-c", `touch ${started}; sleep 3`],
        ], env).spawn();
        await until(() => exists(started), 120_000, "the run's command to start");
        const r = await daplaya(
          ["release", "--env", "kept-release", "--user", "CI@example.com"],
          env,
        );
        assert.equal(r.code, 4, r.stderr);
        assert.match(r.stderr, /kept by a running 'daplaya run'.*--force/);
        assert.equal(r.stderr.trim().split("\n").length, 1);
        assert.equal((await locks("kept-release")).length, 1);
        const out = await run.output();
        assert.equal(out.code, 0, decode(out.stderr));
        assert.match(decode(out.stderr), /released env KEPT-RELEASE/);
      }),

      step("a plain lock is still refreshed by its user, with a new fence", async () => {
        const args = ["--json", "lock", "--env", "plain", "--user", "ci@example.com", "--no-wait"];
        const first = await daplaya([...args, "--ttl", "60s"], env);
        const again = await daplaya([...args, "--ttl", "3s"], env);
        assert.equal(first.code, 0, first.stderr);
        assert.equal(again.code, 0, again.stderr);
        const [a, b] = [first, again].map((r) => JSON.parse(r.stdout).lock as Lock);
        assert.equal(b.id, a.id);
        assert.ok(b.fence > a.fence);
        assert.equal(b.leaseMs, 60_000, "a re-lock never shortens the lease");
        // The seed's release by user still ends it.
        const r = await daplaya(["release", "--env", "plain", "--user", "ci@example.com"], env);
        assert.equal(r.code, 0, r.stderr);
      }),
    ]);

    await t.step("a holder whose clock is 13 minutes slow keeps its lock", async (t) => {
      if (!hasFaketime()) {
        // .ci/run installs faketime; a developer machine without it skips only this step.
        console.warn("faketime is not installed: skipping the slow-clock holder");
        return;
      }
      const started = `${dir}/slow.started`;
      const holder = denoRun(
        `${ROOT}main.ts`,
        [
          "run",
          ...["--env", "skew", "--user", "slow@example.com", "--ttl", "9s", "--"],
          ...["sh", "-c", `touch ${started}; sleep 25`],
        ],
        { ...env, FAKETIME_DONT_FAKE_MONOTONIC: "1" },
        {
          wrapper: ["faketime", "-f", "-13m"],
        },
      ).spawn();
      await until(() => exists(started), 120_000, "the slow holder's command to start");
      const [held] = await locks("skew");
      assert.ok(Date.now() - held.createdAt > 12 * 60_000, "the holder's clock is behind");
      // Longer than a lease: only the holder's renewals keep the waiter out.
      const waiter = await daplaya(
        ["lock", "--env", "skew", "--user", "waiter", "--timeout", "15s", "--interval", "1s"],
        env,
      );
      assert.equal(waiter.code, 3, waiter.stderr);
      const out = await holder.output();
      assert.equal(out.code, 0, decode(out.stderr));
      await t.step("the waiter takes it once the holder is gone", async () => {
        const r = await daplaya(["lock", "--env", "skew", "--user", "waiter", "--no-wait"], env);
        assert.equal(r.code, 0, r.stderr);
      });
    });

    await t.step("unknown outcomes are read back before anything is reported", async (t) => {
      const proxy = await startFaultProxy(ddb.endpoint);
      const via = localEnv(proxy.url);
      const lost: Fault[] = Array(6).fill({ kind: "lostAnswer" });
      try {
        await t.step("every attempt of a grant loses its answer: held, exit 0", async () => {
          proxy.inject("TransactWriteItems", ...lost);
          const r = await daplaya(
            ["--json", "lock", "--env", "lost", "--user", "alice", "--no-wait"],
            via,
          );
          proxy.clear();
          assert.equal(r.code, 0, r.stderr);
          const lock: Lock = JSON.parse(r.stdout).lock;
          assert.deepEqual((await locks("lost")).map((l) => l.id), [lock.id]);
        });

        await t.step("every attempt of a release loses its answer: released, exit 0", async () => {
          proxy.inject("TransactWriteItems", ...lost);
          const r = await daplaya(["--json", "release", "--env", "lost", "--user", "alice"], via);
          proxy.clear();
          assert.equal(r.code, 0, r.stderr);
          assert.equal(JSON.parse(r.stdout).released.length, 1);
          assert.deepEqual(await locks("lost"), []);
        });

        await t.step("TransactionInProgressException after the write: held, exit 0", async () => {
          const inProgress: Fault = {
            kind: "error",
            status: 400,
            type: "TransactionInProgressException",
          };
          proxy.inject("TransactWriteItems", { kind: "lostAnswer" }, ...Array(5).fill(inProgress));
          const r = await daplaya(
            ["--json", "lock", "--env", "in-progress", "--user", "alice", "--no-wait"],
            via,
          );
          proxy.clear();
          assert.equal(r.code, 0, r.stderr);
          assert.equal((await locks("in-progress")).length, 1);
        });

        await t.step("when even the read-back fails, the line says it may be held", async () => {
          proxy.inject("TransactWriteItems", ...lost);
          proxy.inject("GetItem", ...Array(8).fill({ kind: "reset" }));
          const r = await daplaya(["lock", "--env", "maybe", "--user", "alice", "--no-wait"], via);
          proxy.clear();
          assert.equal(r.code, 1, r.stderr);
          assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
          assert.match(
            r.stderr,
            /lock on env MAYBE may be held by alice now: check with 'daplaya locks --env MAYBE'/,
          );
          assert.equal((await locks("maybe")).length, 1, "it was in fact granted");
        });
      } finally {
        await proxy.close();
      }
    });
  } finally {
    await ddb.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
