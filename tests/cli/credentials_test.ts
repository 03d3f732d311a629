/**
 * Where the CLI subprocess finds AWS credentials and the region: the AWS SDK's default chain
 * (profiles in ~/.aws), the seed's key names, and one clear line when either is missing.
 *
 * DynamoDB Local (started here without -sharedDb) keeps a separate database per access key
 * and region, so "the lock is visible" proves which keys and region the CLI really used, and
 * "table not found" with other keys proves it did not reach the table some other way.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { type DynamoLocal, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";

const REGION = "eu-west-1";
const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
/** The line for a table missing at DynamoDB Local: it names the endpoint, then the region. */
const notFound = (endpoint: string, region = REGION) =>
  `daplaya: table DaPlayaLocks not found at ${endpoint} (region ${region}): run 'daplaya init'\n`;
/** The sources the SDK's default chain tries, in its order, when no profile is named. */
const NO_CREDENTIALS = "daplaya: no AWS credentials found (tried: " +
  "env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " +
  "profile default (keys, SSO, credential_process) in ~/.aws/config and ~/.aws/credentials, " +
  "web identity (AWS_WEB_IDENTITY_TOKEN_FILE), EC2 instance metadata): " +
  "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile / AWS_PROFILE, " +
  "or run with an instance or container role\n";
const noProfile = (name: string, config = "~/.aws/config", credentials = "~/.aws/credentials") =>
  `daplaya: AWS profile ${name} does not exist: it is in neither ${config} nor ${credentials}: ` +
  `check --profile and AWS_PROFILE, or create it with 'aws configure --profile ${name}'\n`;

/** A HOME with ~/.aws/credentials and ~/.aws/config as `aws configure --profile` writes them. */
async function awsHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "daplaya-home-" });
  await Deno.mkdir(join(home, ".aws"));
  await Deno.writeTextFile(
    join(home, ".aws", "credentials"),
    [
      "[bar]",
      "aws_access_key_id = K1",
      "aws_secret_access_key = S1",
      "",
      "[baz]",
      "aws_access_key_id = K2",
      "aws_secret_access_key = S2",
      "",
      "[noregion]",
      "aws_access_key_id = K1",
      "aws_secret_access_key = S1",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    join(home, ".aws", "config"),
    [
      "[profile bar]",
      `region = ${REGION}`,
      "",
      "[profile baz]",
      `region = ${REGION}`,
      "",
      "[profile empty]",
      `region = ${REGION}`,
      "",
    ].join("\n"),
  );
  return home;
}

function assertOneLine(stderr: string, pattern: RegExp) {
  assert.match(stderr, /^daplaya: [^\n]+\n$/, stderr);
  assert.match(stderr, pattern, stderr);
}

/**
 * An EC2 instance metadata service that accepts connections and never answers, as the address
 * behaves on many hosts off EC2 (packets swallowed). Counts the connections.
 */
function silentMetadataService() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return conns.length;
    },
    async close() {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close();
    },
  };
}

Deno.test("CLI credentials and region: profiles, the seed's key names, clear failures", async (t) => {
  let ddb: DynamoLocal | undefined;
  const home = await awsHome();
  // No ~/.aws at all (Deno keeps its own cache under HOME; that is not an AWS file).
  const emptyHome = await Deno.makeTempDir({ prefix: "daplaya-empty-home-" });
  try {
    ddb = await startDynamoLocal();
    const endpoint = ddb.endpoint;
    const NOT_FOUND = notFound(endpoint);
    /** Exactly these variables and nothing inherited. */
    const run = (env: Record<string, string>, ...args: string[]) =>
      daplaya(args, { PATH, DAPLAYA_DYNAMODB_ENDPOINT: endpoint, ...env });
    const k1 = {
      HOME: emptyHome,
      AWS_ACCESS_KEY_ID: "K1",
      AWS_SECRET_ACCESS_KEY: "S1",
      DAPLAYA_AWS_REGION: REGION,
    };
    const k2 = { ...k1, AWS_ACCESS_KEY_ID: "K2", AWS_SECRET_ACCESS_KEY: "S2" };
    let lockId = "";

    /** `locks --json` sees exactly the lock taken with K1 in eu-west-1. */
    const assertSeesLock = async (env: Record<string, string>, ...args: string[]) => {
      const r = await run(env, "locks", "--json", ...args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      const locks = JSON.parse(r.stdout).locks;
      assert.equal(locks.length, 1, r.stdout);
      assert.equal(locks[0].id, lockId);
      assert.equal(locks[0].env, "PRODUCTION");
      assert.equal(locks[0].user, "alice@example.com");
    };

    await t.step("setup: init and lock with keys K1 in eu-west-1", async () => {
      const init = await run(k1, "init");
      assert.equal(init.code, 0, init.stderr);
      assert.equal(init.stdout, "Created table DaPlayaLocks\n");
      const lock = await run(
        k1,
        "lock",
        "--env",
        "production",
        "--user",
        "alice@example.com",
        "--json",
      );
      assert.equal(lock.code, 0, lock.stderr);
      lockId = JSON.parse(lock.stdout).lock.id;
      assert.match(lockId, /^[0-9a-f-]{36}$/);
    });

    await t.step("(a) AWS_PROFILE alone: keys and region come from ~/.aws", async () => {
      // Only PATH, HOME, AWS_PROFILE and the endpoint: no keys, no region variable.
      await assertSeesLock({ HOME: home, AWS_PROFILE: "bar" });
      const text = await run({ HOME: home, AWS_PROFILE: "bar" }, "locks", "--verbose");
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        new RegExp(`\nPRODUCTION +alice@example\\.com +lock .* ${lockId}\n$`),
      );
    });

    await t.step(
      "(a) it is really that profile: other keys in the same region see no table",
      async () => {
        const other = await run(k2, "locks");
        assert.equal(other.code, 1);
        assert.equal(other.stdout, "");
        assert.equal(other.stderr, NOT_FOUND);
        const lock = await run(k2, "lock", "--env", "production", "--user", "bob@example.com");
        assert.equal(lock.code, 1);
        assert.equal(lock.stderr, NOT_FOUND);
        // The region is part of it too: profile bar's keys, another region.
        const elsewhere = await run(
          { HOME: home, AWS_PROFILE: "bar" },
          "locks",
          "--region",
          "us-east-1",
        );
        assert.equal(elsewhere.code, 1);
        assert.equal(elsewhere.stderr, notFound(endpoint, "us-east-1"));
      },
    );

    await t.step("(a) --profile wins over AWS_PROFILE, before or after the command", async () => {
      await assertSeesLock({ HOME: home, AWS_PROFILE: "baz" }, "--profile", "bar");
      const r = await run(
        { HOME: home, AWS_PROFILE: "baz" },
        "--profile",
        "bar",
        "--json",
        "locks",
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).locks[0].id, lockId);
      const flipped = await run({ HOME: home, AWS_PROFILE: "bar" }, "locks", "--profile", "baz");
      assert.equal(flipped.code, 1);
      assert.equal(flipped.stderr, NOT_FOUND);
    });

    await t.step({
      name: "(a) a profile whose keys hold no table names the profile's actual region",
      fn: async () => {
        const r = await run({ HOME: home, AWS_PROFILE: "baz" }, "locks");
        assert.equal(r.code, 1);
        assert.equal(r.stderr, NOT_FOUND);
      },
    });

    await t.step({
      name: "(a) AWS_PROFILE plus AWS_ACCESS_KEY_ID: at most one line on stderr",
      fn: async () => {
        const r = await run({ ...k2, HOME: home, AWS_PROFILE: "bar" }, "locks", "--json");
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /^([^\n]*\n)?$/, r.stderr);
      },
    });

    await t.step("(b) the seed's AWS_ACCES_KEY_ID (sic) and AWS_SECRET_KEY", async () => {
      await assertSeesLock({
        HOME: emptyHome,
        AWS_ACCES_KEY_ID: "K1",
        AWS_SECRET_KEY: "S1",
        DAPLAYA_AWS_REGION: REGION,
      });
    });

    await t.step("(b) the older tools' AWS_ACCESS_KEY and AWS_SECRET_KEY", async () => {
      await assertSeesLock({
        HOME: emptyHome,
        AWS_ACCESS_KEY: "K1",
        AWS_SECRET_KEY: "S1",
        DAPLAYA_AWS_REGION: REGION,
      });
      // Mixed with the standard secret name.
      await assertSeesLock({
        HOME: emptyHome,
        AWS_ACCES_KEY_ID: "K1",
        AWS_SECRET_ACCESS_KEY: "S1",
        DAPLAYA_AWS_REGION: REGION,
      });
    });

    await t.step("(b) the standard names win over the seed's", async () => {
      const r = await run({ ...k2, AWS_ACCES_KEY_ID: "K1", AWS_SECRET_KEY: "S1" }, "locks");
      assert.equal(r.code, 1);
      assert.equal(r.stderr, NOT_FOUND);
    });

    await t.step("(c) no AWS variable and no ~/.aws: one line listing the sources", async () => {
      const started = performance.now();
      const r = await run({ HOME: emptyHome, DAPLAYA_AWS_REGION: REGION }, "locks");
      const elapsed = performance.now() - started;
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, NO_CREDENTIALS);
      // A loose bound that holds while a loaded 2-core machine starts the process; the probe of
      // instance metadata itself is bounded to about a second (next step).
      assert.ok(elapsed < 6_000, `took ${Math.round(elapsed)} ms`);
    });

    await t.step("(c) a metadata service that never answers is waited for briefly", async () => {
      const metadata = silentMetadataService();
      try {
        const started = performance.now();
        const r = await run(
          {
            HOME: emptyHome,
            DAPLAYA_AWS_REGION: REGION,
            AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url,
          },
          "locks",
        );
        const elapsed = performance.now() - started;
        assert.equal(r.code, 1);
        assert.equal(r.stderr, NO_CREDENTIALS);
        assert.ok(metadata.connections >= 1, "the SDK asked the metadata service");
        // Two requests of at most 0.5 s each (a token, then without one), never retried; the
        // SDK's own default is 1 s each. Loose, for the same reason as above.
        assert.ok(elapsed < 6_000, `took ${Math.round(elapsed)} ms`);
      } finally {
        await metadata.close();
      }
    });

    await t.step("(c) metadata turned off: said so, and a lock fails the same way", async () => {
      const off = {
        HOME: emptyHome,
        AWS_EC2_METADATA_DISABLED: "true",
        DAPLAYA_AWS_REGION: REGION,
      };
      const r = await run(off, "locks");
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        NO_CREDENTIALS.replace(
          "EC2 instance metadata",
          "EC2 instance metadata (off: AWS_EC2_METADATA_DISABLED)",
        ),
      );
      // A lock fails the same way, and writes nothing anyone could see.
      const lock = await run(off, "lock", "--env", "staging", "--user", "u");
      assert.equal(lock.code, 1);
      assert.equal(lock.stderr, r.stderr);
    });

    await t.step("(c) a profile without credentials: the line names it", async () => {
      const r = await run(
        { HOME: home, AWS_PROFILE: "empty", AWS_EC2_METADATA_DISABLED: "true" },
        "locks",
      );
      assert.equal(r.code, 1);
      assertOneLine(
        r.stderr,
        /^daplaya: no AWS credentials found \(tried: profile empty \(keys, SSO, credential_process\) in ~\/\.aws\/config and ~\/\.aws\/credentials, .*\): give profile empty credentials /,
      );
    });

    await t.step(
      "(e) a profile that does not exist is said so, wherever it was named",
      async () => {
        for (
          const [env, args] of [
            [{ HOME: home }, ["--profile", "nosuch"]],
            [{ HOME: home, AWS_PROFILE: "nosuch" }, []],
            // Not "no region", though the profile would have been where the region is.
            [{ HOME: emptyHome, AWS_PROFILE: "nosuch" }, []],
            // Not a warning about AWS_PROFILE and the keys both set.
            [{ ...k1, HOME: home }, ["--profile", "nosuch"]],
          ] as [Record<string, string>, string[]][]
        ) {
          const started = performance.now();
          const r = await run(env, "locks", ...args);
          const elapsed = performance.now() - started;
          assert.equal(r.code, 1, JSON.stringify(env));
          assert.equal(r.stdout, "");
          assert.equal(r.stderr, noProfile("nosuch"), JSON.stringify(env));
          assert.ok(elapsed < 6_000, `took ${Math.round(elapsed)} ms`);
        }
      },
    );

    await t.step(
      "(e) AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are where it looks",
      async () => {
        const files = {
          HOME: emptyHome,
          AWS_CONFIG_FILE: join(home, ".aws", "config"),
          AWS_SHARED_CREDENTIALS_FILE: join(home, ".aws", "credentials"),
        };
        await assertSeesLock({ ...files, AWS_PROFILE: "bar" });
        const r = await run({ ...files, AWS_PROFILE: "nosuch" }, "locks");
        assert.equal(r.code, 1);
        assert.equal(
          r.stderr,
          noProfile("nosuch", files.AWS_CONFIG_FILE, files.AWS_SHARED_CREDENTIALS_FILE),
        );
      },
    );

    await t.step("(c) only half a key pair is no credentials either", async () => {
      const r = await run(
        {
          HOME: emptyHome,
          AWS_EC2_METADATA_DISABLED: "true",
          AWS_ACCES_KEY_ID: "K1",
          DAPLAYA_AWS_REGION: REGION,
        },
        "locks",
      );
      assert.equal(r.code, 1);
      assertOneLine(r.stderr, /credentials/i);
    });

    await t.step(
      "(d) no region anywhere: one line naming --region and DAPLAYA_AWS_REGION",
      async () => {
        const started = performance.now();
        const r = await run(
          { HOME: emptyHome, AWS_ACCESS_KEY_ID: "K1", AWS_SECRET_ACCESS_KEY: "S1" },
          "locks",
        );
        const elapsed = performance.now() - started;
        assert.equal(r.code, 1);
        assert.equal(r.stdout, "");
        assertOneLine(r.stderr, /--region.*DAPLAYA_AWS_REGION/);
        assert.ok(elapsed < 20_000, `took ${Math.round(elapsed)} ms`); // as in (c)
        // A profile without a region in ~/.aws/config is the same.
        const profile = await run({ HOME: home, AWS_PROFILE: "noregion" }, "locks");
        assert.equal(profile.code, 1);
        assertOneLine(profile.stderr, /--region.*DAPLAYA_AWS_REGION/);
        // And AWS_REGION is enough.
        await assertSeesLock({
          HOME: emptyHome,
          AWS_ACCESS_KEY_ID: "K1",
          AWS_SECRET_ACCESS_KEY: "S1",
          AWS_REGION: REGION,
        });
      },
    );

    await t.step("nothing above changed the lock", async () => {
      await assertSeesLock(k1);
    });
  } finally {
    await ddb?.stop();
    await Deno.remove(home, { recursive: true });
    await Deno.remove(emptyHome, { recursive: true });
  }
});
