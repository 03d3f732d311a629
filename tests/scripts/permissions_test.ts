/**
 * The permission set `daplaya` in deno.json: it is the one list that `deno task daplaya`, the
 * compiled binary (scripts/compile.ts: `deno compile -P=daplaya`) and every end-to-end test
 * (scripts/dev/daplaya.ts) use, it is what docs/permissions.md says, and it is the narrowest that
 * works: each `sys` kind in it is needed on some path, and `env` cannot be a list.
 *
 * The runs with a narrower set than deno.json's use explicit `--allow-*` flags; everything else
 * goes through scripts/dev/daplaya.ts, as the binary would run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { type DynamoLocal, localEnv, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const dec = new TextDecoder();

/** The set, and why (docs/permissions.md says the same in words). */
const EXPECTED = {
  // DynamoDB, STS, SSO, IMDS and container endpoints, Slack: all configurable hosts and ports.
  net: true,
  // ~/.aws (HOME known only at run time) and any AWS_*_FILE path; Deno.cwd() needs it too.
  read: true,
  // node:child_process (credential_process) passes the whole environment on: Deno.env.toObject().
  env: true,
  // `daplaya run` starts any command; git for the user; credential_process.
  run: true,
  // osRelease: the SDK's user agent; homedir + uid: os.homedir() when HOME is unset;
  // hostname: the $USER@hostname default user.
  sys: ["osRelease", "homedir", "uid", "hostname"],
};

Deno.test("one permission set: deno.json, deno task daplaya, deno compile, the e2e tests", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.deepEqual(Object.keys(config.permissions), ["daplaya"]);
  assert.deepEqual(config.permissions.daplaya, EXPECTED);
  // No write, ffi or import beyond the defaults: the CLI writes no file.
  for (const kind of ["write", "ffi", "import", "all"]) {
    assert.equal(config.permissions.daplaya[kind], undefined, kind);
  }

  assert.match(config.tasks.daplaya, /^deno run -q --no-prompt -P=daplaya main\.ts$/);
  const compile = await Deno.readTextFile(join(ROOT, "scripts", "compile.ts"));
  assert.match(compile, /"compile",\s+"-P=daplaya",/);
  const cli = await Deno.readTextFile(join(ROOT, "scripts", "dev", "daplaya.ts"));
  assert.match(cli, /"-P=daplaya"/);
  for (const [name, text] of [["compile.ts", compile], ["cli.ts", cli]]) {
    assert.doesNotMatch(text, /"--allow-|"-A"/, `${name} adds permissions of its own`);
  }

  const doc = await Deno.readTextFile(join(ROOT, "docs", "permissions.md"));
  for (const kind of EXPECTED.sys) assert.match(doc, new RegExp(`\\b${kind}\\b`), kind);
});

/** main.ts under explicit flags instead of -P=daplaya, with exactly these variables. */
async function withFlags(
  flags: string[],
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--no-prompt",
      `--config=${ROOT}deno.json`,
      ...flags,
      `${ROOT}main.ts`,
      ...args,
    ],
    env,
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** deno.json's set as flags, with `sys` and `env` replaced. */
function flags(sys: string[], env = "--allow-env"): string[] {
  return ["--allow-net", "--allow-read", "--allow-run", env, `--allow-sys=${sys.join(",")}`];
}

Deno.test("the set works end to end, and nothing in it can be narrower", async (t) => {
  let ddb: DynamoLocal | undefined;
  const scratch = await Deno.makeTempDir({ prefix: "daplaya-perms-" });
  try {
    ddb = await startDynamoLocal();
    const env = localEnv(ddb.endpoint, { HOME: scratch });
    const init = await daplaya(["init"], env);
    assert.equal(init.code, 0, init.stderr);
    const { HOME: _home, ...noHome } = env;

    await t.step("--version and --help need no variable at all", async () => {
      for (const args of [["--version"], ["--help"], ["lock", "--help"]]) {
        const r = await daplaya(args, {});
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
      }
    });

    await t.step("run: the command gets the whole environment, listed or not", async () => {
      const r = await daplaya(
        [
          "run",
          "--env",
          "perms",
          "--user",
          "u@example.com",
          "--",
          "sh",
          "-c",
          'echo "$SOME_UNLISTED_VAR $DAPLAYA_ENV"',
        ],
        { ...env, SOME_UNLISTED_VAR: "inherited" },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "inherited PERMS\n");
    });

    await t.step("run permission: git gives the user when --user is not given", async () => {
      const repo = join(scratch, "repo");
      await Deno.mkdir(repo);
      const git = (...args: string[]) =>
        new Deno.Command("git", {
          args,
          cwd: repo,
          env: {
            GIT_AUTHOR_NAME: "CI",
            GIT_AUTHOR_EMAIL: "ci@example.com",
            GIT_COMMITTER_NAME: "CI",
            GIT_COMMITTER_EMAIL: "ci@example.com",
          },
          stdout: "null",
          stderr: "piped",
        }).output();
      try {
        await git("init", "-q");
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return; // no git on this host
        throw e;
      }
      const commit = await git("commit", "-q", "--allow-empty", "-m", "x");
      assert.equal(commit.code, 0, dec.decode(commit.stderr));
      const r = await daplaya(
        ["lock", "--env", "git-user", "--json"],
        { ...env, CI: "true" },
        repo,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).lock.user, "ci@example.com");
    });

    await t.step("sys hostname: the $USER@hostname default user", async () => {
      // No git config anywhere (HOME is empty, no system config), not in a repository.
      const bare = { ...env, HOME: scratch, GIT_CONFIG_NOSYSTEM: "1", USER: "ann" };
      const args = ["lock", "--env", "host-user", "--json"];
      const r = await daplaya(args, bare, scratch);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).lock.user, `ann@${Deno.hostname()}`);
      const narrower = await withFlags(
        flags(EXPECTED.sys.filter((k) => k !== "hostname")),
        args,
        bare,
        scratch,
      );
      assert.equal(narrower.code, 1, "works without sys hostname");
      assert.match(narrower.stderr, /Requires sys access to "hostname"/);
    });

    await t.step("sys homedir and uid: no HOME, the SDK asks the OS for it", async () => {
      const r = await daplaya(["locks"], noHome);
      assert.equal(r.code, 0, r.stderr);
      for (const missing of ["homedir", "uid"]) {
        const narrower = await withFlags(
          flags(EXPECTED.sys.filter((k) => k !== missing)),
          ["locks"],
          noHome,
        );
        assert.equal(narrower.code, 1, `works without sys ${missing}`);
        assert.match(narrower.stderr, new RegExp(`Requires sys access to "${missing}"`));
      }
    });

    await t.step("sys osRelease: every AWS request (the SDK's user agent)", async () => {
      const narrower = await withFlags(
        flags(EXPECTED.sys.filter((k) => k !== "osRelease")),
        ["locks"],
        env,
      );
      assert.equal(narrower.code, 1, "works without sys osRelease");
      assert.match(narrower.stderr, /Requires sys access to "osRelease"/);
      // And the set as flags behaves like -P=daplaya: the control for the runs above.
      const same = await withFlags(flags(EXPECTED.sys), ["locks"], env);
      assert.equal(same.code, 0, same.stderr);
    });

    await t.step("env stays whole: credential_process fails under any list", async () => {
      const script = join(scratch, "credentials.sh");
      await Deno.writeTextFile(
        script,
        `#!/bin/sh\necho '{"Version": 1, "AccessKeyId": "daplayatest", "SecretAccessKey": "daplayatest"}'\n`,
      );
      await Deno.chmod(script, 0o755);
      await Deno.mkdir(join(scratch, ".aws"));
      await Deno.writeTextFile(
        join(scratch, ".aws", "config"),
        `[profile proc]\ncredential_process = ${script}\n`,
      );
      const { AWS_ACCESS_KEY_ID: _k, AWS_SECRET_ACCESS_KEY: _s, ...noKeys } = env;
      const profile = { ...noKeys, AWS_PROFILE: "proc", AWS_EC2_METADATA_DISABLED: "true" };
      const r = await daplaya(["locks"], profile);
      assert.equal(r.code, 0, r.stderr);
      // Every variable daplaya and the SDK read, by name or prefix: still not enough, because
      // node:child_process copies the whole environment into the credential process.
      const list = "--allow-env=AWS_*,DAPLAYA_*,HOME,USERPROFILE,HOMEPATH,HOMEDRIVE," +
        "_X_AMZN_TRACE_ID,GITHUB_*,BITBUCKET_*,CI_JOB_URL,CIRCLE_BUILD_URL," +
        "BUILDKITE_BUILD_URL,BUILD_URL,NO_COLOR,FORCE_COLOR,CLICOLOR_FORCE";
      const listed = await withFlags(flags(EXPECTED.sys, list), ["locks"], profile);
      assert.equal(listed.code, 1, "credential_process works with a list of variables");
      assert.match(listed.stderr, /no AWS credentials found/);
      // The same list is enough where no child process of the SDK is involved.
      const keys = await withFlags(flags(EXPECTED.sys, list), ["locks"], env);
      assert.equal(keys.code, 0, keys.stderr);
    });
  } finally {
    await ddb?.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});
