/**
 * Everything the AWS SDK loads late is in the compiled binary, and each credential source works
 * under the binary's permission set.
 *
 * How the SDK loads its credential providers: @aws-sdk/credential-provider-node (the default
 * chain, loaded as CommonJS under Deno) `require()`s each provider package inside a function,
 * only when the chain reaches it: -env, -ini, -sso, -process, -web-identity, -http (container),
 * @smithy/credential-provider-imds (container/instance metadata); -ini in turn requires -login
 * and the STS client of @aws-sdk/nested-clients, -sso the SSO and SSO-OIDC clients (via
 * @aws-sdk/token-providers). None of these is in Deno's static module graph (`deno info` lists
 * only main.ts's own modules and the two npm roots), so no static import would change what is
 * embedded: `deno compile` embeds every npm package of the resolution whole (with
 * `nodeModulesDir: "auto"` the whole node_modules directory), and `require()` then resolves
 * inside the binary's file system as it does on disk. This test pins both facts:
 *
 * (a) `deno info` resolves each provider package as a dependency of the SDK;
 * (b) a real `deno compile -P=daplaya` (with the `deno` binary standing in as DENORT_BIN: no
 *     runtime can be downloaded here, and the result cannot run, but its embedded files and
 *     metadata are those of a release build) contains each provider's entry file whole, byte
 *     for byte, and the permission set of deno.json;
 * (c) the CLI, run as the binary would be (scripts/dev/daplaya.ts: `-P=daplaya`, a clean
 *     environment), gets its credentials from each source and reaches DynamoDB Local with them:
 *     web identity (CI with OIDC) and assume-role through a fake STS, credential_process,
 *     container credentials, instance metadata, and SSO through a fake portal. DynamoDB Local
 *     keeps one database per access key, and the table exists only under the keys each fake
 *     hands out, so `locks` exiting 0 proves those keys were used.
 *
 * Every fake listens on loopback; AWS_EC2_METADATA_DISABLED keeps the SDK off the real IMDS
 * address whenever instance metadata is not the source under test.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { compileArgs, TARGETS } from "../../scripts/compile.ts";
import { DynamoStore } from "../../src/store/dynamodb/store.ts";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { type DynamoLocal, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const REGION = "us-east-1";
const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
const dec = new TextDecoder();

/** Packages (and files in them) the SDK loads with a late `require()`. */
const LATE_LOADED: { pkg: string; files: string[] }[] = [
  { pkg: "@aws-sdk/credential-provider-env", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-ini", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-sso", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-process", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-web-identity", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-http", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/credential-provider-login", files: ["dist-cjs/index.js"] },
  { pkg: "@aws-sdk/token-providers", files: ["dist-cjs/index.js"] },
  { pkg: "@smithy/credential-provider-imds", files: ["dist-cjs/index.js"] },
  {
    pkg: "@aws-sdk/nested-clients",
    files: [
      "dist-cjs/submodules/sts/index.js",
      "dist-cjs/submodules/sso/index.js",
      "dist-cjs/submodules/sso-oidc/index.js",
      "dist-cjs/submodules/signin/index.js",
    ],
  },
];

interface NpmInfo {
  npmPackages: Record<string, { name: string; version: string; dependencies: string[] }>;
}

async function denoInfo(): Promise<NpmInfo> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `--config=${ROOT}deno.json`, `${ROOT}main.ts`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

/** Where a resolved package sits in node_modules (`nodeModulesDir: "auto"` layout). */
function packageDir(name: string, version: string): string {
  return join(
    ROOT,
    "node_modules/.deno",
    `${name.replace("/", "+")}@${version}`,
    "node_modules",
    name,
  );
}

function versionOf(info: NpmInfo, name: string): string {
  const found = Object.values(info.npmPackages).find((p) => p.name === name);
  assert.ok(found, `${name} is not in the npm resolution of main.ts`);
  return found.version;
}

/**
 * A file's bytes as a string, one character per byte: V8's string search is fast where a byte
 * search over the ~160 MB binary is not.
 */
async function bytesOf(path: string): Promise<string> {
  return Buffer.from(await Deno.readFile(path)).toString("latin1");
}

/** The permissions object of the binary's metadata (JSON), by balanced braces. */
function embeddedPermissions(bin: string): Record<string, unknown> {
  // Deno's metadata spells the permissions out starting with allow_env.
  const at = bin.indexOf(`"permissions":{"allow_env"`);
  assert.notEqual(at, -1, "no permissions in the binary's metadata");
  const start = at + `"permissions":`.length;
  let depth = 0;
  for (let i = start; i < bin.length; i++) {
    if (bin[i] === "{") depth++;
    else if (bin[i] === "}" && --depth === 0) return JSON.parse(bin.slice(start, i + 1));
  }
  throw new Error("unterminated permissions in the binary's metadata");
}

Deno.test("(a) deno info: every late-loaded provider package is in the resolution", async () => {
  const info = await denoInfo();
  const node = Object.values(info.npmPackages).find((p) =>
    p.name === "@aws-sdk/credential-provider-node"
  );
  assert.ok(node, "credential-provider-node is not resolved");
  const deps = node.dependencies.map((d) => d.replace(/@[^@]+$/, ""));
  for (
    const name of [
      "@aws-sdk/credential-provider-env",
      "@aws-sdk/credential-provider-http",
      "@aws-sdk/credential-provider-ini",
      "@aws-sdk/credential-provider-process",
      "@aws-sdk/credential-provider-sso",
      "@aws-sdk/credential-provider-web-identity",
      "@smithy/credential-provider-imds",
    ]
  ) assert.ok(deps.includes(name), `${name} is not a dependency of credential-provider-node`);
  for (const { pkg, files } of LATE_LOADED) {
    const dir = packageDir(pkg, versionOf(info, pkg));
    for (const file of files) await Deno.stat(join(dir, file));
  }
});

Deno.test({
  name: "(b) deno compile -P=daplaya embeds each late-loaded provider and the permission set",
  // The deno binary stands in for the runtime only on a host of one of the release targets.
  ignore: !(TARGETS as readonly string[]).includes(Deno.build.target) ||
    Deno.build.os === "windows",
  fn: async () => {
    const info = await denoInfo();
    const dir = await Deno.makeTempDir({ prefix: "daplaya-graph-" });
    try {
      const out = join(dir, "daplaya");
      const env = { ...Deno.env.toObject(), DENORT_BIN: Deno.execPath(), NO_COLOR: "1" };
      const proc = await new Deno.Command(Deno.execPath(), {
        args: await compileArgs(ROOT, out, "main.ts"),
        cwd: ROOT,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(proc.code, 0, dec.decode(proc.stderr));
      const bin = await bytesOf(out);

      for (const { pkg, files } of LATE_LOADED) {
        const pkgDir = packageDir(pkg, versionOf(info, pkg));
        for (const file of files) {
          const source = await bytesOf(join(pkgDir, file));
          assert.ok(source.length > 1000, `${pkg}/${file} is suspiciously short`);
          assert.notEqual(bin.indexOf(source), -1, `${pkg}/${file} is not embedded whole`);
        }
      }

      const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
      const set = config.permissions.daplaya;
      const perms = embeddedPermissions(bin);
      // An empty list means "all" in the metadata, null means "none".
      const allowed = (v: unknown) => (v === true ? [] : Array.isArray(v) ? v : null);
      for (const kind of ["net", "read", "env", "run", "sys", "write", "ffi"]) {
        assert.deepEqual(perms[`allow_${kind}`], allowed(set[kind]), `allow_${kind}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

interface FakeAws {
  url: string;
  calls: { method: string; path: string; body: string; headers: Headers }[];
  close(): Promise<void>;
}

/** Keys each fake source hands out; each is its own database in DynamoDB Local. */
const KEYS = {
  webIdentity: "WEBIDKEY",
  assumeRole: "ASSUMEKEY",
  process: "PROCKEY",
  container: "ECSKEY",
  imds: "IMDSKEY",
  sso: "SSOKEY",
} as const;

/** STS (query protocol), container credentials, IMDS and the SSO portal, on loopback. */
function startFakeAws(): FakeAws {
  const calls: FakeAws["calls"] = [];
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const { pathname } = new URL(req.url);
    const body = req.method === "POST" ? await req.text() : "";
    calls.push({ method: req.method, path: pathname, body, headers: req.headers });
    if (pathname.startsWith("/sts")) {
      const action = new URLSearchParams(body).get("Action");
      const key = action === "AssumeRoleWithWebIdentity" ? KEYS.webIdentity : KEYS.assumeRole;
      return new Response(
        `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result>` +
          `<Credentials><AccessKeyId>${key}</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>` +
          `<SessionToken>token</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
          `<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/ci/s</Arn>` +
          `<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></${action}Result>` +
          `<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></${action}Response>`,
        { headers: { "content-type": "text/xml" } },
      );
    }
    if (pathname === "/creds") {
      return Response.json({
        AccessKeyId: KEYS.container,
        SecretAccessKey: "secret",
        Token: "token",
        Expiration: expiration,
      });
    }
    if (pathname === "/latest/api/token" && req.method === "PUT") return new Response("imds");
    if (/\/security-credentials(-extended)?\/$/.test(pathname)) return new Response("role");
    if (/\/security-credentials(-extended)?\/role$/.test(pathname)) {
      return Response.json({
        Code: "Success",
        Type: "AWS-HMAC",
        AccessKeyId: KEYS.imds,
        SecretAccessKey: "secret",
        Token: "token",
        Expiration: expiration,
        LastUpdated: new Date().toISOString(),
      });
    }
    if (pathname === "/federation/credentials") {
      return Response.json({
        roleCredentials: {
          accessKeyId: KEYS.sso,
          secretAccessKey: "secret",
          sessionToken: "token",
          expiration: Date.now() + 3600_000,
        },
      });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    calls,
    close: () => server.shutdown(),
  };
}

/** A HOME whose ~/.aws holds the profiles, the process script and a cached SSO token. */
async function awsHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "daplaya-providers-" });
  const aws = join(home, ".aws");
  await Deno.mkdir(join(aws, "sso", "cache"), { recursive: true });
  const script = join(home, "credentials.sh");
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\necho '{"Version": 1, "AccessKeyId": "${KEYS.process}", "SecretAccessKey": "s"}'\n`,
  );
  await Deno.chmod(script, 0o755);
  const expiresAt = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
  const session = "daplaya-sso";
  await Deno.writeTextFile(
    join(aws, "sso", "cache", `${createHash("sha1").update(session).digest("hex")}.json`),
    JSON.stringify({
      accessToken: "cached-sso-token",
      expiresAt,
      region: REGION,
      startUrl: "https://example.awsapps.com/start",
    }),
  );
  await Deno.writeTextFile(
    join(aws, "config"),
    [
      "[profile process]",
      `credential_process = ${script}`,
      "",
      "[profile sso]",
      `sso_session = ${session}`,
      "sso_account_id = 123456789012",
      "sso_role_name = Deployer",
      "",
      `[sso-session ${session}]`,
      `sso_region = ${REGION}`,
      "sso_start_url = https://example.awsapps.com/start",
      "",
      "[profile assumed]",
      "role_arn = arn:aws:iam::123456789012:role/deployer",
      "source_profile = base",
      "",
      "[profile base]",
      "aws_access_key_id = BASEKEY",
      "aws_secret_access_key = BASESECRET",
      "",
    ].join("\n"),
  );
  return home;
}

Deno.test({
  name: "(c) each credential source works under -P=daplaya",
  // The credential_process script is a shell script.
  ignore: Deno.build.os === "windows",
}, async (t) => {
  let ddb: DynamoLocal | undefined;
  const fake = startFakeAws();
  const home = await awsHome();
  try {
    ddb = await startDynamoLocal();
    const endpoint = ddb.endpoint;
    // A table under each key a fake hands out, and nowhere else.
    await Promise.all(
      Object.values(KEYS).map(async (key) => {
        const store = new DynamoStore({
          table: "DaPlayaLocks",
          region: REGION,
          endpoint,
          credentials: { accessKeyId: key, secretAccessKey: "secret" },
        });
        try {
          assert.equal(await store.init(), true);
        } finally {
          store.close();
        }
      }),
    );

    /** `daplaya locks` with exactly these variables; it must exit 0 with no lock. */
    const locks = async (env: Record<string, string>) => {
      const r = await daplaya(["locks"], {
        PATH,
        HOME: home,
        DAPLAYA_AWS_REGION: REGION,
        DAPLAYA_DYNAMODB_ENDPOINT: endpoint,
        ...env,
      });
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, "No active locks\n");
    };
    const callsTo = (path: RegExp) => fake.calls.filter((c) => path.test(c.path));
    const noImds = { AWS_EC2_METADATA_DISABLED: "true" };

    await t.step("positive control: keys no source hands out see no table", async () => {
      const r = await daplaya(["locks"], {
        PATH,
        HOME: home,
        DAPLAYA_AWS_REGION: REGION,
        DAPLAYA_DYNAMODB_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: "NOBODY",
        AWS_SECRET_ACCESS_KEY: "secret",
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /table DaPlayaLocks not found/);
    });

    await t.step("web identity (CI with OIDC): AssumeRoleWithWebIdentity on STS", async () => {
      const tokenFile = join(home, "oidc-token");
      await Deno.writeTextFile(tokenFile, "header.payload.signature");
      await locks({
        ...noImds,
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/ci",
        AWS_ENDPOINT_URL_STS: `${fake.url}/sts`,
      });
      const sts = callsTo(/^\/sts/).map((c) => new URLSearchParams(c.body));
      assert.equal(sts.length, 1);
      assert.equal(sts[0].get("Action"), "AssumeRoleWithWebIdentity");
      assert.equal(sts[0].get("RoleArn"), "arn:aws:iam::123456789012:role/ci");
      assert.equal(sts[0].get("WebIdentityToken"), "header.payload.signature");
    });

    await t.step("a profile's role_arn + source_profile: AssumeRole on STS", async () => {
      await locks({
        ...noImds,
        AWS_PROFILE: "assumed",
        AWS_ENDPOINT_URL_STS: `${fake.url}/sts`,
      });
      const sts = callsTo(/^\/sts/).map((c) => new URLSearchParams(c.body));
      assert.equal(sts.at(-1)?.get("Action"), "AssumeRole");
      assert.equal(sts.at(-1)?.get("RoleArn"), "arn:aws:iam::123456789012:role/deployer");
    });

    await t.step("a profile's credential_process", async () => {
      await locks({ ...noImds, AWS_PROFILE: "process" });
    });

    await t.step("container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)", async () => {
      await locks({ ...noImds, AWS_CONTAINER_CREDENTIALS_FULL_URI: `${fake.url}/creds` });
      assert.equal(callsTo(/^\/creds$/).length, 1);
    });

    await t.step("instance metadata (IMDSv2)", async () => {
      await locks({ AWS_EC2_METADATA_SERVICE_ENDPOINT: fake.url });
      assert.ok(callsTo(/^\/latest\/api\/token$/).length >= 1);
      assert.ok(callsTo(/security-credentials(-extended)?\/role$/).length >= 1);
    });

    await t.step("SSO: the cached token, GetRoleCredentials on the portal", async () => {
      await locks({ ...noImds, AWS_PROFILE: "sso", AWS_ENDPOINT_URL_SSO: fake.url });
      const portal = callsTo(/^\/federation\/credentials$/);
      assert.equal(portal.length, 1);
      assert.equal(portal[0].headers.get("x-amz-sso_bearer_token"), "cached-sso-token");
    });
  } finally {
    await ddb?.stop();
    await fake.close();
    await Deno.remove(home, { recursive: true });
  }
});
