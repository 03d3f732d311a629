/**
 * `freeze` and `policy` in-process (tests/support/cli.ts: the in-memory store and a manual clock
 * that starts on Thursday 2026-01-01 00:00 UTC), and what they do to `lock` and `run`: every line
 * printed, the JSON documents, and every bad input refused with exit 2 and nothing written.
 */
import assert from "node:assert/strict";
import type { Child } from "../../src/cli/context.ts";
import type { Guard } from "../../src/core/model.ts";
import { doc, harness, ok, type Outcome } from "../support/cli.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
/** The harness clock's start: Thursday 2026-01-01 00:00 UTC. */
const T0 = Date.UTC(2026, 0, 1);

type Harness = ReturnType<typeof harness>;

/** An env the table knows: locked and released once. */
async function known(h: Harness, env: string): Promise<void> {
  ok(await h.run(["lock", "--env", env, "--user", "setup"]));
  ok(await h.run(["release", "--env", env, "--user", "setup"]));
}

const addArgs = (env: string, ...more: string[]) => [
  "freeze",
  "add",
  "--env",
  env,
  "--user",
  "ops@example.com",
  ...more,
];

/** Adds a window and returns its id, read from the line `freeze add` prints. */
async function addWindow(h: Harness, env: string, ...more: string[]): Promise<string> {
  const r = ok(await h.run(addArgs(env, ...more)));
  const id = /^Added freeze window ([a-z2-9]{6}) on env /.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  return id;
}

/** Exit 2, nothing on stdout, one line on stderr. */
function usage(r: Outcome, label: string): void {
  assert.equal(r.code, 2, `${label}: ${r.stderr}`);
  assert.equal(r.stdout, "", label);
  assert.match(r.stderr, /^daplaya: [^\n]+\n$/, `${label}: ${JSON.stringify(r.stderr)}`);
}

/** A `run` command that ends at once with code 0; `started` counts the starts. */
function quickCommand() {
  const counter = { started: 0 };
  const spawn = (): Child => {
    counter.started++;
    return { status: Promise.resolve({ code: 0 }), kill: () => {} };
  };
  return { counter, spawn };
}

const frozenLine = (id: string, reason: string, until: string) =>
  `daplaya: env PRODUCTION is frozen: ${reason} (window ${id}, until ${until}); to lock anyway give --override-freeze with --meta saying why\n`;

Deno.test("freeze add: one-off and weekly windows, the line it prints, what is stored", async (t) => {
  const h = harness();
  await known(h, "production");

  await t.step("one-off in a zone: in force now, until when (UTC and the zone)", async () => {
    const r = ok(
      await h.run(addArgs(
        "production",
        ...["--from", "2026-01-01T00:00", "--until", "2026-01-03T00:00"],
        ...["--tz", "Europe/Berlin", "--reason", "holidays"],
      )),
    );
    const id = /window ([a-z2-9]{6}) /.exec(r.stdout)![1];
    assert.equal(
      r.stdout,
      `Added freeze window ${id} on env PRODUCTION: 2026-01-01 00:00 to 2026-01-03 00:00 Europe/Berlin (holidays); in force now, until 2026-01-02 23:00 UTC (2026-01-03 00:00 Europe/Berlin)\n`,
    );
    const stored = (await h.store.guard("PRODUCTION"))!.policy!;
    assert.equal(stored.version, 1);
    assert.deepEqual(stored.freezes, [{
      id,
      reason: "holidays",
      tz: "Europe/Berlin",
      // Midnight in Berlin is 23:00 UTC the day before, in winter.
      schedule: { from: Date.UTC(2025, 11, 31, 23), until: Date.UTC(2026, 0, 2, 23) },
      addedBy: "ops@example.com",
      addedAt: T0,
    }]);
  });

  await t.step("weekly, in a zone: next from when until when", async () => {
    const r = ok(
      await h.run(addArgs(
        "production",
        ...["--weekly", "fri 15:00 - mon 9:00", "--tz", "europe/berlin", "--reason", "weekend"],
      )),
    );
    const id = /window ([a-z2-9]{6}) /.exec(r.stdout)![1];
    assert.equal(
      r.stdout,
      `Added freeze window ${id} on env PRODUCTION: every Fri 15:00-Mon 09:00 Europe/Berlin (weekend); next from 2026-01-02 14:00 UTC (15:00 Europe/Berlin) until 2026-01-05 08:00 UTC (09:00 Europe/Berlin)\n`,
    );
    const stored = (await h.store.guard("PRODUCTION"))!.policy!;
    assert.equal(stored.version, 2);
    assert.deepEqual(stored.freezes[1].schedule, { weekly: "Fri 15:00-Mon 09:00" });
    assert.equal(stored.freezes[1].tz, "Europe/Berlin");
  });

  await t.step("times without offset are UTC by default; an offset is kept", async () => {
    const utc = await addWindow(
      h,
      "staging",
      ...["--from", "2026-02-01T10:00", "--until", "2026-02-01T12:30", "--reason", "audit"],
      "--new-env",
    );
    const offset = await addWindow(
      h,
      "staging",
      ...["--from", "2026-02-02T10:00+01:00", "--until", "2026-02-02T12:00Z", "--reason", "r"],
    );
    const freezes = (await h.store.guard("STAGING"))!.policy!.freezes;
    assert.deepEqual(freezes.map((f) => [f.id, f.tz, f.schedule]), [
      [utc, "UTC", { from: Date.UTC(2026, 1, 1, 10), until: Date.UTC(2026, 1, 1, 12, 30) }],
      [offset, "UTC", { from: Date.UTC(2026, 1, 2, 9), until: Date.UTC(2026, 1, 2, 12) }],
    ]);
  });

  await t.step("the user: --user, else DAPLAYA_USER, else git", async () => {
    const args = ["freeze", "add", "--env", "staging", "--weekly", "Sat 00:00-Sun 00:00"];
    ok(await h.run([...args, "--reason", "a"], { env: { DAPLAYA_USER: "dana@example.com" } }));
    ok(await h.run([...args, "--reason", "b"], { gitConfigEmail: "gil@example.com" }));
    const freezes = (await h.store.guard("STAGING"))!.policy!.freezes;
    assert.deepEqual(freezes.slice(-2).map((f) => f.addedBy), [
      "dana@example.com",
      "gil@example.com",
    ]);
  });

  await t.step("--json: the window as freeze list shows it", async () => {
    const d = doc(
      await h.run(addArgs(
        "staging",
        ...["--from", "2026-01-01T00:00Z", "--until", "2026-01-01T01:00Z", "--reason", "now"],
        "--json",
      )),
    );
    assert.deepEqual(Object.keys(d), ["freeze"]);
    assert.match(d.freeze.id, /^[a-z2-9]{6}$/);
    assert.deepEqual({ ...d.freeze, id: "ID" }, {
      id: "ID",
      env: "STAGING",
      reason: "now",
      tz: "UTC",
      schedule: { from: T0, until: T0 + HOUR },
      addedBy: "ops@example.com",
      addedAt: T0,
      inForce: true,
      current: { start: T0, end: T0 + HOUR },
    });
  });
});

Deno.test("freeze list: by env then start, in force or next or over; JSON; empty", async (t) => {
  const h = harness();
  await t.step("no windows anywhere", async () => {
    assert.equal(ok(await h.run(["freeze", "list"])).stdout, "No freeze windows\n");
    assert.equal(
      ok(await h.run(["freeze", "list", "--env", "production"])).stdout,
      "No freeze windows on env PRODUCTION\n",
    );
    assert.deepEqual(doc(await h.run(["freeze", "list", "--json"])), { freezes: [] });
  });

  await known(h, "production");
  await known(h, "staging");
  // Added out of order: the list sorts them.
  const weekend = await addWindow(
    h,
    "production",
    ...["--weekly", "Fri 15:00-Mon 09:00", "--tz", "Europe/Berlin", "--reason", "weekend"],
  );
  const past = await addWindow(
    h,
    "production",
    ...["--from", "2025-12-31T23:00Z", "--until", "2026-01-01T01:00Z", "--reason", "migration"],
  );
  const now = await addWindow(
    h,
    "production",
    ...["--from", "2026-01-01T01:30Z", "--until", "2026-01-01T05:00Z"],
    ...["--reason", `release train ${"x".repeat(60)}`],
  );
  const audit = await addWindow(
    h,
    "staging",
    ...["--from", "2026-01-10T00:00", "--until", "2026-01-11T00:00", "--tz", "Asia/Tokyo"],
    ...["--reason", "audit"],
  );
  h.clock.advance(2 * HOUR); // 02:00 UTC: the migration is over, the release train in force

  await t.step("the table", async () => {
    const r = ok(await h.run(["freeze", "list"]));
    const reason = `release train ${"x".repeat(23)}...`;
    assert.equal(
      r.stdout,
      [
        "ID      ENV         SCHEDULE                                         REASON                                    ADDED BY         STATUS",
        `${past}  PRODUCTION  2025-12-31 23:00 to 2026-01-01 01:00 UTC         migration                                 ops@example.com  over`,
        `${now}  PRODUCTION  2026-01-01 01:30 to 2026-01-01 05:00 UTC         ${reason}  ops@example.com  in force until 2026-01-01 05:00 UTC`,
        `${weekend}  PRODUCTION  every Fri 15:00-Mon 09:00 Europe/Berlin          weekend                                   ops@example.com  next from 2026-01-02 14:00 UTC (15:00 Europe/Berlin)`,
        `${audit}  STAGING     2026-01-10 00:00 to 2026-01-11 00:00 Asia/Tokyo  audit                                     ops@example.com  next from 2026-01-09 15:00 UTC (2026-01-10 00:00 Asia/Tokyo)`,
        "",
      ].join("\n"),
    );
    const verbose = ok(await h.run(["freeze", "list", "--verbose"]));
    assert.ok(verbose.stdout.includes(`release train ${"x".repeat(60)}  ops`), verbose.stdout);
    const one = ok(await h.run(["freeze", "list", "--env", "staging"])).stdout.split("\n");
    assert.equal(one.length, 3);
    assert.ok(one[1].startsWith(`${audit}  STAGING  `), one[1]);
  });

  await t.step("--json: every window with where it stands, in epoch ms", async () => {
    const d = doc(await h.run(["freeze", "list", "--json"]));
    assert.deepEqual(d.freezes.map((f: { id: string }) => f.id), [past, now, weekend, audit]);
    const common = { addedBy: "ops@example.com", addedAt: T0 };
    assert.deepEqual(d.freezes[0], {
      id: past,
      env: "PRODUCTION",
      reason: "migration",
      tz: "UTC",
      schedule: { from: T0 - HOUR, until: T0 + HOUR },
      ...common,
      inForce: false,
    });
    assert.deepEqual(d.freezes[1].inForce, true);
    assert.deepEqual(d.freezes[1].current, { start: T0 + 90 * MIN, end: T0 + 5 * HOUR });
    assert.equal(d.freezes[1].next, undefined, "a one-off has no next");
    assert.deepEqual(d.freezes[2], {
      id: weekend,
      env: "PRODUCTION",
      reason: "weekend",
      tz: "Europe/Berlin",
      schedule: { weekly: "Fri 15:00-Mon 09:00" },
      ...common,
      inForce: false,
      next: { start: Date.UTC(2026, 0, 2, 14), end: Date.UTC(2026, 0, 5, 8) },
    });
    const only = doc(await h.run(["freeze", "list", "--env", "staging", "--json"]));
    assert.deepEqual(only.freezes, [d.freezes[3]]);
  });

  await t.step("a weekly window in force: its occurrence, and the next one", async () => {
    h.clock.advance(2 * 24 * HOUR); // Saturday 02:00 UTC
    const d = doc(await h.run(["freeze", "list", "--env", "production", "--json"]));
    const w = d.freezes.find((f: { id: string }) => f.id === weekend);
    assert.equal(w.inForce, true);
    assert.deepEqual(w.current, { start: Date.UTC(2026, 0, 2, 14), end: Date.UTC(2026, 0, 5, 8) });
    assert.deepEqual(w.next, { start: Date.UTC(2026, 0, 9, 14), end: Date.UTC(2026, 0, 12, 8) });
    const r = ok(await h.run(["freeze", "list", "--env", "production"]));
    assert.match(
      r.stdout,
      /weekend +ops@example\.com +in force until 2026-01-05 08:00 UTC \(09:00 Europe\/Berlin\)\n/,
    );
  });
});

Deno.test("freeze remove: by id; an unknown env or id is refused, nothing written", async (t) => {
  const h = harness();
  await known(h, "production");
  const id = await addWindow(
    h,
    "production",
    ...["--weekly", "Fri 15:00-Mon 09:00", "--tz", "Europe/Berlin", "--reason", "weekend"],
  );
  const other = await addWindow(
    h,
    "production",
    ...["--from", "2026-01-01T00:00", "--until", "2026-01-02T00:00", "--reason", "x"],
  );

  await t.step(
    "an unknown id or env: exit 2, the env's windows named, the guard unchanged",
    async () => {
      const before = await h.store.guard("PRODUCTION");
      const r = await h.run(["freeze", "remove", "--env", "production", "--id", "zzzzzz"]);
      usage(r, "unknown id");
      assert.equal(
        r.stderr,
        `daplaya: env PRODUCTION has no freeze window zzzzzz (its windows: ${id}, ${other}): see 'daplaya freeze list --env PRODUCTION'\n`,
      );
      const unknownEnv = await h.run(["freeze", "remove", "--env", "qa", "--id", id]);
      usage(unknownEnv, "unknown env");
      assert.equal(
        unknownEnv.stderr,
        "daplaya: unknown env QA: it has never been locked and has no policy\n",
      );
      assert.deepEqual(await h.store.guard("PRODUCTION"), before);
      assert.equal(await h.store.guard("QA"), null);
    },
  );

  await t.step("removed: the line, and gone from the env", async () => {
    const r = ok(
      await h.run(["freeze", "remove", "--env", "production", "--id", id.toUpperCase()]),
    );
    assert.equal(
      r.stdout,
      `Removed freeze window ${id} from env PRODUCTION: every Fri 15:00-Mon 09:00 Europe/Berlin (weekend)\n`,
    );
    const policy = (await h.store.guard("PRODUCTION"))!.policy!;
    assert.deepEqual(policy.freezes.map((f) => f.id), [other]);
    assert.equal(policy.version, 3);
  });

  await t.step("--json: the removed window", async () => {
    const d = doc(
      await h.run(["freeze", "remove", "--env", "production", "--id", other, "--json"]),
    );
    assert.deepEqual(Object.keys(d), ["removed"]);
    assert.equal(d.removed.id, other);
    assert.equal(d.removed.inForce, true);
    assert.deepEqual((await h.store.guard("PRODUCTION"))!.policy!.freezes, []);
  });
});

Deno.test("freeze and policy: bad input exits 2 with one line, nothing read or written", async (t) => {
  const h = harness();
  await known(h, "production");
  const add = (...more: string[]) => addArgs("production", ...more);
  const weekly = ["--weekly", "Fri 15:00-Mon 09:00"];
  const once = ["--from", "2026-01-01T00:00", "--until", "2026-01-02T00:00"];

  await t.step("refused before the store is opened", async () => {
    const cases: string[][] = [
      ["freeze", "add", "--user", "u", "--reason", "r", ...weekly],
      addArgs("bad env!", "--reason", "r", ...weekly),
      add(...weekly),
      add("--reason", "", ...weekly),
      add("--reason", "   ", ...weekly),
      add("--reason", "line\nbreak", ...weekly),
      add("--reason", "r".repeat(2049), ...weekly),
      add("--reason", "r"),
      add("--reason", "r", "--from", "2026-01-01T00:00"),
      add("--reason", "r", "--until", "2026-01-02T00:00"),
      add("--reason", "r", ...weekly, ...once),
      add("--reason", "r", "--weekly", "Fri-Mon"),
      add("--reason", "r", "--weekly", "Fri 25:00-Mon 09:00"),
      add("--reason", "r", "--weekly", "Fri 15:00-Fri 15:00"),
      add("--reason", "r", "--weekly", "Fry 15:00-Mon 09:00"),
      add("--reason", "r", ...weekly, "--tz", "Mars/Olympus"),
      add("--reason", "r", ...weekly, "--tz", "+01:00"),
      add("--reason", "r", ...weekly, "--tz", ""),
      add("--reason", "r", "--from", "2026-01-02T00:00", "--until", "2026-01-01T00:00"),
      add("--reason", "r", "--from", "2026-01-02T00:00", "--until", "2026-01-02T00:00"),
      add("--reason", "r", "--from", "tomorrow", "--until", "2026-01-02T00:00"),
      add("--reason", "r", "--from", "2026-02-30T00:00", "--until", "2026-03-02T00:00"),
      // Over already: 2025 ended before the clock's now.
      add("--reason", "r", "--from", "2025-12-24T00:00", "--until", "2025-12-27T00:00"),
      add("--reason", "r", ...weekly, "--bogus"),
      ["freeze", "add", "--env", "production", "--reason", "r", ...weekly], // no user found
      ["freeze", "list", "--env", "no way"],
      ["freeze", "remove", "--env", "production"],
      ["freeze", "remove", "--id", "k3x9qa"],
      ["freeze", "remove", "--env", "production", "--id", "a b"],
      ["freeze", "remove", "--env", "production", "--id", ""],
      ["freeze", "frobnicate"],
      ["policy", "set", "--env", "production"],
      ["policy", "set", "--require-meta"],
      ["policy", "set", "--env", "production", "--clear", "--max-ttl", "2h"],
      ["policy", "set", "--env", "production", "--clear", "--require-meta"],
      ["policy", "set", "--env", "production", "--max-ttl", "1s"],
      ["policy", "set", "--env", "production", "--max-ttl", "8d"],
      ["policy", "set", "--env", "production", "--max-ttl", "soon"],
      ["policy", "set", "--env", "production", "--default-ttl", "2s"],
      ["policy", "set", "--env", "production", "--default-ttl", "8d"],
      ["policy", "set", "--env", "production", "--max-ttl", "2h", "--default-ttl", "3h"],
      ["policy", "show"],
      ["policy", "show", "--env", "a b"],
      ["policy", "sho", "--env", "production"],
    ];
    const before = await h.store.guard("PRODUCTION");
    const opened = h.opened;
    for (const args of cases) {
      const label = JSON.stringify(args).slice(0, 140);
      const r = await h.run(args);
      usage(r, label);
      assert.equal(r.opened, 0, `${label} opened the store`);
    }
    assert.equal(h.opened, opened);
    assert.deepEqual(await h.store.guard("PRODUCTION"), before);
  });

  await t.step("what each says", async () => {
    const said = async (args: string[]) => (await h.run(args)).stderr;
    assert.equal(
      await said(add("--reason", "r", "--weekly", "Fri-Mon")),
      'daplaya: invalid --weekly "Fri-Mon": expected e.g. "Fri 15:00-Mon 09:00" (day HH:MM-day HH:MM, local time in --tz)\n',
    );
    assert.equal(
      await said(add("--reason", "r", ...weekly, "--tz", "Mars/Olympus")),
      "daplaya: unknown time zone Mars/Olympus: use an IANA name such as Europe/Berlin or UTC\n",
    );
    assert.equal(
      await said(add("--reason", "r", "--from", "2026-01-02T00:00", "--until", "2026-01-01T00:00")),
      "daplaya: --until 2026-01-01T00:00 is not after --from 2026-01-02T00:00: a window must end after it starts\n",
    );
    assert.equal(
      await said(add("--reason", "r", "--from", "2025-12-24T00:00", "--until", "2025-12-27")),
      "daplaya: the window ended already: --until 2025-12-27 is 2025-12-27 00:00 UTC, before now (2026-01-01 00:00 UTC); nothing was added\n",
    );
    assert.equal(
      await said(add(...weekly)),
      'daplaya: missing --reason: say why, e.g. --reason "holidays"\n',
    );
    assert.equal(
      await said(add("--reason", "r")),
      'daplaya: missing schedule: give --from and --until (once), or --weekly "Fri 15:00-Mon 09:00" (every week)\n',
    );
    assert.equal(
      await said(add("--reason", "r", ...weekly, ...once)),
      "daplaya: give either --from and --until (once) or --weekly (every week), not both\n",
    );
    assert.equal(
      await said(["policy", "set", "--env", "production"]),
      "daplaya: nothing to set: give --require-meta, --max-ttl, --default-ttl, or --clear\n",
    );
    assert.equal(
      await said(["policy", "set", "--env", "production", "--clear", "--max-ttl", "2h"]),
      "daplaya: --clear drops every rule: give it alone, or only the rules to keep\n",
    );
    assert.equal(
      await said([
        "policy",
        "set",
        "--env",
        "production",
        "--max-ttl",
        "2h",
        "--default-ttl",
        "3h",
      ]),
      "daplaya: --default-ttl 3h is longer than --max-ttl 2h: a lock taken without --ttl would break the env's own max\n",
    );
    assert.equal(
      await said(["policy", "set", "--env", "production", "--max-ttl", "8d"]),
      "daplaya: invalid --max-ttl 8d: at most 7d\n",
    );
  });

  await t.step("freeze or policy alone: their help on stderr, exit 2", async () => {
    for (const group of ["freeze", "policy"]) {
      const r = await h.run([group]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^Usage: daplaya ${group} `));
      assert.equal(r.opened, 0);
    }
  });

  await t.step("a typo of a known env: exit 2 and nothing written, unless --new-env", async () => {
    const typo =
      "daplaya: env PRODUCTON has never been locked: did you mean PRODUCTION? (if PRODUCTON is a new env, add --new-env)\n";
    const freeze = addArgs("producton", "--reason", "r", ...weekly);
    const rules = ["policy", "set", "--env", "producton", "--require-meta"];
    for (const args of [freeze, rules]) {
      const r = await h.run(args);
      usage(r, args.join(" "));
      assert.equal(r.stderr, typo);
      assert.equal(await h.store.guard("PRODUCTON"), null);
    }
    ok(await h.run([...freeze, "--new-env"]));
    ok(await h.run([...rules, "--new-env"]));
    const policy = (await h.store.guard("PRODUCTON"))!.policy!;
    assert.deepEqual([policy.version, policy.rules, policy.freezes.length], [2, {
      requireMeta: true,
    }, 1]);
    // A new name far from the known ones needs no flag.
    ok(await h.run(addArgs("qa", "--reason", "r", ...weekly)));
  });
});

Deno.test("a lock during a freeze window: refused, waited out, granted after it", async (t) => {
  const h = harness();
  await known(h, "production");
  const id = await addWindow(
    h,
    "production",
    ...["--from", "2026-01-01T00:00Z", "--until", "2026-01-01T00:10Z", "--tz", "Europe/Berlin"],
    ...["--reason", "release train"],
  );
  const until = "2026-01-01 00:10 UTC (01:10 Europe/Berlin)";
  const line = frozenLine(id, "release train", until);
  const lock = (user: string, ...more: string[]) =>
    h.run(["lock", "--env", "production", "--user", user, ...more]);

  await t.step("--no-wait: exit 3, one line with the reason and when it ends", async () => {
    const r = await lock("bob", "--no-wait");
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, "", line]);
    assert.equal((await h.store.guard("PRODUCTION"))?.regular, undefined);
  });

  await t.step("--json: the refusal names the window", async () => {
    const r = await lock("bob", "--no-wait", "--json");
    assert.equal(r.code, 3);
    assert.deepEqual(JSON.parse(r.stdout), {
      acquired: false,
      heldBy: null,
      frozen: { id, reason: "release train", until: T0 + 10 * MIN, tz: "Europe/Berlin" },
      waiting: [],
    });
    assert.equal(r.stderr, line);
  });

  await t.step("run --no-wait: the same, and its command never starts", async () => {
    const command = quickCommand();
    const r = await h.run(
      ["run", "--env", "production", "--user", "bob", "--no-wait", "--", "deploy.sh"],
      { spawn: command.spawn },
    );
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, "", line]);
    assert.equal(command.counter.started, 0);
  });

  await t.step("--timeout shorter than the window: waits in line, then exit 3", async () => {
    const start = h.clock.monotonic();
    const r = await lock("bob", "--timeout", "2m", "--interval", "1m");
    assert.equal(r.code, 3);
    const lines = r.stderr.trimEnd().split("\n");
    assert.deepEqual(lines, [
      `Still frozen at env PRODUCTION: release train (window ${id}, until ${until}) (you are #1 in line; waited 0s)`,
      `Still frozen at env PRODUCTION: release train (window ${id}, until ${until}) (you are #1 in line; waited 1m)`,
      line.trimEnd() + "; gave up after waiting 2m",
    ]);
    assert.equal(h.clock.monotonic() - start, 2 * MIN);
    assert.deepEqual((await h.store.guard("PRODUCTION"))?.line ?? [], [], "it left the line");
  });

  await t.step("a lock already held when a window starts keeps it, and is refreshed", async () => {
    const other = harness();
    await known(other, "production");
    ok(await other.run(["lock", "--env", "production", "--user", "alice", "--ttl", "1h"]));
    ok(
      await other.run(addArgs("production", "--weekly", "Thu 00:00-Fri 00:00", "--reason", "thu")),
    );
    const r = ok(await other.run(["lock", "--env", "production", "--user", "alice"]));
    assert.equal(r.stdout, "Refreshed PRODUCTION for alice (CLI), lease 1h\n");
    const bob = await other.run(["lock", "--env", "production", "--user", "bob", "--no-wait"]);
    assert.equal(bob.code, 3);
    assert.match(bob.stderr, /^daplaya: env PRODUCTION is frozen: thu /);
  });

  await t.step("an uberlock is not stopped by a freeze, nor marked", async () => {
    const r = ok(await lock("root", "--uberlock", "--meta", "incident", "--json"));
    const d = JSON.parse(r.stdout);
    assert.equal(d.lock.uberlock, true);
    assert.equal(d.lock.overrodeFreeze, undefined);
    ok(await h.run(["release", "--env", "production", "--user", "root", "--uberlock"]));
  });

  await t.step("waiting: granted once the window has ended, not before", async () => {
    const r = ok0(await lock("carol", "--interval", "1m", "--timeout", "1h", "--json"));
    const d = JSON.parse(r.stdout);
    assert.ok(
      d.lock.createdAt >= T0 + 10 * MIN,
      `granted at ${new Date(d.lock.createdAt).toISOString()}`,
    );
    assert.ok(d.lock.createdAt < T0 + 12 * MIN);
    assert.match(r.stderr, /^Still frozen at env PRODUCTION: release train /);
    assert.equal(d.lock.overrodeFreeze, undefined);
    ok(await h.run(["release", "--env", "production", "--user", "carol"]));
  });

  await t.step("after the window, a lock is granted at once", async () => {
    const r = ok(await lock("bob", "--no-wait"));
    assert.equal(r.stdout, "Locked PRODUCTION for bob (CLI)\n");
  });
});

/** Exit 0 with anything on stderr (a waiting lock's progress lines). */
function ok0(r: Outcome): Outcome {
  assert.equal(r.code, 0, r.stderr);
  return r;
}

Deno.test("--override-freeze: needs an explicit --meta; the record names the window", async (t) => {
  const h = harness();
  await known(h, "production");
  const id = await addWindow(
    h,
    "production",
    ...["--weekly", "Wed 12:00-Fri 12:00", "--tz", "Europe/Berlin", "--reason", "code freeze"],
  );
  const lock = (...more: string[]) =>
    h.run(["lock", "--env", "production", "--user", "bob", "--no-wait", ...more]);
  const ci = { GITHUB_ACTIONS: "true", GITHUB_RUN_ID: "42", GITHUB_REPOSITORY: "acme/shop" };

  await t.step(
    "without --meta (the CI URL does not count), or with a blank one: exit 2",
    async () => {
      const before = await h.store.guard("PRODUCTION");
      for (
        const [args, env] of [
          [["--override-freeze"], {}],
          [["--override-freeze", "--meta", ""], {}],
          [["--override-freeze", "--meta", "  "], {}],
          [["--override-freeze"], ci],
          [["--override-freeze", "--uberlock", "--meta", "m"], {}],
        ] as [string[], Record<string, string>][]
      ) {
        const r = await h.run(
          ["lock", "--env", "production", "--user", "bob", "--no-wait", ...args],
          { env },
        );
        usage(r, args.join(" "));
        assert.equal(r.opened, 0);
      }
      assert.equal(
        (await lock("--override-freeze")).stderr,
        'daplaya: --override-freeze needs --meta saying why the freeze is overridden, e.g. --meta "hotfix for INC-123"\n',
      );
      assert.deepEqual(await h.store.guard("PRODUCTION"), before);
    },
  );

  await t.step("with --meta: granted, the line says which window it overrides", async () => {
    const r = ok(await lock("--override-freeze", "--meta", "hotfix INC-1"));
    assert.equal(
      r.stdout,
      `Locked PRODUCTION for bob (hotfix INC-1), overriding freeze window ${id}\n`,
    );
  });

  await t.step("the record keeps it: locks and locks --history", async () => {
    const active = doc(await h.run(["locks", "--env", "production", "--json"]));
    assert.equal(active.locks[0].overrodeFreeze, id);
    ok(await h.run(["release", "--env", "production", "--user", "bob"]));
    const history = doc(await h.run(["locks", "--env", "production", "--history", "--json"]));
    const bob = history.locks.find((l: { user: string }) => l.user === "bob");
    assert.deepEqual([bob.overrodeFreeze, bob.meta, bob.active], [id, "hotfix INC-1", false]);
    const setup = history.locks.find((l: { user: string }) => l.user === "setup");
    assert.equal(setup.overrodeFreeze, undefined);
  });

  await t.step("--json shows it too; outside a window nothing is recorded", async () => {
    const d = doc(await lock("--override-freeze", "--meta", "again", "--json"));
    assert.equal(d.lock.overrodeFreeze, id);
    ok(await h.run(["release", "--env", "production", "--user", "bob"]));
    h.clock.advance(2 * 24 * HOUR); // Saturday: the window is over
    const later = doc(await lock("--override-freeze", "--meta", "not needed", "--json"));
    assert.equal(later.lock.overrodeFreeze, undefined);
  });
});

Deno.test("policy set and show: rules on meta and ttl, and what they do to lock and run", async (t) => {
  const h = harness();
  await known(h, "production");
  const lock = (user: string, ...more: string[]) =>
    h.run(["lock", "--env", "production", "--user", user, "--no-wait", ...more]);
  const release = (user: string) =>
    h.run(["release", "--env", "production", "--user", user]).then(ok);
  const set = (...more: string[]) => h.run(["policy", "set", "--env", "production", ...more]);
  const ci = { GITHUB_ACTIONS: "true", GITHUB_RUN_ID: "42", GITHUB_REPOSITORY: "acme/shop" };

  await t.step("policy show of an env without rules", async () => {
    assert.equal(
      ok(await h.run(["policy", "show", "--env", "production"])).stdout,
      "Rules of env PRODUCTION: none\nNo freeze windows on env PRODUCTION\n",
    );
    assert.deepEqual(doc(await h.run(["policy", "show", "--env", "production", "--json"])), {
      env: "PRODUCTION",
      version: 0,
      rules: { requireMeta: false },
      freezes: [],
    });
  });

  await t.step("--require-meta: a lock without --meta is refused, nothing written", async () => {
    assert.equal(
      ok(await set("--require-meta")).stdout,
      "Rules of env PRODUCTION: require meta (were: none)\n",
    );
    const before = await h.store.guard("PRODUCTION");
    for (const more of [[], ["--meta", ""], ["--meta", "  "], ["--uberlock"]]) {
      const r = await lock("bob", ...more);
      usage(r, more.join(" "));
      assert.equal(
        r.stderr,
        `daplaya: env PRODUCTION requires a meta saying why: add --meta "…" (see 'daplaya policy show --env PRODUCTION'); nothing was locked\n`,
      );
    }
    const command = quickCommand();
    const run = await h.run(
      ["run", "--env", "production", "--user", "bob", "--", "deploy.sh"],
      { spawn: command.spawn },
    );
    usage(run, "run");
    assert.equal(command.counter.started, 0);
    assert.deepEqual(await h.store.guard("PRODUCTION"), before);
  });

  await t.step("--require-meta: an explicit --meta, or the CI run's URL, is granted", async () => {
    assert.equal(
      ok(await lock("bob", "--meta", "deploy v2")).stdout,
      "Locked PRODUCTION for bob (deploy v2)\n",
    );
    await release("bob");
    assert.equal(
      ok(await h.run(["lock", "--env", "production", "--user", "ci", "--no-wait"], { env: ci }))
        .stdout,
      "Locked PRODUCTION for ci (https://github.com/acme/shop/actions/runs/42)\n",
    );
    await release("ci");
  });

  await t.step("set replaces the rules: --default-ttl and --max-ttl", async () => {
    assert.equal(
      ok(await set("--max-ttl", "2h", "--default-ttl", "30m")).stdout,
      "Rules of env PRODUCTION: max ttl 2h, default ttl 30m (were: require meta)\n",
    );
    assert.equal(
      ok(await set("--default-ttl", "30m", "--max-ttl", "2h")).stdout,
      "Rules of env PRODUCTION: max ttl 2h, default ttl 30m (unchanged)\n",
    );
    assert.deepEqual((await h.store.guard("PRODUCTION"))!.policy!.rules, {
      maxTtlMs: 2 * HOUR,
      defaultTtlMs: 30 * MIN,
    });
  });

  await t.step("--default-ttl: a lock without --ttl gets it", async () => {
    assert.equal(ok(await lock("bob")).stdout, "Locked PRODUCTION for bob (CLI), lease 30m\n");
    const [held] = doc(await h.run(["locks", "--json"])).locks;
    assert.deepEqual([held.leaseMs, held.expiresAt], [30 * MIN, held.createdAt + 30 * MIN]);
    await release("bob");
  });

  await t.step("--max-ttl: a longer --ttl is refused (exit 2), a shorter one kept", async () => {
    const before = await h.store.guard("PRODUCTION");
    const r = await lock("bob", "--ttl", "3h");
    usage(r, "--ttl 3h");
    assert.equal(
      r.stderr,
      "daplaya: --ttl 3h is longer than env PRODUCTION allows (max ttl 2h) (see 'daplaya policy show --env PRODUCTION'); nothing was locked\n",
    );
    assert.deepEqual(await h.store.guard("PRODUCTION"), before);
    assert.equal(
      ok(await lock("bob", "--ttl", "1h")).stdout,
      "Locked PRODUCTION for bob (CLI), lease 1h\n",
    );
    await release("bob");
  });

  await t.step("a max ttl without a default: a lock without --ttl gets the max", async () => {
    assert.equal(
      ok(await set("--max-ttl", "2h")).stdout,
      "Rules of env PRODUCTION: max ttl 2h (were: max ttl 2h, default ttl 30m)\n",
    );
    assert.equal(ok(await lock("bob")).stdout, "Locked PRODUCTION for bob (CLI), lease 2h\n");
    await release("bob");
  });

  await t.step(
    "run keeps its own lease: a max ttl shortens it, a default ttl does not apply",
    async () => {
      const run = async (...more: string[]) => {
        const command = quickCommand();
        const r = await h.run(
          ["run", "--env", "production", "--user", "ci", ...more, "--", "deploy.sh"],
          { spawn: command.spawn },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(command.counter.started, 1);
        return r.stderr.split("\n")[0];
      };
      ok(await set("--max-ttl", "1m"));
      assert.equal(await run(), "daplaya: Locked PRODUCTION for ci (CLI), lease 1m");
      ok(await set("--default-ttl", "30m"));
      assert.equal(await run(), "daplaya: Locked PRODUCTION for ci (CLI), lease 2m");
      assert.equal(await run("--ttl", "5m"), "daplaya: Locked PRODUCTION for ci (CLI), lease 5m");
    },
  );

  await t.step("policy show: the rules and the windows, one line each; --json", async () => {
    ok(await set("--require-meta", "--max-ttl", "2h", "--default-ttl", "30m"));
    const weekend = await addWindow(
      h,
      "production",
      ...["--weekly", "Fri 15:00-Mon 09:00", "--tz", "Europe/Berlin", "--reason", "weekend"],
    );
    const now = await addWindow(
      h,
      "production",
      ...["--from", "2026-01-01T00:00Z", "--until", "2026-01-01T06:00Z", "--reason", "migration"],
    );
    const r = ok(await h.run(["policy", "show", "--env", "production"]));
    assert.equal(
      r.stdout,
      [
        "Rules of env PRODUCTION: require meta, max ttl 2h, default ttl 30m",
        `Freeze window ${now}: 2026-01-01 00:00 to 2026-01-01 06:00 UTC (migration), added by ops@example.com; in force now, until 2026-01-01 06:00 UTC`,
        `Freeze window ${weekend}: every Fri 15:00-Mon 09:00 Europe/Berlin (weekend), added by ops@example.com; next from 2026-01-02 14:00 UTC (15:00 Europe/Berlin) until 2026-01-05 08:00 UTC (09:00 Europe/Berlin)`,
        "",
      ].join("\n"),
    );
    const d = doc(await h.run(["policy", "show", "--env", "production", "--json"]));
    const list = doc(await h.run(["freeze", "list", "--env", "production", "--json"]));
    assert.deepEqual(d, {
      env: "PRODUCTION",
      version: (await h.store.guard("PRODUCTION"))!.policy!.version,
      rules: { requireMeta: true, maxTtlMs: 2 * HOUR, defaultTtlMs: 30 * MIN },
      freezes: list.freezes,
    });
  });

  await t.step("policy set --json: the rules now and before", async () => {
    const d = doc(await set("--require-meta", "--json"));
    assert.deepEqual(d, {
      env: "PRODUCTION",
      version: (await h.store.guard("PRODUCTION"))!.policy!.version,
      rules: { requireMeta: true },
      before: { requireMeta: true, maxTtlMs: 2 * HOUR, defaultTtlMs: 30 * MIN },
    });
  });

  await t.step("--clear drops the rules, the windows stay", async () => {
    const guard: Guard = (await h.store.guard("PRODUCTION"))!;
    assert.equal(
      ok(await set("--clear")).stdout,
      "Rules of env PRODUCTION: none (were: require meta)\n",
    );
    const after = (await h.store.guard("PRODUCTION"))!.policy!;
    assert.deepEqual(after.rules, {});
    assert.deepEqual(after.freezes, guard.policy!.freezes);
    h.clock.advance(7 * HOUR); // after the one-off window, before the weekend
    assert.equal(ok(await lock("bob")).stdout, "Locked PRODUCTION for bob (CLI)\n");
    assert.equal(ok(await set("--clear")).stdout, "Rules of env PRODUCTION: none (unchanged)\n");
  });
});
