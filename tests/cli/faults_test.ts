/**
 * Faults between the real CLI and DynamoDB: every `daplaya` here is a subprocess whose requests
 * go through a fault-injecting proxy (scripts/dev/fault_proxy.ts) in front of DynamoDB Local.
 * The table is checked directly on DynamoDB Local, never through the proxy.
 *
 * Steps that measure time run first, alone; the rest run side by side with the soak, each with
 * its own proxy and env, so the file stays within about 90 s on two cores (soak: 60 s under CI,
 * 20 s otherwise).
 */
import assert from "node:assert/strict";
import {
  type AttributeValue,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { parseRecord } from "../../src/store/dynamodb/items.ts";
import type { LockRecord } from "../../src/core/model.ts";
import { knownEnvs } from "../support/envs.ts";
import { type CliResult, daplaya, daplayaCommand } from "../../scripts/dev/daplaya.ts";
import {
  localEnv,
  startDynamoLocal,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../../scripts/dev/dynamodb_local.ts";
import {
  type Fault,
  type FaultProxy,
  internalError,
  startFaultProxy,
  throttle,
  throttling,
  unavailable,
} from "../../scripts/dev/fault_proxy.ts";

type Item = Record<string, AttributeValue>;

const TABLE = "DaPlayaLocks";
const SOAK_MS = Deno.env.get("CI") ? 60_000 : 20_000;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exactly one line on stderr, a daplaya message, no stack trace. */
function oneLine(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^daplaya: /);
  assert.match(lines[0], pattern);
}

/** Polls until `fn` is true or the time is up (a bound for a hang, not a speed check). */
async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const transactions = (p: FaultProxy) => p.log.filter((e) => e.operation === "TransactWriteItems");
/** Every write: grants and releases (transactions) and changes to the line (UpdateItem). */
const writes = (p: FaultProxy) =>
  p.log.filter((e) => e.operation === "TransactWriteItems" || e.operation === "UpdateItem");

Deno.test("faults between the CLI and DynamoDB", async (t) => {
  const ddb = await startDynamoLocal();
  const direct = new DynamoDBClient({
    region: TEST_REGION,
    endpoint: ddb.endpoint,
    credentials: TEST_CREDENTIALS,
  });
  const proxies: FaultProxy[] = [];
  const proxy = async () => {
    const p = await startFaultProxy(ddb.endpoint);
    proxies.push(p);
    return p;
  };
  const dir = await Deno.makeTempDir();

  /** Every item of the table, read on DynamoDB Local directly. */
  async function scan(): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await direct.send(
        new ScanCommand({ TableName: TABLE, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
  /** The lock records of one env, oldest first. */
  async function records(env: string): Promise<LockRecord[]> {
    return (await scan()).flatMap((i) => parseRecord(i) ?? [])
      .filter((r) => r.env === env)
      .sort((a, b) => a.createdAt - b.createdAt);
  }
  const put = (item: Item) => direct.send(new PutItemCommand({ TableName: TABLE, Item: item }));

  // Concurrent steps must not use sanitizers (Deno runs such steps side by side).
  const step = (name: string, fn: (t: Deno.TestContext) => Promise<void>) =>
    t.step({ name, fn, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false });

  try {
    assert.equal((await daplaya(["init"], localEnv(ddb.endpoint))).code, 0);
    // The fault sequences below are those of a lock on a known env: one grant, no typo check.
    await knownEnvs(ddb.endpoint, ["lost", "conflict", "waiting"]);

    // --- Phase 1: steps that measure time, without the soak's load.
    await Promise.all([
      step(
        "lost answer to the acquiring and the releasing write: reported once, done once",
        async () => {
          const p = await proxy();
          const env = localEnv(p.url);
          p.inject("TransactWriteItems", { kind: "lostAnswer" });
          const lock = await daplaya(
            ["--json", "lock", "--env", "lost", "--user", "alice", "--no-wait"],
            env,
          );
          assert.equal(lock.code, 0, lock.stderr);
          assert.equal(lock.stderr, "");
          const granted = JSON.parse(lock.stdout);
          assert.equal(granted.acquired, true);
          assert.deepEqual(transactions(p).map((e) => e.fault), ["lostAnswer", "pass"]);
          const after = await records("LOST");
          assert.equal(after.length, 1);
          assert.equal(after[0].id, granted.lock.id);
          assert.equal(after[0].active, true);

          p.clear();
          p.inject("TransactWriteItems", { kind: "lostAnswer" });
          const release = await daplaya(
            ["--json", "release", "--env", "lost", "--user", "alice"],
            env,
          );
          assert.equal(release.code, 0, release.stderr);
          assert.equal(release.stderr, "");
          assert.deepEqual(JSON.parse(release.stdout).released.map((r: LockRecord) => r.id), [
            granted.lock.id,
          ]);
          assert.deepEqual(transactions(p).map((e) => e.fault), ["lostAnswer", "pass"]);
          const [record, ...more] = await records("LOST");
          assert.deepEqual(more, []);
          assert.equal(record.active, false);
          assert.equal(record.releasedBy, "alice");

          // The resend of a write whose answer was lost meets a transaction conflict; the
          // retry after it fails its condition on our own write: still our grant, our release.
          p.clear();
          const lostThenConflict: Fault[] = [{ kind: "lostAnswer" }, {
            kind: "transactionConflict",
          }];
          p.inject("TransactWriteItems", ...lostThenConflict);
          const again = await daplaya(
            ["lock", "--env", "lost", "--user", "alice", "--no-wait"],
            env,
          );
          assert.equal(again.code, 0, again.stderr);
          assert.equal(again.stdout, "Locked LOST for alice (CLI)\n");
          p.inject("TransactWriteItems", ...lostThenConflict);
          const end = await daplaya(["release", "--env", "lost", "--user", "alice"], env);
          assert.equal(end.code, 0, end.stderr);
          assert.match(end.stdout, /^Released LOST lock of alice /);
          assert.deepEqual(
            transactions(p).map((e) => e.fault),
            [
              "lostAnswer",
              "transactionConflict",
              "pass",
              "lostAnswer",
              "transactionConflict",
              "pass",
            ],
          );
          const history = await records("LOST");
          assert.equal(history.length, 2);
          assert.ok(history.every((r) => !r.active && r.releasedBy === "alice"));
        },
      ),

      step("lost answers to lease renewals inside run: the lock is kept", async () => {
        const p = await proxy();
        // The grant passes; the first two renewals are applied but their answers are lost.
        p.inject(
          "TransactWriteItems",
          { kind: "pass" },
          { kind: "lostAnswer" },
          { kind: "pass" },
          { kind: "lostAnswer" },
        );
        // The command runs until both renewals were resent, however long that takes on a loaded
        // machine; the lease (renewed every 5 s, given up 9.75 s after the last confirmed
        // renewal) leaves each renewal several seconds for its lost answer and resend.
        const done = `${dir}/renew.done`;
        let finished = false;
        const running = daplaya(
          [
            "run",
            "--env",
            "renew",
            "--user",
            "bob",
            "--ttl",
            "15s",
            "--",
            "sh",
            "-c",
            `while [ ! -e ${done} ]; do sleep 0.1; done`,
          ],
          localEnv(p.url),
        ).finally(() => {
          finished = true;
        });
        await until(
          () => finished || transactions(p).length >= 5,
          120_000,
          "two renewals, each resent",
        );
        await Deno.writeTextFile(done, "");
        const r = await running;
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /lost|failed/, r.stderr);
        assert.match(r.stderr, /daplaya: released env RENEW\n$/);
        const faults = transactions(p).map((e) => e.fault);
        assert.deepEqual(faults.slice(0, 4), ["pass", "lostAnswer", "pass", "lostAnswer"]);
        // grant, 2 renewals (each resent once), release
        assert.ok(faults.length >= 6, faults.join(" "));
        const [record, ...more] = await records("RENEW");
        assert.deepEqual(more, []);
        assert.equal(record.active, false);
        assert.equal(record.releasedBy, "bob");
      }),

      ...(["hang", "reset"] as const).map((kind) =>
        step(
          `DynamoDB gone (${kind}) during run: the command stops before the lease ends, exit 5`,
          async () => {
            const p = await proxy();
            const name = `gone-${kind}`;
            const termFile = `${dir}/${name}.term`;
            const child = daplayaCommand([
              "run",
              "--env",
              name,
              "--user",
              "carol",
              "--ttl",
              "20s",
              "--grace",
              "1s",
              "--",
              "sh",
              "-c",
              `trap 'date +%s%3N > ${termFile}; kill $!; exit 0' TERM; echo ready; sleep 60 & wait`,
            ], localEnv(p.url)).spawn();
            const reader = child.stdout.getReader();
            assert.equal(decode((await reader.read()).value!), "ready\n");
            reader.releaseLock();
            // The grant and one renewal (every ttl/3, about 6.7 s) went through: then DynamoDB
            // goes away. The holder must stop its command 3 s (grace 1s + ttl/10) before the
            // lease ends: a margin that holds on a loaded machine, unlike 1.6 s of a 6 s lease.
            await until(() => transactions(p).length >= 2, 60_000, "a renewal");
            p.setRandom(() => ({ kind }));
            const out = await child.output();
            const stderr = decode(out.stderr);
            assert.equal(out.code, 5, stderr);
            assert.match(
              stderr.trimEnd().split("\n").at(-1)!,
              new RegExp(
                `^daplaya: lost the lock on env ${name.toUpperCase()} while the command ran: the lease could not be renewed before it ran out$`,
              ),
            );
            assert.match(stderr, /stopping the command \(SIGTERM, SIGKILL after 1s\)/);
            assert.doesNotMatch(stderr, /^\s+at /m);
            const stoppedAt = Number(await Deno.readTextFile(termFile));
            const lastRenewal = transactions(p).filter((e) => e.fault === "pass").at(-1)!.time;
            const [record] = await records(name.toUpperCase());
            // Nobody can take the lock over before a whole lease after its last renewal.
            assert.ok(
              stoppedAt - lastRenewal < 20_000,
              `stopped ${stoppedAt - lastRenewal} ms after`,
            );
            assert.ok(stoppedAt < record.expiresAt!, "stopped after the recorded lease end");
            assert.equal(record.active, true, "left to expire: DynamoDB was unreachable");
          },
        )
      ),
    ]);

    // --- Phase 2: the soak, and beside it everything that does not measure time.
    await Promise.all([
      step(
        `soak: 5 processes, random faults on ~10% of requests, ${SOAK_MS / 1000}s`,
        () => soak(),
      ),

      step(
        "throttling and 5xx on every attempt: bounded retries, one line, nothing written",
        async () => {
          const cases: [string, Fault, RegExp][] = [
            ["throttle", throttle, /throttling .*ProvisionedThroughputExceededException/],
            ["throttling", throttling, /throttling .*ThrottlingException/],
            ["http500", internalError, /answered 500 \(InternalServerError\)/],
            ["http503", unavailable, /answered 503 \(ServiceUnavailable\)/],
          ];
          await Promise.all(cases.map(async ([name, fault, pattern]) => {
            const p = await proxy();
            p.setRandom(() => fault);
            const env = localEnv(p.url);
            // No --no-wait: a lock that never got an answer does not wait forever either.
            const lock = await daplaya(["lock", "--env", name, "--user", "u"], env);
            assert.equal(lock.code, 1, lock.stderr);
            oneLine(lock, pattern);
            // A 5xx does not say whether the write was applied, and the read-back meets the same
            // fault: the line says the lock may be held and how to check. A 4xx says it was not.
            assert.match(
              lock.stderr,
              fault.kind === "error" && fault.status >= 500
                ? new RegExp(
                  `may be held by u now: check with 'daplaya locks --env ${name.toUpperCase()}'\\n$`,
                )
                : /try again later\n$/,
            );
            // maxAttempts 4: the SDK's retries with backoff, then one failure.
            assert.equal(transactions(p).length, 4);
            const release = await daplaya(["release", "--env", name, "--user", "u"], env);
            assert.equal(release.code, 1, release.stderr);
            oneLine(release, pattern);
            const locks = await daplaya(["locks"], env);
            assert.equal(locks.code, 1, locks.stderr);
            oneLine(locks, pattern);
            const upper = name.toUpperCase();
            assert.deepEqual(
              (await scan()).filter((i) => i.env?.S === upper || i.id.S === `guard#${upper}`),
              [],
            );
          }));
        },
      ),

      step("a waiting lock treats throttling as 'try again at the next interval'", async () => {
        const p = await proxy();
        const env = localEnv(p.url);
        const holder = await daplaya(["lock", "--env", "waiting", "--user", "holder"], env);
        assert.equal(holder.code, 0, holder.stderr);
        const waiter = daplaya([
          "lock",
          "--env",
          "waiting",
          "--user",
          "waiter",
          "--timeout",
          "2m",
          "--interval",
          "1s",
        ], env);
        // The waiter's first attempt, then its place in line (an UpdateItem it renews).
        await until(() => writes(p).length >= 3, 60_000, "the waiter's place in line");
        p.setRandom((op) =>
          op === "TransactWriteItems" || op === "UpdateItem" ? throttle : { kind: "pass" }
        );
        // Two whole renewals of the waiter throttled (4 SDK attempts each).
        await until(
          () => writes(p).filter((e) => e.fault === "error").length >= 8,
          60_000,
          "throttled attempts",
        );
        p.setRandom(null);
        const release = await daplaya(["release", "--env", "waiting", "--user", "holder"], env);
        assert.equal(release.code, 0, release.stderr);
        const r = await waiter;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "Locked WAITING for waiter (CLI)\n");
        const lines = r.stderr.trimEnd().split("\n");
        const retries = lines.filter((l) => /throttling/.test(l));
        assert.ok(retries.length >= 2, r.stderr);
        for (const line of lines) {
          assert.match(
            line,
            /^(Still locked at env WAITING by holder \(you are #1 in line, |daplaya: DynamoDB is throttling requests to table DaPlayaLocks \(ProvisionedThroughputExceededException\), still after retries; trying again in 1s$)/,
          );
        }
        const active = (await records("WAITING")).filter((x) => x.active);
        assert.deepEqual(active.map((x) => x.user), ["waiter"]);
      }),

      step("transaction conflicts are retried, never reported as held", async () => {
        const p = await proxy();
        const env = localEnv(p.url);
        const conflict: Fault = { kind: "transactionConflict" };
        p.inject("TransactWriteItems", conflict, conflict, conflict);
        const lock = await daplaya(
          ["--json", "lock", "--env", "conflict", "--user", "u", "--no-wait"],
          env,
        );
        assert.equal(lock.code, 0, lock.stderr);
        assert.equal(lock.stderr, "");
        assert.deepEqual(
          transactions(p).map((e) => e.fault),
          ["transactionConflict", "transactionConflict", "transactionConflict", "pass"],
        );
        p.inject("TransactWriteItems", conflict, conflict);
        const release = await daplaya(["release", "--env", "conflict", "--user", "u"], env);
        assert.equal(release.code, 0, release.stderr);
        // Conflicts that never end: bounded, one line, still not "held".
        p.setRandom((op) => op === "TransactWriteItems" ? conflict : { kind: "pass" });
        const stuck = await daplaya(["lock", "--env", "conflict", "--user", "u"], env);
        p.setRandom(null);
        assert.equal(stuck.code, 1, stuck.stderr);
        oneLine(stuck, /kept reporting transaction conflicts on grant: try again later$/);
        const history = await records("CONFLICT");
        assert.equal(history.length, 1);
        assert.equal(history[0].active, false);
      }),

      step(
        "unreachable endpoint, DNS failure, hung server: exit 1, not a hang, one line",
        async () => {
          const hung = await proxy();
          hung.setRandom(() => ({ kind: "hang" }));
          const endpoints: [string, string][] = [
            // Port 9 (discard): nothing listens there, and being below the ephemeral range no
            // listen(port: 0) of a test beside us can take it, as it could a port just freed.
            ["closed port", "http://127.0.0.1:9"],
            ["DNS failure", "http://daplaya-nonexistent.invalid:8000"],
            ["hung server", hung.url],
          ];
          const commands = [
            ["lock", "--env", "x", "--user", "u"],
            ["lock", "--env", "x", "--user", "u", "--timeout", "10m"],
            ["locks"],
            ["release", "--env", "x", "--user", "u"],
            ["run", "--env", "x", "--user", "u", "--", "true"],
          ];
          await Promise.all(endpoints.flatMap(([what, url]) =>
            commands.map(async (args) => {
              const started = Date.now();
              const r = await daplaya(args, localEnv(url));
              const took = Date.now() - started;
              assert.equal(r.code, 1, `${what}, ${args[0]}: ${r.stderr}`);
              // A write sent to a server that never answers may have been applied: `lock` and
              // `run` read the guard back, and when that hangs too they say so. A refused
              // connection or an unknown host never reached DynamoDB.
              const maybe = what === "hung server" && (args[0] === "lock" || args[0] === "run");
              oneLine(
                r,
                maybe
                  ? /cannot reach .*; the lock on env X may be held by u now: check with 'daplaya locks --env X'$/
                  : /cannot reach .*: check --endpoint, --region and the network$/,
              );
              // About 20 s of request timeouts when quiet (40 s with the read-back); the bound
              // proves "gives up instead of hanging" with room for 15 of these processes on a
              // loaded 2-core machine.
              assert.ok(took < 180_000, `${what}, ${args.join(" ")}: ${took} ms`);
            })
          ));
        },
      ),

      step(
        "access denied and unknown credentials: exit 1, one line saying what to fix",
        async () => {
          const p = await proxy();
          const env = localEnv(p.url);
          p.inject("TransactWriteItems", {
            kind: "error",
            status: 400,
            type: "AccessDeniedException",
            message:
              "User: arn:aws:iam::123:user/x is not authorized to perform: dynamodb:TransactWriteItems on resource: arn:aws:dynamodb:us-east-1:123:table/DaPlayaLocks",
          });
          const denied = await daplaya(["lock", "--env", "denied", "--user", "u"], env);
          assert.equal(denied.code, 1, denied.stderr);
          oneLine(
            denied,
            /^daplaya: access denied: dynamodb:TransactWriteItems on table DaPlayaLocks/,
          );
          assert.match(denied.stderr, /grant it in the IAM policy\n$/);
          p.inject("Scan", { kind: "error", status: 400, type: "AccessDeniedException" });
          const list = await daplaya(["locks"], env);
          assert.equal(list.code, 1, list.stderr);
          oneLine(list, /access denied: dynamodb:Scan /);
          const unknown: Fault = {
            kind: "error",
            status: 400,
            type: "UnrecognizedClientException",
            message: "The security token included in the request is invalid.",
          };
          for (const args of [["lock", "--env", "denied", "--user", "u"], ["locks"]]) {
            p.inject("*", unknown);
            const r = await daplaya(args, env);
            assert.equal(r.code, 1, r.stderr);
            oneLine(r, /AWS rejected the credentials \(UnrecognizedClientException\): check/);
          }
          assert.deepEqual(await records("DENIED"), []);
        },
      ),

      step(
        "bad input at the edges: exit 2 changes nothing, Unicode and long values work",
        async () => {
          const p = await proxy();
          const env = localEnv(p.url);
          const cli = (...args: string[]) => daplaya(args, env);
          const emoji = "🔒".repeat(256);
          const meta = "é".repeat(1000) + "m".repeat(1048);
          const ok = await cli(
            "--json",
            "lock",
            "--env",
            "edge",
            "--user",
            emoji,
            "--meta",
            meta,
            "--no-wait",
          );
          assert.equal(ok.code, 0, ok.stderr);
          const [stored] = await records("EDGE");
          assert.deepEqual([stored.user, stored.meta], [emoji, meta]);
          assert.equal((await cli("release", "--env", "edge", "--user", emoji)).code, 0);

          // Env names differ only in case: one lock.
          assert.equal((await cli("lock", "--env", "Prod", "--user", "alice")).code, 0);
          const held = await cli("lock", "--env", "PROD", "--user", "bob", "--no-wait");
          assert.equal(held.code, 3);
          oneLine(held, /^daplaya: env PROD is held by alice /);
          // --timeout 0: a single attempt, no waiting.
          p.clear();
          const started = Date.now();
          const once = await cli("lock", "--env", "prod", "--user", "bob", "--timeout", "0");
          assert.equal(once.code, 3);
          oneLine(once, /^daplaya: env PROD is held by alice /);
          assert.equal(transactions(p).length, 1);
          // One request and no wait (the default is to wait indefinitely); not a speed check.
          assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);

          // Other steps write beside us: compare the items of the envs this step uses.
          const mine = async () =>
            (await scan()).filter((i) =>
              ["EDGE", "PROD"].some((e) => i.env?.S === e || i.id.S === `guard#${e}`)
            );
          const before = await mine();
          p.clear();
          const usage: [string[], RegExp][] = [
            [["lock", "--env", "edge", "--user", "🔒".repeat(257)], /at most 256 characters/],
            [["lock", "--env", "edge", "--user", "u", "--meta", "m".repeat(2049)], /at most 2048/],
            [["lock", "--env", "edge", "--user", "u", "--interval", "0"], /invalid --interval 0/],
            [["lock", "--env", "edge", "--user", "u", "--timeout", "9999999h"], /at most 366 days/],
            [["lock", "--env", "edge", "--user", "u", "--ttl", "9999999h"], /at most 366 days/],
            [["lock", "--env", "edge", "--user", "u", "--timeout", "-5s"], /invalid --timeout/],
            [["lock", "--env", "edge", "--user", "u", "--timeout=-1m"], /invalid --timeout/],
            [["lock", "--env", "edge", "--user", "u", "--interval", "-1s"], /invalid --interval/],
            [
              ["lock", "--env", "edge", "--user", "u", "--ttl", "1s"],
              /invalid --ttl 1s: at least 3s/,
            ],
            [["run", "--env", "edge", "--user", "u", "--ttl", "1s", "--", "true"], /at least 3s/],
            [["lock", "--env", "edge", "--user", "u", "--timeout", "1.5s"], /invalid --timeout/],
          ];
          for (const [args, pattern] of usage) {
            const r = await cli(...args);
            assert.equal(r.code, 2, `${args.join(" ").slice(0, 80)}: ${r.stderr}`);
            oneLine(r, pattern);
            assert.equal(r.stdout, "");
          }
          assert.deepEqual(p.log, [], "bad input sent no request at all");
          assert.deepEqual(await mine(), before);
        },
      ),

      step("items edited by hand into odd shapes: clear errors, no crash, no write", async () => {
        const p = await proxy();
        const env = localEnv(p.url);
        // DynamoDB itself refuses createdAt as a string: it is a key of both indexes.
        for (const where of [{ env: { S: "ODD" } }, {}] as Item[]) {
          await assert.rejects(
            put({ id: { S: "hand-created-string" }, createdAt: { S: "today" }, ...where }),
            /Type mismatch for Index Key/,
          );
        }
        const now = Date.now();
        const odd: Item[] = [
          // A guard whose slot is a string instead of a map.
          {
            id: { S: "guard#ODD" },
            regular: { S: "alice" },
            fence: { N: "5" },
            guardEnv: { S: "ODD" },
            itemType: { S: "guard" },
          },
          // An active record without a user.
          {
            id: { S: "hand-no-user" },
            env: { S: "ODD" },
            activeEnv: { S: "ODD" },
            createdAt: { N: String(now - 60_000) },
            updatedAt: { N: String(now - 60_000) },
            active: { BOOL: true },
            uberlock: { BOOL: false },
            meta: { S: "by hand" },
          },
          // A record with every other attribute of the wrong type.
          {
            id: { S: "hand-odd-types" },
            env: { S: "ODD" },
            createdAt: { N: String(now - 120_000) },
            user: { N: "42" },
            updatedAt: { S: "yesterday" },
            active: { S: "true" },
            uberlock: { N: "1" },
            meta: { M: { text: { S: "x" } } },
            fence: { S: "high" },
          },
        ];
        for (const item of odd) await put(item);
        const snapshot = async () =>
          JSON.stringify(
            (await scan()).filter((i) => i.id.S!.startsWith("hand-") || i.id.S === "guard#ODD")
              .sort((a, b) => a.id.S!.localeCompare(b.id.S!)),
          );
        const before = await snapshot();

        const list = await daplaya(["--json", "locks"], env);
        assert.equal(list.code, 0, list.stderr);
        const listed = JSON.parse(list.stdout).locks.filter((l: LockRecord) => l.env === "ODD");
        assert.deepEqual(listed.map((l: LockRecord) => [l.id, l.user]), [["hand-no-user", ""]]);
        const text = await daplaya(["locks", "--env", "odd"], env);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /\nODD +\(no user\) +lock +\S+ +- +by hand\n$/);
        for (
          const args of [["locks", "--env", "odd", "--history", "--verbose"], [
            "--json",
            "locks",
            "--env",
            "odd",
            "--history",
          ]]
        ) {
          const history = await daplaya(args, env);
          assert.equal(history.code, 0, history.stderr);
          assert.equal(history.stderr, "");
          assert.match(history.stdout, /hand-no-user/);
          assert.match(history.stdout, /hand-odd-types/);
        }
        const lock = await daplaya(["lock", "--env", "odd", "--user", "u", "--timeout", "5s"], env);
        assert.equal(lock.code, 1, lock.stderr);
        oneLine(lock, /the guard item of env ODD is not in the shape daplaya writes: inspect it/);
        for (const force of [[], ["--force"]]) {
          const release = await daplaya(["release", "--env", "odd", "--user", "u", ...force], env);
          assert.equal(release.code, 4, release.stderr);
          oneLine(release, /no active lock on env ODD: /);
        }
        assert.equal(await snapshot(), before, "nothing was written");
      }),
    ]);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    direct.destroy();
    await ddb.stop();
    await Deno.remove(dir, { recursive: true });
  }

  // ----- the soak -----

  interface Report {
    worker: string;
    op: "lock" | "release";
    code: number;
    start: number;
    end: number;
    lock?: LockRecord & { refreshed: boolean };
    released?: LockRecord[];
    stderr: string;
  }

  /**
   * 5 workers loop lock / hold / release on env SOAK for SOAK_MS while ~10% of requests fail.
   * Then, from the table: no two grants overlap, fences increase, every grant and release the
   * CLI reported is in the table as reported.
   */
  async function soak(): Promise<void> {
    const p = await proxy();
    const faults: Fault[] = [
      { kind: "lostAnswer" },
      { kind: "reset" },
      throttle,
      internalError,
      { kind: "transactionConflict" },
      { kind: "delay", ms: 150 },
    ];
    p.setRandom((op) => {
      if (Math.random() >= 0.1) return { kind: "pass" };
      const pool = op === "TransactWriteItems" ? faults : faults.slice(0, 4).concat(faults[5]);
      return pool[Math.floor(Math.random() * pool.length)];
    });
    const env = localEnv(p.url);
    const reports: Report[] = [];
    const started = Date.now();
    const deadline = started + SOAK_MS;
    // A loaded machine fits fewer rounds into SOAK_MS: past it the workers go on (closing: no
    // waits, no crashes) until the soak has its 3 grants, for at most 4 × SOAK_MS in all.
    const hardDeadline = started + 4 * SOAK_MS;
    const grants = () => reports.filter((r) => r.op === "lock" && r.code === 0).length;
    const going = () => Date.now() < deadline || (grants() < 3 && Date.now() < hardDeadline);
    const run = async (worker: string, op: Report["op"], args: string[]) => {
      const start = Date.now();
      const r = await daplaya(["--json", op, "--env", "soak", "--user", worker, ...args], env);
      const report: Report = { worker, op, code: r.code, start, end: Date.now(), stderr: r.stderr };
      if (r.code === 0 && op === "lock") {
        const doc = JSON.parse(r.stdout);
        report.lock = { ...doc.lock, refreshed: doc.refreshed };
      }
      if (r.code === 0 && op === "release") report.released = JSON.parse(r.stdout).released;
      reports.push(report);
      return report;
    };
    const worker = async (name: string) => {
      let mayHold = false;
      while (going()) {
        // Near the end no long waits or absences: the soak stops on time.
        const closing = deadline - Date.now() < 6000;
        const lease = Math.random() < 0.5 ? ["--ttl", "3s"] : [];
        const wait = closing || Math.random() < 0.5
          ? ["--no-wait"]
          : ["--timeout", lease.length ? "5s" : "2s", "--interval", "500ms"];
        const lock = await run(name, "lock", [...lease, ...wait]);
        if (lock.code === 0) {
          await sleep(50 + Math.random() * 200);
          // Now and then a holder with a lease "crashes": it never releases, and stays away
          // long enough for a waiter to take over.
          if (lease.length && !closing && Math.random() < 0.15) {
            await sleep(4000);
            continue;
          }
        }
        // A failed lock may still have been granted: release until we know.
        mayHold ||= lock.code === 0 || lock.code === 1;
        for (let i = 0; mayHold && i < 5; i++) {
          const release = await run(name, "release", []);
          if (release.code === 0 || release.code === 4) mayHold = false;
        }
        await sleep(Math.random() * 100);
      }
    };
    await Promise.all(["w1", "w2", "w3", "w4", "w5"].map(worker));
    p.setRandom(null);

    const items = await scan();
    const soakRecords = items.flatMap((i) => parseRecord(i) ?? []).filter((r) => r.env === "SOAK");
    const byId = new Map(soakRecords.map((r) => [r.id, r]));
    const locks = reports.filter((r) => r.op === "lock");
    const granted = locks.filter((r) => r.code === 0);
    const releases = reports.filter((r) => r.op === "release" && r.code === 0);
    const injected = p.log.filter((e) => e.fault !== "pass").length;
    const codes = (op: Report["op"]) =>
      reports.filter((r) => r.op === op).map((r) => r.code).sort().join("");
    console.log(
      `soak: ${granted.length} grants, ${releases.length} releases, ${soakRecords.length} ` +
        `records (${soakRecords.filter((r) => r.supersededBy).length} taken over), ` +
        `${injected}/${p.log.length} requests faulted; lock exits ${codes("lock")}; ` +
        `release exits ${codes("release")}`,
    );
    assert.ok(granted.length >= 3, "the soak made progress");
    assert.ok(injected >= 5, "faults were injected");
    for (const r of reports) {
      assert.ok([0, 1, 3, 4].includes(r.code), `${r.op} exit ${r.code}: ${r.stderr}`);
      for (const line of r.stderr.split("\n").filter(Boolean)) {
        assert.match(
          line,
          /^(daplaya: |Still locked at env SOAK by w\d \(you are #\d in line, |Still waiting at env SOAK: w\d is next \(you are #\d in line; )/,
          r.stderr,
        );
      }
      if (r.code !== 0) assert.doesNotMatch(r.stderr, /^\s+at /m);
    }

    // Every grant the CLI reported is in the table as reported. A re-lock by the holder (a
    // worker back from a "crash") gives the same lock a new, higher fence, also when that
    // re-lock's answer was lost: the table's fence is the last one, never a lower one.
    for (const { lock, worker } of granted) {
      const record = byId.get(lock!.id);
      assert.ok(record, `reported grant ${lock!.id} has its record`);
      assert.equal(record.user, worker);
      assert.ok(
        record.fence >= lock!.fence,
        `fence ${record.fence} of ${lock!.id} < ${lock!.fence}`,
      );
      assert.equal(record.createdAt, lock!.createdAt);
    }
    const lastReported = new Map<string, number>();
    for (const { lock } of granted) {
      const before = lastReported.get(lock!.id) ?? -Infinity;
      assert.ok(lock!.fence >= before, `re-lock of ${lock!.id}: fence ${lock!.fence} < ${before}`);
      lastReported.set(lock!.id, lock!.fence);
    }
    // Every release the CLI reported is released in the table.
    for (const { released, worker } of releases) {
      for (const r of released!) {
        const record = byId.get(r.id);
        assert.ok(record, `released ${r.id} has its record`);
        assert.equal(record.active, false, `reported released: ${r.id}`);
        assert.equal(record.releasedBy, worker);
      }
    }
    // Ended records say how they ended; at most one is active, and the guard names it.
    for (const r of soakRecords) {
      if (!r.active) {
        assert.ok(r.releasedAt !== undefined || r.supersededBy !== undefined, r.id);
      }
    }
    const active = soakRecords.filter((r) => r.active);
    assert.ok(active.length <= 1, `active at the end: ${active.map((r) => r.id)}`);
    const guard = items.find((i) => i.id.S === "guard#SOAK");
    assert.equal(guard?.regular?.M?.id?.S, active[0]?.id);

    // Fences strictly increase in createdAt order.
    const byCreation = soakRecords.toSorted((a, b) =>
      a.createdAt - b.createdAt || a.fence - b.fence
    );
    for (let i = 1; i < byCreation.length; i++) {
      assert.ok(
        byCreation[i].fence > byCreation[i - 1].fence,
        `fence ${byCreation[i].fence} (${byCreation[i].id}) after ${byCreation[i - 1].fence}`,
      );
    }

    // Never two holders at once. A record's createdAt is when its grant was *sent*: a grant
    // resent by the SDK (reset, throttle) is applied later with the same createdAt, so it may
    // lawfully precede the end of the lock it followed. Where the CLI reported the grant, the
    // lock was certainly held from that report on: the interval starts there.
    const confirmed = new Map<string, number>();
    for (const { lock, end } of granted) {
      if (!confirmed.has(lock!.id)) confirmed.set(lock!.id, end);
    }
    const intervals = soakRecords.map((r) => ({
      id: r.id,
      start: confirmed.get(r.id) ?? r.createdAt,
      end: r.active ? Infinity : r.releasedAt ?? r.updatedAt,
    })).sort((a, b) => a.start - b.start);
    for (let i = 1; i < intervals.length; i++) {
      const [a, b] = [intervals[i - 1], intervals[i]];
      assert.ok(
        a.end <= b.start,
        `${a.id} [${a.start}, ${a.end}] overlaps ${b.id} from ${b.start}`,
      );
    }
    const early = byCreation.filter((r, i) =>
      i > 0 && r.createdAt < (byCreation[i - 1].releasedAt ?? byCreation[i - 1].updatedAt)
    );
    console.log(`soak: ${early.length} grants sent before the previous lock ended`);
  }
});
