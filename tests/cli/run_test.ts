/** `daplaya run` with real processes against DynamoDB Local: contention, crashes, pauses, signals. */
import assert from "node:assert/strict";
import { type CliResult, daplaya, daplayaCommand } from "../../scripts/dev/daplaya.ts";
import { localEnv, localStore, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function activeLocks(env: Record<string, string>, name: string) {
  const r = await daplaya(["--json", "locks", "--env", name], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).locks as { id: string; user: string; fence: number }[];
}

/**
 * Polls until `fn` is true or the time is up: `ms` bounds a hang, it is not a speed check (a
 * loaded 2-core machine may take seconds to start a process).
 */
async function until(fn: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

Deno.test("run under the lock, with real processes", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const store = localStore(ddb.endpoint);
  const dir = await Deno.makeTempDir();
  try {
    assert.equal((await daplaya(["init"], env)).code, 0);

    await t.step(
      "8 processes on one env: granted in line order, exact count, no overlap, increasing fences",
      async () => {
        await Deno.writeTextFile(`${dir}/counter`, "0");
        // A holder first, so that every run has to wait in the env's line.
        const holder = await daplaya(["lock", "--env", "counter", "--user", "holder"], env);
        assert.equal(holder.code, 0, holder.stderr);
        // A non-atomic read-sleep-write: any two overlapping critical sections lose an update.
        const script =
          `n=$(cat counter); start=$(date +%s%N); sleep 0.2; echo $((n+1)) > counter; ` +
          `echo "$DAPLAYA_FENCE $start $(date +%s%N) $WORKER" >> log`;
        const inLine = async () => ((await store.guard("COUNTER"))?.line ?? []).map((p) => p.user);
        const runs: Promise<CliResult>[] = [];
        const workers = Array.from({ length: 8 }, (_, i) => `worker${i}`);
        for (const [i, user] of workers.entries()) {
          runs.push(daplaya(
            [
              "run",
              ...["--env", "counter", "--user", user, "--interval", "1s", "--timeout", "5m"],
              ...["--", "sh", "-c", script],
            ],
            { ...env, WORKER: String(i) },
            dir,
          ));
          // The next one starts only once this one's place is in the line, behind the others.
          await until(
            async () => (await inLine()).length === i + 1,
            60_000,
            `the place of ${user}`,
          );
        }
        // The line holds them in the order they joined.
        assert.deepEqual(await inLine(), workers);
        const release = await daplaya(["release", "--env", "counter", "--user", "holder"], env);
        assert.equal(release.code, 0, release.stderr);
        const results = await Promise.all(runs);
        for (const r of results) assert.equal(r.code, 0, r.stderr);
        assert.equal((await Deno.readTextFile(`${dir}/counter`)).trim(), "8");
        const sections = (await Deno.readTextFile(`${dir}/log`)).trim().split("\n")
          .map((line) => line.split(" ").map(BigInt))
          .sort((a, b) => (a[1] < b[1] ? -1 : 1));
        assert.equal(sections.length, 8);
        for (let i = 1; i < sections.length; i++) {
          assert.ok(sections[i][1] > sections[i - 1][2], `sections ${i - 1} and ${i} overlap`);
          assert.ok(
            sections[i][0] > sections[i - 1][0],
            `fence ${sections[i][0]} after ${sections[i - 1][0]}`,
          );
        }
        // Granted in the order they took their places: first come, first served.
        assert.deepEqual(sections.map((s) => Number(s[3])), workers.map((_, i) => i));
        assert.deepEqual(await activeLocks(env, "counter"), []);
        assert.deepEqual(await inLine(), []);
      },
    );

    await t.step("the command's stdout is its own; it sees env, lock id and fence", async () => {
      const r = await daplaya([
        "run",
        "--env",
        "staging",
        "--user",
        "u",
        "--",
        "sh",
        "-c",
        'echo "$DAPLAYA_ENV $DAPLAYA_LOCK_ID $DAPLAYA_FENCE"',
      ], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^STAGING [0-9a-f-]{36} \d+\n$/);
      assert.match(r.stderr, /^daplaya: Locked STAGING for u \(CLI\), lease 2m\n/);
      assert.match(r.stderr, /daplaya: released env STAGING\n$/);
    });

    await t.step("exit codes pass through and the lock is released in every case", async () => {
      const cases: [string[], number][] = [
        [["sh", "-c", "exit 7"], 7],
        [["false"], 1],
        [["true"], 0],
        [["definitely-not-a-command-xyz"], 127],
        [[`${dir}`], 126],
      ];
      for (const [command, code] of cases) {
        const r = await daplaya(["run", "--env", "codes", "--user", "u", "--", ...command], env);
        assert.equal(r.code, code, `${command.join(" ")}: ${r.stderr}`);
        assert.deepEqual(await activeLocks(env, "codes"), [], command.join(" "));
      }
      // A command that does not exist never takes the lock: no record of it.
      const missing = await daplaya(
        ["run", "--env", "missing", "--user", "u", "--", "./no-such-script.sh"],
        env,
      );
      assert.equal(missing.code, 127, missing.stderr);
      assert.match(
        missing.stderr,
        /cannot run \.\/no-such-script\.sh: no such command .*the lock was not taken\n$/,
      );
      const history = await daplaya(["locks", "--history", "--env", "missing", "--json"], env);
      assert.deepEqual(JSON.parse(history.stdout).locks, []);
    });

    await t.step(
      "SIGTERM and SIGINT go to the command; the lock is released after it ends",
      async () => {
        for (const [signal, code] of [["SIGTERM", 42], ["SIGINT", 43]] as const) {
          const trap = `trap 'echo got; kill $!; exit ${code}' ${
            signal.slice(3)
          }; echo ready; sleep 30 & wait`;
          const child = daplayaCommand([
            "run",
            "--env",
            "signals",
            "--user",
            "u",
            "--",
            "sh",
            "-c",
            trap,
          ], env)
            .spawn();
          const reader = child.stdout.getReader();
          const first = await reader.read();
          assert.equal(decode(first.value!), "ready\n");
          child.kill(signal);
          const rest = await reader.read();
          assert.equal(decode(rest.value!), "got\n");
          reader.releaseLock();
          const out = await child.output();
          assert.equal(out.code, code, decode(out.stderr));
          assert.deepEqual(await activeLocks(env, "signals"), []);
        }
      },
    );

    await t.step(
      "a holder killed with SIGKILL: a waiter gets the lock within lease + interval",
      async () => {
        // A lease short enough to wait out, long enough that a loaded machine does not make the
        // holder lose it before we kill it (it renews every ttl/3 and must be confirmed by
        // ttl - ttl/4 - ttl/10).
        const holder = daplayaCommand([
          "run",
          "--env",
          "crash",
          "--user",
          "holder",
          "--ttl",
          "10s",
          "--",
          "sh",
          "-c",
          `echo $$ > ${dir}/crash.pid; exec sleep 60`,
        ], env).spawn();
        await until(
          async () => (await activeLocks(env, "crash")).length === 1,
          60_000,
          "the holder",
        );
        const waiter = daplaya(
          ["lock", "--env", "crash", "--user", "waiter", "--interval", "1s", "--timeout", "2m"],
          env,
        );
        await sleep(1500); // the waiter sees the holder renewing
        holder.kill("SIGKILL");
        const killedAt = Date.now();
        // The orphaned command keeps the holder's pipes open; it is not what we test here.
        Deno.kill(Number(await Deno.readTextFile(`${dir}/crash.pid`)), "SIGKILL");
        await holder.output();
        const r = await waiter;
        const took = Date.now() - killedAt;
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stderr,
          /^Still locked at env CRASH by holder \(you are #1 in line, held for \d+s; waited 0s\)\n/,
        );
        // Lease 10s + interval 1s, plus room for requests on a loaded machine: bounded by the
        // lease, not by the waiter's 2m timeout.
        assert.ok(took < 10_000 + 1000 + 10_000, `took ${took} ms`);
        assert.deepEqual((await activeLocks(env, "crash")).map((l) => l.user), ["waiter"]);
      },
    );

    await t.step("a holder paused past its lease notices, stops its command, exits 5", async () => {
      // Not shorter: before the pause the holder must keep its lease on a loaded machine.
      const holder = daplayaCommand([
        "run",
        "--env",
        "pause",
        "--user",
        "holder",
        "--ttl",
        "10s",
        "--",
        "sh",
        "-c",
        `trap 'echo stopped > ${dir}/pause.out; kill $!; exit 0' TERM; sleep 60 & wait`,
      ], env).spawn();
      await until(async () => (await activeLocks(env, "pause")).length === 1, 60_000, "the holder");
      holder.kill("SIGSTOP");
      const r = await daplaya(
        ["lock", "--env", "pause", "--user", "newcomer", "--interval", "1s", "--timeout", "2m"],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      const [newLock] = await activeLocks(env, "pause");
      assert.equal(newLock.user, "newcomer");
      holder.kill("SIGCONT");
      const out = await holder.output();
      assert.equal(out.code, 5, decode(out.stderr));
      assert.match(decode(out.stderr), /daplaya: lost the lock on env PAUSE while the command ran/);
      assert.equal((await Deno.readTextFile(`${dir}/pause.out`)).trim(), "stopped");
      assert.deepEqual(await activeLocks(env, "pause"), [newLock]);
    });

    await t.step(
      "--user: in CI the committer of HEAD, on a terminal git config user.email, then $USER@host",
      async () => {
        const repo = `${dir}/repo`;
        await Deno.mkdir(repo);
        // No global or system git config: only what the test sets.
        const home = { ...env, HOME: dir, GIT_CONFIG_NOSYSTEM: "1" };
        const git = (...args: string[]) =>
          new Deno.Command("git", { args, cwd: repo, stdout: "null", stderr: "null", env: home })
            .output();
        await git("init", "-q");
        await git(
          "-c",
          "user.name=C",
          "-c",
          "user.email=committer@example.com",
          "commit",
          "-q",
          "--allow-empty",
          "-m",
          "x",
        );
        const user = async (env: Record<string, string>, cwd = repo) => {
          const r = await daplaya(["lock", "--env", "git", "--json"], env, cwd);
          assert.equal(r.code, 0, r.stderr);
          const { user } = JSON.parse(r.stdout).lock;
          assert.equal((await daplaya(["release", "--env", "git"], env, cwd)).code, 0);
          return user;
        };
        assert.equal(await user({ ...home, CI: "true" }), "committer@example.com");
        const hostname = Deno.hostname();
        assert.equal(await user({ ...home, USER: "ann" }), `ann@${hostname}`, "not HEAD's");
        await git("config", "user.email", "typist@example.com");
        assert.equal(await user({ ...home, USER: "ann" }), "typist@example.com");
        assert.equal(await user({ ...home, CI: "true" }), "committer@example.com");
        const ci = await daplaya(["lock", "--env", "ci", "--json"], {
          ...home,
          DAPLAYA_USER: "ci-bot",
          GITLAB_CI: "true",
          CI_JOB_URL: "https://gitlab.example.com/g/p/-/jobs/9",
        }, repo);
        assert.equal(ci.code, 0, ci.stderr);
        const lock = JSON.parse(ci.stdout).lock;
        assert.deepEqual([lock.user, lock.meta], [
          "ci-bot",
          "https://gitlab.example.com/g/p/-/jobs/9",
        ]);
        const nobody = await daplaya(["lock", "--env", "git"], home, dir);
        assert.equal(nobody.code, 2);
        assert.match(nobody.stderr, /^daplaya: missing --user: .*DAPLAYA_USER/);
      },
    );
  } finally {
    store.close();
    await ddb.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
