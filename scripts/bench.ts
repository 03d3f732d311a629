// Benchmarks the CLI as users run it, as whole processes: `deno task bench`.
//
// 1. Startup: median of STARTUP_RUNS runs of `daplaya --version` against a hello world that
//    imports only the CLI library (commander), both run the same way
//    (`deno run -q --config deno.json -P=daplaya FILE --version`). Target: ratio <= 1.3.
//    Plus a run-time check that `--version` does not load the AWS SDK (see
//    scripts/dev/no_sdk.ts for the method; tests/cli/startup_test.ts checks it too).
// 2. A lock and a release, two whole `daplaya` processes, against DynamoDB Local started here,
//    versus one `aws dynamodb put-item` plus one `aws dynamodb delete-item` (AWS CLI v2 at
//    /usr/bin/aws) on the same table and endpoint. Medians over ROUND_TRIP_RUNS after WARMUP
//    runs of each. Target: ratio <= 0.4. Skipped, with a message, without /usr/bin/aws.
// 3. DynamoDB requests per command, counted by an HTTP proxy in front of DynamoDB Local
//    (scripts/dev/fault_proxy.ts logs each request's operation). Targets: an uncontended
//    lock = 1 request, a release <= 2; the first lock of a new env <= 4 (its typo check);
//    `check` = 1; a lock on an env with a policy = 2 (the blind grant fails on the policy
//    version and returns the guard with it, then the grant decided on it).
// 4. A line of LINE_WAITERS waiters: one holder, then LINE_WAITERS `daplaya lock --interval 1s`
//    processes that wait, each as its own user, through a counting proxy only they use. Once all
//    are in the env's line, the requests they send in LINE_WINDOW_MS. Target: <= 1.1 per waiter
//    per interval (<= 66 a minute). Then the holder releases, and each new holder in turn: a
//    handoff runs from the last guard read showing the old holder to the first showing the next
//    (reads every 25 ms), each release after a random pause of up to an interval. Targets: max
//    <= interval + 0.5 s; grant order = the line's order.
//
// Prints a markdown table (what, measured, target, ok) and exits 1 when a target is missed.

import { daplayaCommand, denoRun, ROOT } from "./dev/daplaya.ts";
import { localEnv, localStore, startDynamoLocal } from "./dev/dynamodb_local.ts";
import { startFaultProxy } from "./dev/fault_proxy.ts";
import { daplayaWithoutSdk, loadedPoison, poisonedImportMap } from "./dev/no_sdk.ts";

const AWS = "/usr/bin/aws";
const STARTUP_RUNS = 15;
const ROUND_TRIP_RUNS = 7;
const WARMUP = 2;
const TABLE = "DaPlayaLocks";
const LINE_WAITERS = 10;
const LINE_INTERVAL_MS = 1000;
const LINE_WINDOW_MS = 20_000;

interface Row {
  what: string;
  measured: string;
  target: string;
  ok: boolean | "SKIPPED";
}

interface Timed {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

const text = new TextDecoder();

async function timed(cmd: Deno.Command): Promise<Timed> {
  const start = performance.now();
  const out = await cmd.output();
  const ms = performance.now() - start;
  return { ms, code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function check(r: Timed, what: string): Timed {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const ratio = (x: number) => x.toFixed(2);

async function startup(rows: Row[]): Promise<void> {
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/" };
  // Outside the repo, so concurrent `deno fmt`/`deno lint`/`git add` never see it;
  // --config makes deno.json's import map (and node_modules) resolve it.
  const dir = await Deno.makeTempDir({ prefix: "daplaya-bench-" });
  const hello = `${dir}/hello.ts`;
  await Deno.writeTextFile(
    hello,
    'import { Command } from "@commander-js/extra-typings";\nnew Command().version("x").parse();\n',
  );
  try {
    const daplaya = () => denoRun(`${ROOT}main.ts`, ["--version"], env);
    const baseline = () => denoRun(hello, ["--version"], env);
    for (let i = 0; i < WARMUP; i++) {
      check(await timed(daplaya()), "daplaya --version");
      check(await timed(baseline()), "hello world --version");
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < STARTUP_RUNS; i++) { // interleaved, so drift hits both alike
      a.push(check(await timed(daplaya()), "daplaya --version").ms);
      b.push(check(await timed(baseline()), "hello world --version").ms);
    }
    const r = median(a) / median(b);
    rows.push({
      what: `\`daplaya --version\` startup, median of ${STARTUP_RUNS}`,
      measured: ms(median(a)),
      target: "-",
      ok: true,
    }, {
      what: `commander hello world startup, median of ${STARTUP_RUNS}`,
      measured: ms(median(b)),
      target: "-",
      ok: true,
    }, {
      what: "startup ratio daplaya / hello world",
      measured: ratio(r),
      target: "<= 1.3",
      ok: r <= 1.3,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const map = await poisonedImportMap();
  try {
    const version = await daplayaWithoutSdk(map, ["--version"], env);
    const control = await daplayaWithoutSdk(map, ["locks", "--region", "us-east-1"], {
      ...env,
      AWS_ACCESS_KEY_ID: "x",
      AWS_SECRET_ACCESS_KEY: "y",
      DAPLAYA_DYNAMODB_ENDPOINT: "http://127.0.0.1:9",
    });
    const controlOk = loadedPoison(control);
    rows.push({
      what: "`--version` with the AWS SDK poisoned (control: `locks` hits the poison)",
      measured: !controlOk
        ? "control did not hit the poison: check invalid"
        : version.code === 0
        ? "SDK not loaded"
        : `SDK loaded: ${version.stderr.trim().split("\n")[0]}`,
      target: "not loaded",
      ok: controlOk && version.code === 0,
    });
  } finally {
    await map.remove();
  }
}

async function roundTrip(rows: Row[], endpoint: string): Promise<void> {
  const env = localEnv(endpoint);
  const daplaya = (...args: string[]) => daplayaCommand(args, env);
  const lockArgs = ["lock", "--env", "bench", "--user", "bench@example.com", "--no-wait"];
  const releaseArgs = ["release", "--env", "bench", "--user", "bench@example.com"];
  const daplayaOnce = async () => {
    const lock = check(await timed(daplaya(...lockArgs)), "daplaya lock");
    const release = check(await timed(daplaya(...releaseArgs)), "daplaya release");
    return [lock.ms, release.ms];
  };

  let awsOnce: (() => Promise<number[]>) | undefined;
  try {
    await Deno.stat(AWS);
    const awsEnv = {
      PATH: env.PATH,
      HOME: env.HOME,
      AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
      AWS_DEFAULT_REGION: env.DAPLAYA_AWS_REGION,
      AWS_REGION: env.DAPLAYA_AWS_REGION,
      AWS_PAGER: "",
      AWS_EC2_METADATA_DISABLED: "true",
    };
    const aws = (...args: string[]) =>
      new Deno.Command(AWS, {
        args: ["dynamodb", ...args, "--table-name", TABLE, "--endpoint-url", endpoint],
        env: awsEnv,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    // A record shaped like daplaya's, under its own id.
    const id = "bench-aws-cli-item";
    const item = {
      id: { S: id },
      user: { S: "bench@example.com" },
      env: { S: "BENCH-AWS" },
      createdAt: { N: String(Date.now()) },
      updatedAt: { N: String(Date.now()) },
      active: { BOOL: true },
      uberlock: { BOOL: false },
      meta: { S: "CLI" },
    };
    awsOnce = async () => {
      const put = check(
        await timed(aws("put-item", "--item", JSON.stringify(item))),
        "aws dynamodb put-item",
      );
      const del = check(
        await timed(aws("delete-item", "--key", JSON.stringify({ id: { S: id } }))),
        "aws dynamodb delete-item",
      );
      return [put.ms, del.ms];
    };
  } catch {
    console.error(`bench: ${AWS} not found: SKIPPED the comparison with the AWS CLI`);
  }

  for (let i = 0; i < WARMUP; i++) {
    await daplayaOnce();
    await awsOnce?.();
  }
  const ours: number[][] = [];
  const theirs: number[][] = [];
  for (let i = 0; i < ROUND_TRIP_RUNS; i++) {
    ours.push(await daplayaOnce());
    if (awsOnce) theirs.push(await awsOnce());
  }
  const total = (xs: number[][]) => median(xs.map(([a, b]) => a + b));
  const mine = total(ours);
  rows.push({
    what: `\`daplaya lock\` + \`daplaya release\` (2 processes), median of ${ROUND_TRIP_RUNS}`,
    measured: `${ms(mine)} (lock ${ms(median(ours.map((x) => x[0])))}, release ${
      ms(median(ours.map((x) => x[1])))
    })`,
    target: "-",
    ok: true,
  });
  if (!awsOnce) {
    rows.push({
      what: "lock + release vs `aws dynamodb put-item` + `delete-item`",
      measured: `SKIPPED: ${AWS} not found`,
      target: "<= 0.4",
      ok: "SKIPPED",
    });
    return;
  }
  const aws = total(theirs);
  rows.push({
    what: `\`aws dynamodb put-item\` + \`delete-item\` (2 processes), median of ${ROUND_TRIP_RUNS}`,
    measured: `${ms(aws)} (put ${ms(median(theirs.map((x) => x[0])))}, delete ${
      ms(median(theirs.map((x) => x[1])))
    })`,
    target: "-",
    ok: true,
  }, {
    what: "ratio daplaya lock + release / AWS CLI put + delete",
    measured: ratio(mine / aws),
    target: "<= 0.4",
    ok: mine / aws <= 0.4,
  });
}

async function requestCounts(rows: Row[], endpoint: string): Promise<void> {
  const proxy = await startFaultProxy(endpoint);
  try {
    const env = localEnv(proxy.url);
    const user = ["--user", "count@example.com"];
    const count = async (what: string, args: string[], code = 0) => {
      proxy.clear();
      const r = await timed(daplayaCommand(args, env));
      if (r.code !== code) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim()}`);
      return proxy.log.map((e) => e.operation);
    };
    const first = await count("first lock", ["lock", "--env", "bench-count", ...user]);
    await count("release", ["release", "--env", "bench-count", ...user]);
    const lock = await count("lock", ["lock", "--env", "bench-count", ...user]);
    const check = await count("check", ["check", "--env", "bench-count"], 3);
    const release = await count("release", ["release", "--env", "bench-count", ...user]);
    await count("policy set", ["policy", "set", "--env", "bench-count", "--max-ttl", "1h"]);
    const ruled = await count("lock", ["lock", "--env", "bench-count", ...user]);
    await count("release", ["release", "--env", "bench-count", ...user]);
    await count("policy set", ["policy", "set", "--env", "bench-count", "--clear"]);
    rows.push({
      what: "DynamoDB requests: the first `lock` of a new env (typo check)",
      measured: `${first.length} (${first.join(", ")})`,
      target: "<= 4",
      ok: first.length <= 4,
    }, {
      what: "DynamoDB requests: uncontended `lock`",
      measured: `${lock.length} (${lock.join(", ")})`,
      target: "= 1",
      ok: lock.length === 1,
    }, {
      what: "DynamoDB requests: `lock` on an env with a policy",
      measured: `${ruled.length} (${ruled.join(", ")})`,
      target: "= 2",
      ok: ruled.length === 2,
    }, {
      what: "DynamoDB requests: `check`",
      measured: `${check.length} (${check.join(", ")})`,
      target: "= 1",
      ok: check.length === 1,
    }, {
      what: "DynamoDB requests: `release`",
      measured: `${release.length} (${release.join(", ")})`,
      target: "<= 2",
      ok: release.length <= 2,
    });
  } finally {
    await proxy.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `get` every 25 ms until it returns a value; throws after `ms`. */
async function until<T>(what: string, get: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function line(rows: Row[], endpoint: string): Promise<void> {
  const env = "BENCH-LINE";
  const store = localStore(endpoint);
  const proxy = await startFaultProxy(endpoint);
  const waiters: Deno.ChildProcess[] = [];
  // The holders lock and release directly, so the proxy sees only the waiters.
  const direct = (...args: string[]) => daplayaCommand(args, localEnv(endpoint));
  try {
    let holder = "holder@example.com";
    check(await timed(direct("lock", "--env", env, "--user", holder, "--new-env")), "lock");
    for (let i = 1; i <= LINE_WAITERS; i++) {
      const user = `waiter-${String(i).padStart(2, "0")}@example.com`;
      const args = ["lock", "--env", env, "--user", user, "--interval", `${LINE_INTERVAL_MS}ms`];
      waiters.push(daplayaCommand(args, localEnv(proxy.url)).spawn());
    }
    const joined = await until("all waiters in line", async () => {
      const places = (await store.guard(env))?.line ?? [];
      return places.length === LINE_WAITERS ? places.map((p) => p.user) : undefined;
    });

    proxy.clear();
    const start = performance.now();
    await sleep(LINE_WINDOW_MS);
    const ops = proxy.log.map((e) => e.operation);
    const perInterval = ops.length / LINE_WAITERS /
      ((performance.now() - start) / LINE_INTERVAL_MS);
    const kinds = Object.entries(Object.groupBy(ops, (op) => op))
      .map(([op, xs]) => `${op} ${xs!.length}`).join(", ");

    const grants: string[] = [];
    const handoffs: number[] = [];
    for (let i = 0; i < LINE_WAITERS; i++) {
      // The waiters joined together, so they renew almost in step: releasing right after a grant
      // would meet every next waiter at the same point of its interval. A random pause spreads it.
      await sleep(Math.random() * LINE_INTERVAL_MS);
      let lastOld = performance.now();
      const release = timed(direct("release", "--env", env, "--user", holder));
      const next = await until(`a grant after ${holder}'s release`, async () => {
        const t = performance.now();
        const user = (await store.guard(env))?.regular?.user;
        if (user === holder) lastOld = t;
        return user !== undefined && user !== holder ? user : undefined;
      });
      handoffs.push(performance.now() - lastOld);
      check(await release, `release by ${holder}`);
      grants.push(holder = next);
    }
    check(await timed(direct("release", "--env", env, "--user", holder)), "last release");
    for (const out of await Promise.all(waiters.splice(0).map((c) => c.output()))) {
      if (out.code !== 0) {
        throw new Error(`a waiter exited ${out.code}: ${text.decode(out.stderr)}`);
      }
    }

    const what = `a line of ${LINE_WAITERS} waiters (\`lock --interval 1s\`)`;
    const max = Math.max(...handoffs);
    const inOrder = grants.join() === joined.join();
    rows.push({
      what: `${what}: DynamoDB requests per waiter per minute, over ${LINE_WINDOW_MS / 1000} s`,
      measured: `${(perInterval * 60_000 / LINE_INTERVAL_MS).toFixed(1)} (${kinds})`,
      target: "<= 66",
      ok: perInterval * 60_000 / LINE_INTERVAL_MS <= 66,
    }, {
      what: `${what}: DynamoDB requests per waiter per interval`,
      measured: perInterval.toFixed(2),
      target: "<= 1.1",
      ok: perInterval <= 1.1,
    }, {
      what: `${what}: handoff, release to the next grant, median of ${LINE_WAITERS}`,
      measured: ms(median(handoffs)),
      target: "-",
      ok: true,
    }, {
      what: `${what}: handoff, max of ${LINE_WAITERS}`,
      measured: ms(max),
      target: `<= ${LINE_INTERVAL_MS + 500} ms`,
      ok: max <= LINE_INTERVAL_MS + 500,
    }, {
      what: `${what}: grant order = join order`,
      measured: inOrder ? "same" : `joined ${joined.join(", ")}; granted ${grants.join(", ")}`,
      target: "same",
      ok: inOrder,
    });
  } finally {
    for (const c of waiters) {
      try {
        c.kill("SIGTERM"); // a stopped waiter leaves the line
      } catch { /* exited already */ }
    }
    await Promise.all(waiters.map((c) => c.output()));
    await proxy.close();
    store.close();
  }
}

function table(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.what,
    r.measured,
    r.target,
    r.ok === "SKIPPED" ? "SKIPPED" : r.ok ? "yes" : "**NO**",
  ]);
  return [
    "| what | measured | target | ok |",
    "| --- | --- | --- | --- |",
    ...cells.map((c) => `| ${c.map((x) => x.replaceAll("|", "\\|")).join(" | ")} |`),
  ].join("\n");
}

async function main(): Promise<number> {
  const rows: Row[] = [];
  console.error("bench: startup ...");
  await startup(rows);
  console.error("bench: starting DynamoDB Local ...");
  const ddb = await startDynamoLocal();
  try {
    check(await timed(daplayaCommand(["init"], localEnv(ddb.endpoint))), "daplaya init");
    console.error("bench: lock + release vs the AWS CLI ...");
    await roundTrip(rows, ddb.endpoint);
    console.error("bench: request counts ...");
    await requestCounts(rows, ddb.endpoint);
    console.error(`bench: a line of ${LINE_WAITERS} waiters ...`);
    await line(rows, ddb.endpoint);
  } finally {
    await ddb.stop();
  }
  console.log(table(rows));
  const missed = rows.filter((r) => r.ok === false);
  if (missed.length) {
    console.error(
      `bench: ${missed.length} target(s) missed: ${missed.map((r) => r.what).join("; ")}`,
    );
    return 1;
  }
  console.error("bench: all targets met");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
