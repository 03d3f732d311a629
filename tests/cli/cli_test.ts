/**
 * The CLI in-process: `runCli` with a fake context on the in-memory store and a manual clock,
 * so waiting, defaults and every usage error are checked quickly and deterministically.
 */
import assert from "node:assert/strict";
import { doc, harness, ok, type RunOptions } from "../support/cli.ts";
import { SEED_ATTRIBUTES } from "../support/seed.ts";
import { placeOf } from "../support/place.ts";

function assertLockObject(lock: Record<string, unknown>) {
  for (const key of [...SEED_ATTRIBUTES, "fence"]) assert.ok(key in lock, `${key} missing`);
  assert.match(
    lock.id as string,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  for (const key of ["user", "env", "meta"]) assert.equal(typeof lock[key], "string", key);
  for (const key of ["createdAt", "updatedAt", "fence"]) {
    assert.equal(typeof lock[key], "number", key);
  }
  for (const key of ["active", "uberlock"]) assert.equal(typeof lock[key], "boolean", key);
}

const lockArgs = (env: string, user: string, ...more: string[]) => [
  "lock",
  "--env",
  env,
  "--user",
  user,
  ...more,
];

Deno.test("CLI in-process: bad input exits 2 with one line and never opens the store", async () => {
  const h = harness();
  const cases: string[][] = [
    ["lock", "--user", "u"],
    lockArgs("has space", "u"),
    lockArgs("bang!", "u"),
    lockArgs("x".repeat(65), "u"),
    lockArgs("", "u"),
    ["lock", "--env"],
    lockArgs("staging", ""),
    lockArgs("staging", "u".repeat(257)),
    lockArgs("staging", "u", "--meta", "m".repeat(2049)),
    lockArgs("staging", "u", "--meta", "line\nbreak"),
    lockArgs("staging", "u", "--meta", "bell\u0007"),
    lockArgs("staging", "tab\there"),
    lockArgs("staging", "del\u007f"),
    lockArgs("staging", "u", "--timeout", "soon"),
    lockArgs("staging", "u", "--interval", "5 parsecs"),
    lockArgs("staging", "u", "--ttl", "1y"),
    lockArgs("staging", "u", "--timeout", "-5s"),
    lockArgs("staging", "u", "--interval", "-1s"),
    lockArgs("staging", "u", "--ttl", "-3m"),
    lockArgs("staging", "u", "--interval", "100ms"),
    lockArgs("staging", "u", "--ttl", "1s"),
    lockArgs("staging", "u", "--ttl", "366d"),
    lockArgs("staging", "u", "--ttl", "8d"),
    lockArgs("staging", "u", "--interval", "2h"),
    ["run", "--env", "staging", "--user", "u", "--ttl", "366d", "--", "true"],
    lockArgs("staging", "u", "--no-wait", "--timeout", "1m"),
    lockArgs("staging", "u", "--timeout", "1m", "--no-wait"),
    lockArgs("staging", "u", "--bogus"),
    ["frobnicate"],
    ["locks", "--limit", "0", "--history", "--env", "staging"],
    ["locks", "--limit", "-1", "--history", "--env", "staging"],
    ["locks", "--limit", "ten", "--history", "--env", "staging"],
    ["locks", "--limit", "1001", "--history", "--env", "staging"],
    ["locks", "--limit", "5", "--env", "staging"],
    ["locks", "--history"],
    ["locks", "--env", "no way"],
    ["release", "--user", "u"],
    ["release", "--env", "bad env", "--user", "u"],
    ["release", "--env", "staging", "--user", "ctl\u0001"],
    ["--endpoint", "not a url", "locks"],
    ["locks", "--endpoint", "ftp://example.com"],
    ["--region", "eu west 1", "locks"],
    ["locks", "--region", "EU-WEST-1"],
    ["lock", "--env", "staging", "--user", "u", "--region", "eu_west_1"],
    ["init", "--region", "no region!"],
    ["--table", "x", "locks"],
  ];
  for (const args of cases) {
    const label = JSON.stringify(args).slice(0, 120);
    const r = await h.run(args);
    assert.equal(r.code, 2, `${label}: ${r.stderr}`);
    assert.equal(r.stdout, "", label);
    assert.match(r.stderr, /^daplaya: [^\n]+\n$/, `${label}: ${JSON.stringify(r.stderr)}`);
    assert.equal(r.opened, 0, `${label} opened the store`);
  }
  // Bad values from the environment are usage errors too.
  const fromEnv: [Record<string, string>, string[]][] = [
    [{ DAPLAYA_AWS_REGION: "Nowhere 1" }, ["locks"]],
    [{ AWS_REGION: "eu west 1" }, ["locks"]],
    [{ DAPLAYA_DYNAMODB_ENDPOINT: "localhost:8000" }, ["locks"]],
    [{ DAPLAYA_TABLE: "no spaces please" }, ["locks"]],
    [{ DAPLAYA_USER: "ctl\u0002" }, ["lock", "--env", "staging"]],
  ];
  for (const [env, args] of fromEnv) {
    const r = await h.run(args, { env });
    assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^daplaya: [^\n]+\n$/);
    assert.equal(r.opened, 0);
  }
  assert.equal(h.opened, 0);
  assert.equal(h.store.requests, 0);
});

Deno.test("CLI in-process: usage without a command, --help, --version", async (t) => {
  const h = harness();
  await t.step("no command: exit 2 with the usage on stderr", async () => {
    const r = await h.run([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /Usage: daplaya/);
  });
  await t.step("--help and -h: exit 0, help on stdout", async () => {
    for (const args of [["--help"], ["-h"], ["lock", "--help"], ["--help", "locks"]]) {
      const r = ok(await h.run(args));
      assert.match(r.stdout, /Usage: daplaya/, args.join(" "));
    }
    const lock = ok(await h.run(["lock", "--help"]));
    for (const flag of ["--env", "--user", "--meta", "--timeout", "--no-wait", "--ttl"]) {
      assert.ok(lock.stdout.includes(flag), flag);
    }
  });
  await t.step({
    name: "a command's --help lists the global options too",
    fn: async () => {
      const lock = ok(await h.run(["lock", "--help"]));
      for (const flag of ["--json", "--table", "--region", "--endpoint", "--profile"]) {
        assert.ok(lock.stdout.includes(flag), flag);
      }
    },
  });
  await t.step("a mistyped command or flag: one line with the suggestion, exit 2", async () => {
    const cases: [string[], string][] = [
      [["lok"], "daplaya: unknown command 'lok': did you mean lock? (see 'daplaya --help')\n"],
      [
        ["lock", "--evn", "x"],
        "daplaya: unknown option '--evn': did you mean --env? (see 'daplaya --help')\n",
      ],
      [["frobnicate"], "daplaya: unknown command 'frobnicate' (see 'daplaya --help')\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = await h.run(args);
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, "", stderr], args.join(" "));
    }
  });
  await t.step("--version and -V", async () => {
    for (const args of [["--version"], ["-V"]]) {
      const r = ok(await h.run(args));
      assert.equal(r.stdout, "daplaya 9.8.7 (test-target, deno 0.0.0)\n");
    }
  });
  assert.equal(h.opened, 0);
});

Deno.test("CLI in-process: waiting prints the seed line at each attempt", async (t) => {
  const h = harness();
  ok(await h.run(lockArgs("production", "alice")));

  await t.step("--timeout 12s --interval 5s: three waits, then exit 3", async () => {
    const start = h.clock.monotonic();
    const requests = h.store.requests;
    const r = await h.run(lockArgs("PRODUCTION", "bob", "--timeout", "12s", "--interval", "5s"));
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "");
    const lines = r.stderr.split("\n");
    assert.equal(lines.pop(), "");
    // Attempts at 0 s, 5 s, 10 s each find alice and wait (5 s, 5 s, then the 2 s left);
    // the attempt at 12 s is the last one and answers with the error line.
    assert.deepEqual(lines.slice(0, -1), [
      "Still locked at env PRODUCTION by alice (you are #1 in line, held for 0s; waited 0s)",
      "Still locked at env PRODUCTION by alice (you are #1 in line, held for 5s; waited 5s)",
      "Still locked at env PRODUCTION by alice (you are #1 in line, held for 10s; waited 10s)",
    ]);
    assert.equal(
      lines.at(-1)!,
      "daplaya: env PRODUCTION is held by alice (a lock, for 12s, meta: CLI); gave up after waiting 12s",
    );
    assert.equal(h.clock.monotonic() - start, 12_000);
    // The grant at 0 s, its place in line, a renewal of the place at 5 s, 10 s and 12 s (each
    // reads the lock back), and leaving the line when it gives up.
    assert.equal(h.store.requests - requests, 6, "one request per try, plus joining and leaving");
  });

  await t.step("the default interval is 5s", async () => {
    const r = await h.run(lockArgs("production", "bob", "--timeout", "20s"));
    assert.equal(r.code, 3);
    assert.equal(r.stderr.match(/^Still locked at env PRODUCTION by alice \(/gm)?.length, 4);
  });

  await t.step("--no-wait: exit 3 at once, no Still locked line", async () => {
    const start = h.clock.monotonic();
    const r = await h.run(lockArgs("production", "bob", "--no-wait"));
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^daplaya: env PRODUCTION is held by alice \([^\n]*\)\n$/);
    assert.equal(h.clock.monotonic(), start);
  });

  await t.step("granted once the holder releases", async () => {
    ok(await h.run(["release", "--env", "production", "--user", "alice"]));
    const r = ok(await h.run(lockArgs("production", "bob", "--no-wait")));
    assert.equal(r.stdout, "Locked PRODUCTION for bob (CLI)\n");
  });
});

Deno.test("CLI in-process: --json documents", async (t) => {
  const h = harness();
  let id = "";
  await t.step("lock", async () => {
    const d = doc(await h.run(lockArgs("production", "alice", "--json", "--meta", "deploy #1")));
    assert.equal(d.acquired, true);
    assertLockObject(d.lock);
    assert.equal(d.lock.env, "PRODUCTION");
    assert.equal(d.lock.user, "alice");
    assert.equal(d.lock.active, true);
    assert.equal(d.lock.uberlock, false);
    assert.equal(d.lock.meta, "deploy #1");
    id = d.lock.id;
  });
  await t.step("uberlock", async () => {
    const d = doc(await h.run(lockArgs("production", "root", "--uberlock", "--json")));
    assertLockObject(d.lock);
    assert.equal(d.lock.uberlock, true);
    assert.ok(d.lock.fence > 0);
  });
  await t.step("locks", async () => {
    const d = doc(await h.run(["locks", "--json"]));
    assert.deepEqual(Object.keys(d), ["locks", "waiting"]);
    assert.equal(d.locks.length, 2);
    d.locks.forEach(assertLockObject);
    assert.deepEqual(d.locks.map((l: { user: string }) => l.user).sort(), ["alice", "root"]);
    const one = doc(await h.run(["locks", "--env", "production", "--json"]));
    assert.equal(one.locks.length, 2);
    const none = doc(await h.run(["locks", "--env", "staging", "--json"]));
    assert.deepEqual(none, { locks: [], waiting: [] });
  });
  await t.step("release", async () => {
    const d = doc(await h.run(["release", "--env", "production", "--user", "alice", "--json"]));
    assert.deepEqual(Object.keys(d), ["released"]);
    assert.equal(d.released.length, 1);
    assertLockObject(d.released[0]);
    assert.equal(d.released[0].id, id);
    assert.equal(d.released[0].active, false);
    const forced = doc(
      await h.run([
        "release",
        "--env",
        "production",
        "--user",
        "alice",
        "--force",
        "--uberlock",
        "--json",
      ]),
    );
    assert.equal(forced.released[0].user, "root");
    assert.equal(forced.released[0].forced, true);
    assert.equal(forced.released[0].releasedBy, "alice");
  });
  await t.step("history", async () => {
    const d = doc(await h.run(["locks", "--env", "production", "--history", "--json"]));
    assert.equal(d.locks.length, 2);
    d.locks.forEach(assertLockObject);
    assert.ok(d.locks.every((l: { active: boolean }) => !l.active));
    const limited = doc(
      await h.run(["locks", "--env", "production", "--history", "--limit", "1", "--json"]),
    );
    assert.equal(limited.locks.length, 1);
  });
});

Deno.test("CLI in-process: unlock is release", async () => {
  const h = harness();
  ok(await h.run(lockArgs("production", "alice")));
  const r = ok(await h.run(["unlock", "--env", "production", "--user", "alice", "--json"]));
  assert.equal(JSON.parse(r.stdout).released[0].releasedBy, "alice");
  assert.equal((await h.store.guard("PRODUCTION"))?.regular, undefined);
  assert.equal((await h.run(["unlock", "--env", "production", "--user", "alice"])).code, 4);
});

Deno.test("CLI in-process: global options before or after the command", async () => {
  const h = harness();
  ok(await h.run(lockArgs("production", "alice")));
  const before = ok(await h.run(["--json", "locks"]));
  const after = ok(await h.run(["locks", "--json"]));
  assert.equal(before.stdout, after.stdout);
  assert.equal(JSON.parse(before.stdout).locks.length, 1);

  const where = ["--table", "Other", "--region", "eu-west-1", "--endpoint", "http://ddb:8000"];
  h.configs.length = 0;
  ok(await h.run([...where, "locks"]));
  ok(await h.run(["locks", ...where]));
  ok(
    await h.run([
      "--table",
      "Other",
      "locks",
      "--region",
      "eu-west-1",
      "--endpoint",
      "http://ddb:8000",
    ]),
  );
  const expected = { table: "Other", region: "eu-west-1", endpoint: "http://ddb:8000" };
  assert.deepEqual(h.configs, [expected, expected, expected]);

  // Flags win over the environment.
  h.configs.length = 0;
  const env = {
    DAPLAYA_TABLE: "EnvTable",
    DAPLAYA_AWS_REGION: "us-west-2",
    AWS_REGION: "ap-south-1",
    DAPLAYA_DYNAMODB_ENDPOINT: "http://env:8000",
    AWS_PROFILE: "envprofile",
  };
  ok(await h.run(["locks"], { env }));
  ok(
    await h.run(["locks", "--table", "Flag", "--region", "eu-north-1", "--profile", "p"], { env }),
  );
  assert.deepEqual(h.configs, [
    { table: "EnvTable", region: "us-west-2", endpoint: "http://env:8000", profile: "envprofile" },
    { table: "Flag", region: "eu-north-1", endpoint: "http://env:8000", profile: "p" },
  ]);
});

Deno.test("CLI in-process: --user falls back to DAPLAYA_USER, then git, then $USER@host", async (t) => {
  const h = harness();
  const user = async (args: string[], o: RunOptions) => {
    const d = doc(await h.run([...args, "--json"], o));
    return d.lock.user;
  };
  const git = { committer: "web-flow@github.com", gitConfigEmail: "me@x" };
  await t.step("--user wins", async () => {
    assert.equal(
      await user(lockArgs("a", "flag@x"), { env: { DAPLAYA_USER: "env@x" }, ...git }),
      "flag@x",
    );
  });
  await t.step("then DAPLAYA_USER, without asking git", async () => {
    const calls = h.gitCalls;
    assert.equal(
      await user(["lock", "--env", "b"], { env: { DAPLAYA_USER: "env@x" }, ...git }),
      "env@x",
    );
    assert.equal(h.gitCalls, calls);
  });
  await t.step("on a terminal: git config user.email, not HEAD's committer", async () => {
    assert.equal(await user(["lock", "--env", "c"], git), "me@x");
    assert.equal(await user(["lock", "--env", "d"], { env: { DAPLAYA_USER: "" }, ...git }), "me@x");
  });
  await t.step("in CI: the committer of HEAD, then git config", async () => {
    const systems: Record<string, string>[] = [
      { CI: "true" },
      { GITHUB_ACTIONS: "true" },
      { GITLAB_CI: "true" },
    ];
    for (const ci of systems) {
      assert.equal(
        await user(["lock", "--env", "ci", "--new-env"], { env: ci, ...git }),
        "web-flow@github.com",
      );
      await h.run(["release", "--env", "ci"], { env: ci, ...git });
    }
    assert.equal(
      await user(["lock", "--env", "ci"], { env: { CI: "1" }, gitConfigEmail: "me@x" }),
      "me@x",
    );
    assert.equal(
      await user(["lock", "--env", "ci2", "--new-env"], { env: { CI: "false" }, ...git }),
      "me@x",
    );
  });
  await t.step("no git email: $USER@hostname, and status says where it came from", async () => {
    assert.equal(await user(["lock", "--env", "e"], { env: { USER: "ann" } }), "ann@box");
    const r = await h.run(["status"], { env: { USER: "ann" } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^You are ann@box \(from \$USER@hostname\)\.\nYou hold E\.\n/);
  });
  await t.step("release uses the same fallbacks", async () => {
    const d = doc(await h.run(["release", "--env", "c", "--json"], git));
    assert.equal(d.released[0].user, "me@x");
    const e = doc(
      await h.run(["release", "--env", "b", "--json"], { env: { DAPLAYA_USER: "env@x" } }),
    );
    assert.equal(e.released[0].user, "env@x");
  });
  await t.step("none: exit 2 with a line that says how to set it", async () => {
    const opened = h.opened;
    for (const args of [["lock", "--env", "e"], ["release", "--env", "a"]]) {
      const r = await h.run(args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^daplaya: [^\n]*--user[^\n]*DAPLAYA_USER[^\n]*\n$/);
    }
    assert.equal(h.opened, opened);
  });
});

Deno.test("CLI in-process: --meta defaults to the CI run URL, else CLI", async (t) => {
  const h = harness();
  let n = 0;
  const meta = async (env: Record<string, string>, ...more: string[]) => {
    const d = doc(await h.run(lockArgs(`env${n++}`, "u", "--json", ...more), { env }));
    return d.lock.meta;
  };
  const cases: [string, Record<string, string>, string][] = [
    ["no CI", {}, "CLI"],
    ["GitHub Actions", {
      GITHUB_ACTIONS: "true",
      GITHUB_SERVER_URL: "https://github.com",
      GITHUB_REPOSITORY: "o/r",
      GITHUB_RUN_ID: "42",
    }, "https://github.com/o/r/actions/runs/42"],
    ["GitHub Enterprise", {
      GITHUB_ACTIONS: "true",
      GITHUB_SERVER_URL: "https://ghe.example.com",
      GITHUB_REPOSITORY: "o/r",
      GITHUB_RUN_ID: "7",
    }, "https://ghe.example.com/o/r/actions/runs/7"],
    ["GitLab CI", {
      GITLAB_CI: "true",
      CI_JOB_URL: "https://gitlab.com/o/r/-/jobs/99",
    }, "https://gitlab.com/o/r/-/jobs/99"],
    ["CircleCI", {
      CIRCLECI: "true",
      CIRCLE_BUILD_URL: "https://circleci.com/gh/o/r/5",
    }, "https://circleci.com/gh/o/r/5"],
    ["Buildkite", {
      BUILDKITE: "true",
      BUILDKITE_BUILD_URL: "https://buildkite.com/o/p/builds/3",
    }, "https://buildkite.com/o/p/builds/3"],
    ["Jenkins", {
      JENKINS_URL: "https://ci.example.com/",
      BUILD_URL: "https://ci.example.com/job/deploy/12/",
    }, "https://ci.example.com/job/deploy/12/"],
    ["Bitbucket Pipelines", {
      BITBUCKET_BUILD_NUMBER: "8",
      BITBUCKET_REPO_FULL_NAME: "o/r",
    }, "https://bitbucket.org/o/r/pipelines/results/8"],
  ];
  for (const [name, env, expected] of cases) {
    await t.step(name, async () => {
      assert.equal(await meta(env), expected);
    });
  }
  await t.step("--meta wins over the CI URL", async () => {
    assert.equal(await meta(cases[1][1], "--meta", "hotfix"), "hotfix");
  });
  await t.step("a re-lock without --meta keeps the old meta, even under CI", async () => {
    const first = doc(await h.run(lockArgs("prod", "alice", "--meta", "deploy #1", "--json")));
    h.clock.advance(1000);
    const again = doc(await h.run(lockArgs("prod", "alice", "--json"), { env: cases[1][1] }));
    assert.equal(again.lock.id, first.lock.id);
    assert.equal(again.lock.meta, "deploy #1");
    assert.equal(again.refreshed, true);
    assert.ok(again.lock.updatedAt > first.lock.updatedAt);
    const listed = doc(await h.run(["locks", "--env", "prod", "--json"]));
    assert.equal(listed.locks[0].meta, "deploy #1");
    const text = ok(await h.run(lockArgs("prod", "alice")));
    assert.equal(text.stdout, "Refreshed PROD for alice (deploy #1)\n");
  });
  await t.step("a re-lock with --meta replaces it", async () => {
    const d = doc(await h.run(lockArgs("prod", "alice", "--meta", "deploy #2", "--json")));
    assert.equal(d.lock.meta, "deploy #2");
    const listed = doc(await h.run(["locks", "--env", "prod", "--json"]));
    assert.equal(listed.locks[0].meta, "deploy #2");
  });
});

Deno.test("CLI in-process: release", async (t) => {
  const h = harness();
  await t.step("exit 4 when nothing is held", async () => {
    const r = await h.run(["release", "--env", "production", "--user", "alice"]);
    assert.equal(r.code, 4);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      "daplaya: alice holds no active lock on env PRODUCTION: nobody holds it\n",
    );
  });
  await t.step(
    "exit 4 when someone else holds it, naming them and --force; the lock stays",
    async () => {
      ok(await h.run(lockArgs("production", "alice")));
      h.clock.advance(90_000);
      const r = await h.run(["release", "--env", "production", "--user", "bob"]);
      assert.equal(r.code, 4);
      assert.equal(
        r.stderr,
        "daplaya: bob holds no active lock on env PRODUCTION: alice holds a lock (for 1m30s); to end it anyway: daplaya release --env PRODUCTION --force\n",
      );
      assert.equal(doc(await h.run(["locks", "--json"])).locks.length, 1);
    },
  );
  await t.step("the holder releases with 0, then 4 again", async () => {
    const r = ok(await h.run(["release", "--env", "Production", "--user", "alice"]));
    assert.equal(r.stdout, "Released PRODUCTION lock of alice (held for 1m30s)\n");
    const again = await h.run(["release", "--env", "production", "--user", "alice"]);
    assert.equal(again.code, 4);
  });
  await t.step("--uberlock with no uberlock held: exit 4", async () => {
    ok(await h.run(lockArgs("production", "alice")));
    const r = await h.run(["release", "--env", "production", "--user", "alice", "--uberlock"]);
    assert.equal(r.code, 4);
    assert.equal(
      r.stderr,
      "daplaya: alice holds no active uberlock on env PRODUCTION: alice holds a lock (for 0s)\n",
    );
  });
  await t.step(
    "--force ends the regular lock only; the uberlock takes --force --uberlock",
    async () => {
      ok(await h.run(lockArgs("production", "root", "--uberlock")));
      const forced = ok(
        await h.run(["release", "--env", "production", "--user", "ops", "--force"]),
      );
      assert.equal(
        forced.stdout,
        "Released PRODUCTION lock of alice by force (ops) (held for 0s)\n",
      );
      const guard = await h.store.guard("PRODUCTION");
      assert.equal(guard?.regular, undefined);
      assert.equal(guard?.uberlock?.user, "root");
      const again = await h.run(["release", "--env", "production", "--user", "ops", "--force"]);
      assert.equal(again.code, 4);
      assert.equal(
        again.stderr,
        "daplaya: there is no active lock on env PRODUCTION: root holds an uberlock (for 0s); to end the uberlock: daplaya release --env PRODUCTION --force --uberlock\n",
      );
      const uber = doc(
        await h.run([
          "release",
          "--env",
          "production",
          "--user",
          "ops",
          "--force",
          "--uberlock",
          "--json",
        ]),
      );
      assert.equal(uber.released.length, 1);
      assert.equal(uber.released[0].user, "root");
      assert.equal(uber.released[0].releasedBy, "ops");
      assert.equal(uber.released[0].forced, true);
      assert.equal((await h.store.guard("PRODUCTION"))?.uberlock, undefined);
    },
  );
});

Deno.test("CLI in-process: output for people", async (t) => {
  const h = harness();
  await t.step("lock: one short line; fence and id only with --verbose", async () => {
    const r = ok(
      await h.run(lockArgs("production", "alice@example.com", "--meta", "deploy v1.2.3")),
    );
    assert.equal(r.stdout, "Locked PRODUCTION for alice@example.com (deploy v1.2.3)\n");
    const lease = ok(await h.run(lockArgs("staging", "bob", "--ttl", "30m", "--verbose")));
    const [id] = (await h.store.active("STAGING")).map((l) => l.id);
    const fence = (await h.store.guard("STAGING"))!.fence;
    assert.equal(
      lease.stdout,
      `Locked STAGING for bob (CLI), lease 30m, fence ${fence}, id ${id}\n`,
    );
    const uber = ok(await h.run(lockArgs("qa", "carol", "--uberlock")));
    assert.equal(uber.stdout, "Uberlocked QA for carol (CLI)\n");
  });
  await t.step("locks: a table without ids or fences; --verbose adds them", async () => {
    h.clock.advance(12 * 60_000 + 3000);
    const long = "x".repeat(100);
    ok(await h.run(lockArgs("dev", "dave", "--meta", long)));
    const r = ok(await h.run(["locks"]));
    const lines = r.stdout.split("\n");
    assert.deepEqual(lines.map((l) => l.replace(/ {2,}/g, " | ")), [
      "ENV | HOLDER | KIND | HELD FOR | LEASE | META",
      "DEV | dave | lock | 0s | - | " + "x".repeat(37) + "...",
      "PRODUCTION | alice@example.com | lock | 12m3s | - | deploy v1.2.3",
      "QA | carol | uberlock | 12m3s | - | CLI",
      "STAGING | bob | lock | 12m3s | ends in 17m57s | CLI",
      "",
    ]);
    // Columns line up: every row's META starts where the header's does.
    const meta = lines[0].indexOf("META");
    assert.ok(lines.slice(1, -1).every((l) => /^ [^ ]/.test(l.slice(meta - 1))), r.stdout);
    assert.doesNotMatch(r.stdout, /[0-9a-f]{8}-[0-9a-f]{4}-/);
    const verbose = ok(await h.run(["locks", "--verbose", "--env", "dev"]));
    assert.match(verbose.stdout, /^ENV +HOLDER +KIND +HELD FOR +LEASE +META +FENCE +ID\n/);
    assert.ok(verbose.stdout.includes(long), "meta uncut");
    assert.match(verbose.stdout, /[0-9a-f]{8}-[0-9a-f]{4}-/);
  });
  await t.step("history: how each lock ended", async () => {
    h.clock.advance(60_000);
    ok(await h.run(["release", "--env", "dev", "--user", "dave"]));
    ok(await h.run(lockArgs("dev", "erin")));
    h.clock.advance(60_000);
    const r = ok(await h.run(["locks", "--env", "dev", "--history"]));
    const lines = r.stdout.split("\n");
    assert.match(lines[0], /^TAKEN +HOLDER +KIND +HELD FOR +ENDED +META$/);
    assert.match(lines[1], /^\d{4}-\d\d-\d\d \d\d:\d\d +erin +lock +1m +held +CLI$/);
    assert.match(
      lines[2],
      /^\d{4}-\d\d-\d\d \d\d:\d\d +dave +lock +1m +released by dave 1m ago +x+\.\.\.$/,
    );
  });
  await t.step("--json on a refusal: acquired false and who holds it, exit 3", async () => {
    const r = await h.run(lockArgs("production", "bob", "--no-wait", "--json"));
    assert.equal(r.code, 3);
    const d = JSON.parse(r.stdout);
    assert.equal(d.acquired, false);
    assert.equal(d.heldBy.user, "alice@example.com");
    assert.equal(d.heldBy.env, "PRODUCTION");
    assertLockObject(d.heldBy);
    assert.match(r.stderr, /^daplaya: env PRODUCTION is held by alice@example\.com /);
  });
  await t.step("run --json is refused before anything is read", async () => {
    const opened = h.opened;
    const r = await h.run(["run", "--env", "x", "--user", "u", "--json", "--", "true"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "daplaya: --json does not apply to run (see 'daplaya run --help')\n");
    assert.equal(h.opened, opened);
  });
  await t.step("a lease that ran out says so while waiting", async () => {
    h.clock.advance(20 * 60_000);
    const r = await h.run(lockArgs("staging", "erin", "--timeout", "10s", "--interval", "5s"));
    // bob's 30m lease ran out by the clocks, but erin must watch it unchanged for 30m.
    assert.equal(r.code, 3);
    assert.equal(
      r.stderr.split("\n")[1],
      "Still locked at env STAGING by bob (you are #1 in line, its lease ran out 4m8s ago; taking over in 29m55s once it is safe; waited 5s)",
    );
  });
});

Deno.test("CLI in-process: locks shows each env's line under its holder", async (t) => {
  const h = harness();
  const join = async (env: string, user: string, meta: string) =>
    assert.equal((await h.store.join({ env, place: placeOf(user, meta, h.clock.now()) })).ok, true);
  ok(await h.run(lockArgs("production", "alice@example.com", "--meta", "deploy v1.2.3")));
  ok(await h.run(lockArgs("qa", "frank")));
  // STAGING is free again but keeps its line (its first waiter takes it at its next try).
  ok(await h.run(lockArgs("staging", "dave")));
  ok(await h.run(["release", "--env", "staging", "--user", "dave"]));
  h.clock.advance(60_000);
  await join("PRODUCTION", "bob@example.com", "deploy v1.2.4");
  await join("STAGING", "erin", "CLI");
  h.clock.advance(60_000);
  await join("PRODUCTION", "carol", "x".repeat(100));
  h.clock.advance(5_000);

  /** The active locks and lines the steps below set up, as `locks` prints them. */
  const LINE_TABLE = [
    "ENV         HOLDER              KIND     HELD FOR  LEASE  META",
    "PRODUCTION  alice@example.com   lock     2m5s      -      deploy v1.2.3",
    "            #1 bob@example.com  waiting  1m5s      -      deploy v1.2.4",
    `            #2 carol            waiting  5s        -      ${"x".repeat(37)}...`,
    "QA          frank               lock     2m5s      -      CLI",
    "STAGING     (free)              -        -         -",
    "            #1 erin             waiting  1m5s      -      CLI",
  ];

  await t.step("the table: waiters under their env's holder, free envs after", async () => {
    const r = ok(await h.run(["locks"]));
    assert.equal(
      r.stdout,
      [
        ...LINE_TABLE,
        "",
      ].join("\n"),
    );
    const verbose = ok(await h.run(["locks", "--verbose", "--env", "production"]));
    const lines = verbose.stdout.split("\n");
    assert.match(lines[0], /^ENV +HOLDER +KIND +HELD FOR +LEASE +META +FENCE +ID$/);
    assert.match(lines[3], new RegExp(`^ +#2 carol +waiting +5s +- +${"x".repeat(100)} +- +-$`));
  });

  await t.step("--env: only that env's holder and line", async () => {
    const r = ok(await h.run(["locks", "--env", "staging"]));
    assert.equal(
      r.stdout,
      [
        "ENV      HOLDER   KIND     HELD FOR  LEASE  META",
        "STAGING  (free)   -        -         -",
        "         #1 erin  waiting  1m5s      -      CLI",
        "",
      ].join("\n"),
    );
    assert.equal(ok(await h.run(["locks", "--env", "dev"])).stdout, "No active locks on env DEV\n");
  });

  await t.step("--json: waiting next to locks, by env then place", async () => {
    const since = h.clock.now() - 5_000;
    const d = doc(await h.run(["locks", "--json"]));
    assert.deepEqual(Object.keys(d), ["locks", "waiting"]);
    assert.deepEqual(d.locks.map((l: { env: string }) => l.env), ["PRODUCTION", "QA"]);
    assert.deepEqual(d.waiting, [
      {
        env: "PRODUCTION",
        user: "bob@example.com",
        position: 1,
        since: since - 60_000,
        meta: "deploy v1.2.4",
      },
      { env: "PRODUCTION", user: "carol", position: 2, since, meta: "x".repeat(100) },
      { env: "STAGING", user: "erin", position: 1, since: since - 60_000, meta: "CLI" },
    ]);
    const one = doc(await h.run(["locks", "--env", "staging", "--json"]));
    assert.deepEqual(one, {
      locks: [],
      waiting: [{ env: "STAGING", user: "erin", position: 1, since: since - 60_000, meta: "CLI" }],
    });
    const qa = doc(await h.run(["locks", "--env", "qa", "--json"]));
    assert.equal(qa.locks.length, 1);
    assert.deepEqual(qa.waiting, []);
    // History is unchanged: records only.
    const history = doc(await h.run(["locks", "--env", "staging", "--history", "--json"]));
    assert.deepEqual(Object.keys(history), ["locks"]);
  });

  await t.step("status shows the lines too", async () => {
    const r = ok(await h.run(["status", "--user", "erin"]));
    assert.equal(
      r.stdout,
      [
        "You are erin (from --user).",
        "You hold no locks.",
        "Others hold PRODUCTION and QA.",
        "",
        ...LINE_TABLE,
        "",
      ].join("\n"),
    );
    const free = ok(await h.run(["status", "--user", "erin", "--env", "staging"]));
    assert.equal(
      free.stdout,
      [
        "You are erin (from --user).",
        "You hold no locks on env STAGING.",
        "Nothing is locked on env STAGING.",
        "",
        "ENV      HOLDER   KIND     HELD FOR  LEASE  META",
        "STAGING  (free)   -        -         -",
        "         #1 erin  waiting  1m5s      -      CLI",
        "",
      ].join("\n"),
    );
    const d = doc(await h.run(["status", "--user", "erin", "--env", "production", "--json"]));
    assert.deepEqual(Object.keys(d), ["user", "mine", "others", "waiting"]);
    assert.deepEqual(d.waiting.map((w: { user: string }) => w.user), ["bob@example.com", "carol"]);
  });
});

Deno.test("CLI in-process: status shows who you are and your locks first", async (t) => {
  const h = harness();
  await t.step("nothing held", async () => {
    const r = ok(await h.run(["status", "--user", "me@x"]));
    assert.equal(r.stdout, "You are me@x (from --user).\nYou hold no locks.\nNothing is locked.\n");
  });
  await t.step("yours first, then the others", async () => {
    ok(await h.run(lockArgs("alpha", "other@x")));
    ok(await h.run(lockArgs("zulu", "me@x")));
    ok(await h.run(lockArgs("beta", "ME@x", "--uberlock")));
    const r = ok(await h.run(["status"], { gitConfigEmail: "me@x" }));
    const lines = r.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 4), [
      "You are me@x (from git config user.email).",
      "You hold BETA (uberlock) and ZULU.",
      "Others hold ALPHA.",
      "",
    ]);
    assert.match(lines[5], /^BETA +ME@x +uberlock/);
    assert.match(lines[6], /^ZULU +me@x +lock/);
    assert.match(lines[7], /^ALPHA +other@x +lock/);
    const d = doc(await h.run(["status", "--json", "--user", "me@x"]));
    assert.equal(d.user, "me@x");
    assert.deepEqual(d.mine.map((l: { env: string }) => l.env), ["BETA", "ZULU"]);
    assert.deepEqual(d.others.map((l: { env: string }) => l.env), ["ALPHA"]);
  });
});

Deno.test("CLI in-process: a typo of a known env is refused unless --new-env", async (t) => {
  const h = harness();
  ok(await h.run(lockArgs("production", "alice")));
  ok(await h.run(["release", "--env", "production", "--user", "alice"]));
  await t.step("PRODUCTON: exit 2 with the suggestion, nothing written", async () => {
    const requests = h.store.requests;
    const r = await h.run(lockArgs("producton", "alice"));
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      "daplaya: env PRODUCTON has never been locked: did you mean PRODUCTION? (if PRODUCTON is a new env, add --new-env)\n",
    );
    assert.equal(h.store.requests - requests, 2, "one failed grant, one read of the envs");
    assert.equal(await h.store.guard("PRODUCTON"), null);
  });
  await t.step("--new-env takes it; from then on it is known", async () => {
    ok(await h.run(lockArgs("producton", "alice", "--new-env")));
    ok(await h.run(["release", "--env", "producton", "--user", "alice"]));
    ok(await h.run(lockArgs("producton", "alice")));
  });
  await t.step("run checks too; new names far from known ones need no flag", async () => {
    const r = await h.run(["run", "--env", "prodcution", "--user", "a", "--", "true"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /did you mean PRODUCTION\?/);
    ok(await h.run(lockArgs("staging", "alice")));
    ok(await h.run(lockArgs("staging-2", "alice")));
    ok(await h.run(lockArgs("qa", "alice")));
    ok(await h.run(lockArgs("qb", "alice")));
  });
  await t.step("an existing env takes one request", async () => {
    const requests = h.store.requests;
    const r = await h.run(lockArgs("staging", "bob", "--no-wait"));
    assert.equal(r.code, 3);
    assert.equal(h.store.requests - requests, 1);
  });
});
