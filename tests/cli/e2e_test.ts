/** The CLI as a real subprocess against DynamoDB Local: stdout, stderr and exit codes. */
import assert from "node:assert/strict";
import { daplaya, installDaplaya } from "../../scripts/dev/daplaya.ts";
import { SEED_ATTRIBUTES } from "../support/seed.ts";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  localEnv,
  startDynamoLocal,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../../scripts/dev/dynamodb_local.ts";

Deno.test("CLI end to end against DynamoDB Local", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const run = (...args: string[]) => daplaya(args, env);
  try {
    await t.step("init creates the table, and again is a no-op", async () => {
      const first = await run("init");
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "Created table DaPlayaLocks\n");
      const again = await run("init");
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, "Table DaPlayaLocks already exists\n");
    });

    await t.step(
      "lock, then a second user waits with the seed's message and times out with 3",
      async () => {
        const lock = await run(
          "lock",
          "--env",
          "production",
          "--user",
          "alice@example.com",
          "--meta",
          "deploy #1",
        );
        assert.equal(lock.code, 0, lock.stderr);
        assert.equal(lock.stdout, "Locked PRODUCTION for alice@example.com (deploy #1)\n");
        const wait = await run(
          "lock",
          "--env",
          "PRODUCTION",
          "--user",
          "bob@example.com",
          // Two attempts before the timeout even when the first request of a fresh process is
          // slow on a loaded machine (with 2s, a slow first attempt could leave only one line).
          "--timeout",
          "5s",
          "--interval",
          "1s",
        );
        assert.equal(wait.code, 3);
        assert.equal(wait.stdout, "");
        const lines = wait.stderr.trimEnd().split("\n");
        assert.ok(lines.length >= 3, wait.stderr);
        for (const line of lines.slice(0, -1)) {
          assert.match(
            line,
            /^Still locked at env PRODUCTION by alice@example\.com \(you are #1 in line, held for \d+s; waited \d+s\)$/,
          );
        }
        assert.match(
          lines.at(-1)!,
          /^daplaya: env PRODUCTION is held by alice@example\.com .*gave up after waiting 5s$/,
        );
        const noWait = await run(
          "lock",
          "--env",
          "production",
          "--user",
          "bob@example.com",
          "--no-wait",
        );
        assert.equal(noWait.code, 3);
        assert.equal(noWait.stderr.split("\n").length, 2, noWait.stderr);
      },
    );

    await t.step("locks and --json show the record with the seed's attributes", async () => {
      const locks = await run("locks");
      assert.equal(locks.code, 0, locks.stderr);
      assert.match(
        locks.stdout,
        /^ENV +HOLDER +KIND +HELD FOR +LEASE +META\nPRODUCTION +alice@example\.com +lock +\d+s +- +deploy #1\n$/,
      );
      const json = await run("--json", "locks", "--env", "production");
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.locks.length, 1);
      for (const key of [...SEED_ATTRIBUTES, "fence"]) {
        assert.ok(key in doc.locks[0], key);
      }
      assert.equal(doc.locks[0].env, "PRODUCTION");
      assert.equal(doc.locks[0].active, true);
      const relock = await run(
        "lock",
        "--env",
        "production",
        "--user",
        "alice@example.com",
        "--json",
      );
      assert.equal(relock.code, 0, relock.stderr);
      const relocked = JSON.parse(relock.stdout);
      assert.equal(relocked.acquired, true);
      assert.equal(relocked.lock.id, doc.locks[0].id);
      assert.equal(relocked.lock.meta, "deploy #1");
    });

    await t.step(
      "release: 4 for a non-holder, 0 for the holder; history keeps the record",
      async () => {
        const notHeld = await run("release", "--env", "production", "--user", "bob@example.com");
        assert.equal(notHeld.code, 4);
        assert.match(
          notHeld.stderr,
          /^daplaya: bob@example\.com holds no active lock on env PRODUCTION: alice@example\.com holds a lock \(for \d+s\); to end it anyway: daplaya release --env PRODUCTION --force\n$/,
        );
        const released = await run(
          "release",
          "--env",
          "production",
          "--user",
          "alice@example.com",
          "--json",
        );
        assert.equal(released.code, 0, released.stderr);
        const doc = JSON.parse(released.stdout);
        assert.equal(doc.released.length, 1);
        assert.equal(doc.released[0].active, false);
        const none = await run("locks");
        assert.equal(none.stdout, "No active locks\n");
        const history = await run("locks", "--env", "production", "--history", "--json");
        const records = JSON.parse(history.stdout).locks;
        assert.equal(records.length, 1);
        assert.equal(records[0].releasedBy, "alice@example.com");
      },
    );

    await t.step(
      "check --id inside run: the script goes on under run's lock; after the run, exit 5",
      async () => {
        // The script calls `daplaya` by name, as a deploy script would.
        const bin = await Deno.makeTempDir({ prefix: "daplaya-bin-" });
        try {
          await installDaplaya(bin);
          const script =
            'daplaya check --env "$DAPLAYA_ENV" --id "$DAPLAYA_LOCK_ID" && echo migrated';
          const r = await daplaya(
            ["run", "--env", "migrate", "--user", "u", "--", "sh", "-c", script],
            { ...env, PATH: `${bin}:${env.PATH}` },
          );
          assert.equal(r.code, 0, r.stderr);
          const line =
            /^lock (\S+) holds env MIGRATE \(u, a lock, for \d+s, lease ends in [\dms]+\)\n/
              .exec(r.stdout);
          assert.ok(line, r.stdout);
          assert.equal(r.stdout.slice(line[0].length), "migrated\n");
          const id = line[1];
          const after = await run("check", "--env", "migrate", "--id", id);
          assert.deepEqual(
            [after.code, after.stdout, after.stderr],
            [5, "", `daplaya: lock ${id} no longer holds env MIGRATE: nobody holds it\n`],
          );
        } finally {
          await Deno.remove(bin, { recursive: true });
        }
      },
    );

    await t.step("bad input: exit 2, one line, nothing written", async () => {
      const before = (await run("--json", "locks", "--env", "STAGING", "--history")).stdout;
      const cases: string[][] = [
        ["lock", "--user", "u"],
        ["lock", "--env", "has space", "--user", "u"],
        ["lock", "--env", "bang!", "--user", "u"],
        ["lock", "--env", "x".repeat(65), "--user", "u"],
        ["lock", "--env", "staging", "--user", ""],
        ["lock", "--env", "staging", "--user", "u", "--meta", "m".repeat(2049)],
        ["lock", "--env", "staging", "--user", "u", "--meta", "line\nbreak"],
        ["lock", "--env", "staging", "--user", "tab\there"],
        ["lock", "--env", "staging", "--user", "u", "--timeout", "soon"],
        ["lock", "--env", "staging", "--user", "u", "--interval", "5 parsecs"],
        ["lock", "--env", "staging", "--user", "u", "--ttl", "-3m"],
        ["lock", "--env", "staging", "--user", "u", "--no-wait", "--timeout", "1m"],
        ["lock", "--env", "staging", "--user", "u", "--bogus"],
        ["lock", "--env"],
        ["frobnicate"],
        ["locks", "--limit", "0", "--history", "--env", "staging"],
        ["locks", "--history"],
        ["release", "--user", "u"],
        ["check", "--id", "x"],
        ["check", "--env", "staging", "--id", ""],
        ["lock", "--env", "producton", "--user", "u"],
        ["--endpoint", "not a url", "locks"],
      ];
      for (const args of cases) {
        const r = await run(...args);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdout, "", args.join(" "));
        assert.match(r.stderr, /^daplaya: [^\n]+\n$/, `${args.join(" ")}: ${r.stderr}`);
      }
      assert.equal((await run("--json", "locks", "--env", "STAGING", "--history")).stdout, before);
      assert.equal(
        (await run("--json", "locks")).stdout,
        '{\n  "locks": [],\n  "waiting": []\n}\n',
      );
    });

    await t.step("init refuses a table of that name with another key schema", async () => {
      const client = new DynamoDBClient({
        endpoint: ddb.endpoint,
        region: TEST_REGION,
        credentials: TEST_CREDENTIALS,
      });
      await client.send(
        new CreateTableCommand({
          TableName: "Other",
          BillingMode: "PAY_PER_REQUEST",
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        }),
      );
      client.destroy();
      const r = await run("init", "--table", "Other");
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^daplaya: table Other in us-east-1 exists but is not a daplaya table .*: pick another --table\n$/,
      );
    });

    await t.step("a missing table says to run init", async () => {
      const r = await run("locks", "--table", "Nope");
      assert.equal(r.code, 1);
      // With an endpoint set, the line names it: the table may exist at AWS itself.
      const notFound =
        `daplaya: table Nope not found at ${ddb.endpoint} (region us-east-1): run 'daplaya init'\n`;
      assert.equal(r.stderr, notFound);
      const lock = await run("lock", "--table", "Nope", "--env", "x", "--user", "u");
      assert.equal(lock.code, 1);
      assert.equal(lock.stderr, notFound);
    });

    await t.step("an endpoint nobody answers on fails with one line", async () => {
      const r = await run("locks", "--endpoint", "http://127.0.0.1:9");
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^daplaya: cannot reach http:\/\/127\.0\.0\.1:9 \([^)]*\): check --endpoint, --region and the network\n$/,
      );
    });

    await t.step("--help and --version", async () => {
      const help = await run("--help");
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: daplaya/);
      const version = await run("--version");
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^daplaya \d+\.\d+\.\d+ \(.+, deno .+\)\n$/);
    });
  } finally {
    await ddb.stop();
  }
});
