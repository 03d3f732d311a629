/**
 * `daplaya doctor`: in-process for its lines, `--json` and exit codes; then as a real subprocess
 * against DynamoDB Local, with the faults it must name coming from the fault proxy
 * (scripts/dev/fault_proxy.ts), a port nobody listens on, `faketime` and an empty HOME.
 */
import assert from "node:assert/strict";
import { hasFaketime } from "../support/faketime.ts";
import { CreateTableCommand, DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { CliContext } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/program.ts";
import type { Check, DiagnoseOptions, StoreConfig } from "../../src/core/store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { type CliResult, daplaya, denoRun, outputOf, ROOT } from "../../scripts/dev/daplaya.ts";
import {
  localEnv,
  startDynamoLocal,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../../scripts/dev/dynamodb_local.ts";
import { type Fault, startFaultProxy } from "../../scripts/dev/fault_proxy.ts";

const INFO = { version: "9.8.7", target: "test-target", deno: "0.0.0" };
const NAMES = [
  "credentials",
  "region",
  "endpoint",
  "table",
  "history index",
  "active index",
  "read permissions",
  "write permissions",
  "clock",
];
const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";

/** A store whose diagnosis is given; records what doctor asked for. */
class DiagnosedStore extends MemoryStore {
  options: DiagnoseOptions | undefined;
  constructor(readonly checks: Check[]) {
    super();
  }
  override async *diagnose(options?: DiagnoseOptions): AsyncIterable<Check> {
    this.options = options;
    for (const c of this.checks) yield await Promise.resolve(c);
  }
}

async function inProcess(store: MemoryStore, args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const configs: StoreConfig[] = [];
  const clock = new ManualClock();
  const unused = () => {
    throw new Error("doctor starts nothing");
  };
  const ctx: CliContext = {
    env: (name) => env[name] || undefined,
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    openStore: (config) => {
      configs.push(config);
      return Promise.resolve(store);
    },
    clock,
    sleep: clock.sleep,
    git: () => Promise.resolve(undefined),
    hostname: () => "box",
    cwd: "/nonexistent",
    programExists: () => Promise.resolve(false),
    spawn: unused,
    onStopSignal: () => () => {},
    serve: unused,
  };
  const code = await runCli(args, ctx, INFO);
  return { code, stdout, stderr, configs };
}

Deno.test("doctor in-process: one line per check, --json, exit 1 only on a failure", async (t) => {
  const green: Check[] = [
    { name: "credentials", status: "ok", detail: "env AWS_ACCESS_KEY_ID: key AKIA…WXYZ" },
    { name: "clock", status: "warn", detail: "2h behind", fix: "synchronise it" },
  ];
  await t.step("all hold (a warning holds): exit 0, marks and fixes", async () => {
    const store = new DiagnosedStore(green);
    const r = await inProcess(store, ["doctor"], { AWS_REGION: "eu-west-1" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      "✓ credentials       env AWS_ACCESS_KEY_ID: key AKIA…WXYZ\n" +
        "! clock             2h behind: synchronise it\n",
    );
    // Short limits, and where the region came from.
    assert.deepEqual(r.configs, [{
      table: "DaPlayaLocks",
      region: "eu-west-1",
      connectTimeoutMs: 2000,
      requestTimeoutMs: 3000,
      maxAttempts: 2,
    }]);
    assert.deepEqual(store.options, { regionFrom: "AWS_REGION" });
  });

  await t.step("a failure: exit 1, one line on stderr; skipped lines marked -", async () => {
    const store = new DiagnosedStore([
      ...green,
      { name: "table", status: "fail", detail: "T not found", fix: "run 'daplaya init'" },
      { name: "read permissions", status: "skip", detail: "skipped: no table" },
    ]);
    const r = await inProcess(store, ["doctor", "--region", "us-east-1"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "daplaya: 1 of 4 checks failed: see the lines marked ✗\n");
    assert.match(
      r.stdout,
      /\n✗ table {13}T not found: run 'daplaya init'\n- read permissions {2}skipped: no table\n$/,
    );
    assert.deepEqual(store.options, { regionFrom: "--region" });

    const json = await inProcess(store, ["doctor", "--json"]);
    assert.equal(json.code, 1);
    assert.equal(json.stderr, 'daplaya: 1 of 4 checks failed: see the checks with "ok": false\n');
    assert.deepEqual(JSON.parse(json.stdout), {
      ok: false,
      checks: [
        {
          name: "credentials",
          ok: true,
          status: "ok",
          detail: "env AWS_ACCESS_KEY_ID: key AKIA…WXYZ",
        },
        { name: "clock", ok: true, status: "warn", detail: "2h behind", fix: "synchronise it" },
        {
          name: "table",
          ok: false,
          status: "fail",
          detail: "T not found",
          fix: "run 'daplaya init'",
        },
        { name: "read permissions", ok: false, status: "skip", detail: "skipped: no table" },
      ],
    });
  });

  await t.step("the in-memory store has nothing to check", async () => {
    const r = await inProcess(new MemoryStore(), ["doctor", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).ok, true);
  });
});

interface Line {
  mark: string;
  name: string;
  detail: string;
}

/** The checks of a text run: mark, name and the rest of the line. */
function linesOf(r: CliResult): Line[] {
  return r.stdout.trimEnd().split("\n").map((line) => {
    const m = line.match(/^(.) (.{17}) (.*)$/);
    assert.ok(m, `not a check line: ${JSON.stringify(line)}`);
    return { mark: m[1], name: m[2].trim(), detail: m[3] };
  });
}

/** The line of one check, which must be there once. */
function lineOf(r: CliResult, name: string): Line {
  const found = linesOf(r).filter((l) => l.name === name);
  assert.equal(found.length, 1, `${name} in ${r.stdout}`);
  return found[0];
}

function assertMarks(r: CliResult, marks: string) {
  const lines = linesOf(r);
  assert.deepEqual(lines.map((l) => l.name), NAMES, r.stdout);
  assert.equal(lines.map((l) => l.mark).join(""), marks, r.stdout);
}

/** A loopback port nobody listens on (a moment ago). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function timed(run: Promise<CliResult>): Promise<CliResult & { ms: number }> {
  const started = performance.now();
  const r = await run;
  return { ...r, ms: performance.now() - started };
}

Deno.test("doctor against DynamoDB Local", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const doctor = (...args: string[]) => daplaya(["doctor", ...args], env);
  const client = new DynamoDBClient({
    region: TEST_REGION,
    endpoint: ddb.endpoint,
    credentials: TEST_CREDENTIALS,
  });
  const emptyHome = await Deno.makeTempDir({ prefix: "daplaya-doctor-home-" });
  try {
    await t.step("no table: ✗ with run 'daplaya init', the rest skipped, exit 1", async () => {
      const r = await doctor();
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, "daplaya: 1 of 9 checks failed: see the lines marked ✗\n");
      assertMarks(r, "✓✓✓✗----✓");
      assert.equal(
        lineOf(r, "table").detail,
        `DaPlayaLocks not found at ${ddb.endpoint} (region us-east-1): run 'daplaya init'`,
      );
      assert.equal(lineOf(r, "read permissions").detail, "skipped: no table");
      assert.equal(lineOf(r, "credentials").detail, "env AWS_ACCESS_KEY_ID: key dapl…test");
      assert.equal(lineOf(r, "region").detail, "us-east-1 (from DAPLAYA_AWS_REGION)");
      assert.match(
        lineOf(r, "endpoint").detail,
        new RegExp(`^${ddb.endpoint} answered in \\d+ ms$`),
      );

      const json = await doctor("--json");
      assert.equal(json.code, 1);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.ok, false);
      assert.deepEqual(doc.checks.map((c: { name: string }) => c.name), NAMES);
      assert.deepEqual(doc.checks[3], {
        name: "table",
        ok: false,
        status: "fail",
        detail: `DaPlayaLocks not found at ${ddb.endpoint} (region us-east-1)`,
        fix: "run 'daplaya init'",
      });
    });

    await t.step("a table made by init: all ✓, exit 0, and nothing written", async () => {
      const init = await daplaya(["init"], env);
      assert.equal(init.code, 0, init.stderr);
      const r = await doctor();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assertMarks(r, "✓✓✓✓✓✓✓✓✓");
      assert.equal(
        lineOf(r, "table").detail,
        `DaPlayaLocks at ${ddb.endpoint} (region us-east-1): ACTIVE, key id (S), on-demand`,
      );
      assert.equal(
        lineOf(r, "history index").detail,
        "env-createdAt: env (S) + createdAt (N), all attributes, ACTIVE",
      );
      assert.equal(
        lineOf(r, "active index").detail,
        "activeEnv-createdAt: activeEnv (S) + createdAt (N), all attributes, ACTIVE",
      );
      assert.equal(
        lineOf(r, "read permissions").detail,
        "GetItem, Query on index env-createdAt, Query on index activeEnv-createdAt, Scan on index activeEnv-createdAt",
      );
      assert.match(
        lineOf(r, "write permissions").detail,
        /^PutItem, UpdateItem, ConditionCheckItem /,
      );
      assert.match(lineOf(r, "clock").detail, /^within 1s of DynamoDB's /);

      const json = await doctor("--json");
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.ok, true);
      for (const c of doc.checks) {
        assert.deepEqual(Object.keys(c), ["name", "ok", "status", "detail"], JSON.stringify(c));
        assert.equal(c.ok, true);
      }
      const items = await client.send(new ScanCommand({ TableName: "DaPlayaLocks" }));
      assert.equal(items.Count, 0, "the probes wrote nothing");
    });

    await t.step("a missing index, a key of another table: ✗ with what to do", async () => {
      await client.send(
        new CreateTableCommand({
          TableName: "NoActiveIndex",
          BillingMode: "PAY_PER_REQUEST",
          KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
          AttributeDefinitions: [
            { AttributeName: "id", AttributeType: "S" },
            { AttributeName: "env", AttributeType: "S" },
            { AttributeName: "createdAt", AttributeType: "N" },
          ],
          GlobalSecondaryIndexes: [{
            IndexName: "env-createdAt",
            KeySchema: [
              { AttributeName: "env", KeyType: "HASH" },
              { AttributeName: "createdAt", KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "ALL" },
          }],
        }),
      );
      const r = await doctor("--table", "NoActiveIndex");
      assert.equal(r.code, 1);
      assertMarks(r, "✓✓✓✓✓✗✓✓✓");
      const index = lineOf(r, "active index").detail;
      assert.match(
        index,
        /^activeEnv-createdAt is missing \(expected activeEnv \(S\) \+ createdAt \(N\), all attributes\): add it: aws dynamodb update-table --table-name NoActiveIndex /,
      );
      // The fix is a command that pastes: its index is the one init creates.
      const create = JSON.parse(index.match(/--global-secondary-index-updates '(.*)'$/)![1]);
      assert.deepEqual(create[0].Create.KeySchema, [
        { AttributeName: "activeEnv", KeyType: "HASH" },
        { AttributeName: "createdAt", KeyType: "RANGE" },
      ]);
      assert.equal(
        lineOf(r, "read permissions").detail,
        "GetItem, Query on index env-createdAt; not checked: Query on index activeEnv-createdAt, Scan on index activeEnv-createdAt (see the index above)",
      );

      await client.send(
        new CreateTableCommand({
          TableName: "WrongKey",
          BillingMode: "PAY_PER_REQUEST",
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        }),
      );
      const wrong = await doctor("--table", "WrongKey");
      assert.equal(wrong.code, 1);
      assertMarks(wrong, "✓✓✓✗✗✗--✓");
      assert.equal(
        lineOf(wrong, "table").detail,
        `WrongKey at ${ddb.endpoint} (region us-east-1) has key pk (S), not id (S): pick another --table, or delete this one and run 'daplaya init'`,
      );
      assert.equal(lineOf(wrong, "write permissions").detail, "skipped: not a daplaya table");
      assert.equal(wrong.stderr, "daplaya: 3 of 9 checks failed: see the lines marked ✗\n");
    });

    await t.step("a clock 2 hours behind: a warning, exit 0", async (t) => {
      if (!hasFaketime()) {
        console.warn("faketime is not installed: skipping the clock warning");
        return;
      }
      for (const [offset, words] of [["-2h", "2h behind"], ["+10m", "10m ahead of"]]) {
        await t.step(offset, async () => {
          const r = await outputOf(
            denoRun(`${ROOT}main.ts`, ["doctor"], { ...env, FAKETIME_DONT_FAKE_MONOTONIC: "1" }, {
              wrapper: ["faketime", "-f", offset],
            }),
          );
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stderr, "");
          assertMarks(r, "✓✓✓✓✓✓✓✓!");
          assert.equal(
            lineOf(r, "clock").detail,
            `${words} DynamoDB's (its Date header); leases and fences lean on it: synchronise it (chrony, systemd-timesyncd or ntpd)`,
          );
        });
      }
    });

    await t.step("an endpoint nobody listens on: ✗ at once, the rest skipped", async () => {
      const url = `http://127.0.0.1:${closedPort()}`;
      const r = await timed(doctor("--endpoint", url));
      assert.equal(r.code, 1);
      assertMarks(r, "✓✓✗------");
      assert.equal(
        lineOf(r, "endpoint").detail,
        `cannot reach ${url} (ECONNREFUSED): check --endpoint, --region and the network`,
      );
      assert.equal(lineOf(r, "clock").detail, "skipped: DynamoDB did not answer");
      assert.ok(r.ms < 6_000, `took ${Math.round(r.ms)} ms`);
    });

    await t.step("an endpoint that never answers: ✗ within seconds, not 20", async () => {
      const proxy = await startFaultProxy(ddb.endpoint);
      try {
        proxy.inject("*", { kind: "hang" }, { kind: "hang" }, { kind: "hang" });
        const r = await timed(daplaya(["doctor"], localEnv(proxy.url)));
        assert.equal(r.code, 1);
        assertMarks(r, "✓✓✗------");
        assert.match(lineOf(r, "endpoint").detail, new RegExp(`^cannot reach ${proxy.url} `));
        // Two attempts of 3 s each; loose, for a loaded 2-core machine.
        assert.ok(r.ms < 15_000, `took ${Math.round(r.ms)} ms`);

        // Answers, then stops answering: the probes after the silent one are not sent.
        proxy.clear();
        proxy.inject("GetItem", { kind: "hang" }, { kind: "hang" });
        const later = await timed(daplaya(["doctor"], localEnv(proxy.url)));
        assert.equal(later.code, 1);
        assertMarks(later, "✓✓✓✓✓✓✗✗✓");
        assert.equal(
          lineOf(later, "read permissions").detail,
          "no answer to GetItem, Query on index env-createdAt, Query on index activeEnv-createdAt, Scan on index activeEnv-createdAt on table DaPlayaLocks: check the network, and run 'daplaya doctor' again",
        );
        assert.deepEqual(
          proxy.log.filter((e) => e.operation !== "DescribeTable").map((e) => e.operation),
          ["GetItem", "GetItem"],
        );
        assert.ok(later.ms < 15_000, `took ${Math.round(later.ms)} ms`);
      } finally {
        await proxy.close();
      }
    });

    await t.step("access denied: the line names each missing action", async () => {
      const proxy = await startFaultProxy(ddb.endpoint);
      const denied = (action: string): Fault => ({
        kind: "error",
        status: 400,
        type: "AccessDeniedException",
        message:
          `User: arn:aws:iam::123456789012:user/ci is not authorized to perform: dynamodb:${action} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/DaPlayaLocks`,
      });
      try {
        const run = () => daplaya(["doctor"], localEnv(proxy.url));
        // The first write probed is the Put; the only Scan is on the active index.
        proxy.inject("TransactWriteItems", denied("PutItem"));
        proxy.inject("Scan", denied("Scan"));
        const r = await run();
        assert.equal(r.code, 1);
        assertMarks(r, "✓✓✓✓✓✓✗✗✓");
        assert.equal(
          lineOf(r, "read permissions").detail,
          "denied dynamodb:Scan on index activeEnv-createdAt on table DaPlayaLocks: grant it on the table and its indexes (see docs/iam.md)",
        );
        assert.equal(
          lineOf(r, "write permissions").detail,
          "denied dynamodb:PutItem on table DaPlayaLocks: grant it on the table and its indexes (see docs/iam.md)",
        );

        // Only init needs DescribeTable: without it the shape is unknown, the rest is checked.
        proxy.inject("DescribeTable", denied("DescribeTable"));
        const noDescribe = await run();
        assert.equal(noDescribe.code, 0, noDescribe.stderr);
        assertMarks(noDescribe, "✓✓✓!--✓✓✓");
        assert.match(lineOf(noDescribe, "table").detail, /dynamodb:DescribeTable is not allowed/);

        // Keys AWS does not know: the endpoint answered, the table cannot be looked at.
        proxy.inject("DescribeTable", {
          kind: "error",
          status: 400,
          type: "UnrecognizedClientException",
          message: "The security token included in the request is invalid.",
        });
        const unknown = await run();
        assert.equal(unknown.code, 1);
        // (The proxy's made-up answers carry no Date header, so the clock is not checked.)
        assertMarks(unknown, "✓✓✓✗-----");
        assert.equal(
          lineOf(unknown, "table").detail,
          "AWS rejected the credentials (UnrecognizedClientException): check AWS_PROFILE or the access keys",
        );
      } finally {
        await proxy.close();
      }
    });

    /** Nothing that gives credentials: no AWS_* keys, a HOME without ~/.aws. */
    const noCredentials = () => ({
      PATH,
      HOME: emptyHome,
      DAPLAYA_AWS_REGION: TEST_REGION,
      DAPLAYA_DYNAMODB_ENDPOINT: ddb.endpoint,
    });

    await t.step("no credentials: ✗ listing the sources tried, within seconds", async () => {
      const r = await timed(daplaya(["doctor"], noCredentials()));
      assert.equal(r.code, 1);
      // The endpoint and the clock are still checked (with keys DynamoDB would refuse).
      assertMarks(r, "✗✓✓-----✓");
      assert.equal(
        lineOf(r, "credentials").detail,
        "no AWS credentials found (tried: env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile default (keys, SSO, credential_process) in ~/.aws/config and ~/.aws/credentials, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), EC2 instance metadata): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile / AWS_PROFILE, or run with an instance or container role",
      );
      assert.equal(lineOf(r, "table").detail, "skipped: no credentials");
      assert.ok(r.ms < 6_000, `took ${Math.round(r.ms)} ms`);
    });

    await t.step("--profile nosuch: ✗ saying it does not exist", async () => {
      const r = await daplaya(["doctor", "--profile", "nosuch"], noCredentials());
      assert.equal(r.code, 1);
      assertMarks(r, "✗✓✓-----✓");
      assert.equal(
        lineOf(r, "credentials").detail,
        "AWS profile nosuch does not exist: it is in neither ~/.aws/config nor ~/.aws/credentials: check --profile and AWS_PROFILE, or create it with 'aws configure --profile nosuch'",
      );
    });
  } finally {
    client.destroy();
    await ddb.stop();
    await Deno.remove(emptyHome, { recursive: true });
  }
});
