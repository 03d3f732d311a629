/**
 * Freeze windows with real CLI processes against DynamoDB Local: a weekly window in a zone far
 * from UTC that covers the real now, a waiting lock granted when a window ends (not before),
 * waiters granted one at a time once a window is removed, and a weekly Berlin window across both
 * daylight-saving switches, judged by a process whose clock `faketime` sets.
 *
 * Every step has its own env and they run side by side; every bound on time below is a bound for
 * a hang, not a speed check.
 */
import assert from "node:assert/strict";
import {
  type CliResult,
  daplaya,
  daplayaCommand,
  denoRun,
  ROOT,
} from "../../scripts/dev/daplaya.ts";
import { localEnv, localStore, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";
import { formatInstant, occurrenceAt } from "../../src/core/freeze.ts";
import { systemClock } from "../../src/core/clock.ts";
import type { Freeze, LockRecord } from "../../src/core/model.ts";
import { Policies } from "../../src/core/policy.ts";
import { hasFaketime } from "../support/faketime.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** Polls until `fn` is true; `ms` bounds a hang, it is not a speed check. */
async function until(fn: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** An instant as `--from`/`--until` take it with an explicit offset, to the second. */
const isoZ = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** `Fri 15:00` for a zoned time (to the minute, rounded down). */
const weekPoint = (z: Temporal.ZonedDateTime) =>
  `${DAYS[z.dayOfWeek - 1]} ${String(z.hour).padStart(2, "0")}:${
    String(z.minute).padStart(2, "0")
  }`;

Deno.test("freeze windows with real processes", async (t) => {
  const ddb = await startDynamoLocal();
  const env = localEnv(ddb.endpoint);
  const store = localStore(ddb.endpoint);
  const children: Deno.ChildProcess[] = [];
  const dir = await Deno.makeTempDir({ prefix: "daplaya-freeze-" });
  const step = (name: string, fn: () => Promise<void>) =>
    t.step({ name, fn, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false });
  const cli = (...args: string[]) => daplaya(args, env);
  async function ok(...args: string[]): Promise<CliResult> {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r;
  }
  /** `daplaya ARGS` in the background; `done` is its result. */
  function start(args: string[]): Promise<CliResult> {
    const child = daplayaCommand(args, env).spawn();
    children.push(child);
    return child.output().then((o) => ({
      code: o.code,
      stdout: decode(o.stdout),
      stderr: decode(o.stderr),
    }));
  }
  /** Adds a window and returns its id. */
  async function addWindow(name: string, ...more: string[]): Promise<string> {
    const r = await ok("freeze", "add", "--env", name, "--user", "ops@example.com", ...more);
    const id = /^Added freeze window ([a-z2-9]{6}) on env /.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    return id;
  }
  const line = async (name: string) => (await store.guard(name.toUpperCase()))?.line ?? [];
  const history = async (name: string): Promise<LockRecord[]> =>
    JSON.parse((await ok("locks", "--env", name, "--history", "--limit", "50", "--json")).stdout)
      .locks;

  try {
    await ok("init");
    await Promise.all([
      step(
        "a weekly window in a zone far from UTC covers the real now: refused, overridden",
        async () => {
          const now = Date.now();
          // A zone where today is another weekday than in UTC: Kiritimati (UTC+14) from 10:00
          // UTC on, Pago Pago (UTC-11) before 11:00 UTC.
          const tz = new Date(now).getUTCHours() >= 10 ? "Pacific/Kiritimati" : "Pacific/Pago_Pago";
          const local = Temporal.Instant.fromEpochMilliseconds(now).toZonedDateTimeISO(tz);
          assert.notEqual(local.dayOfWeek, (new Date(now).getUTCDay() + 6) % 7 + 1);
          const from = local.subtract({ hours: 1 });
          const to = local.add({ hours: 1 });
          const spec = `${weekPoint(from)}-${weekPoint(to)}`;
          const end = to.round({ smallestUnit: "minute", roundingMode: "floor" }).epochMilliseconds;
          // The control: the same spec read as UTC does not cover now.
          const asUtc: Freeze = {
            id: "x",
            reason: "",
            tz: "UTC",
            schedule: { weekly: spec },
            addedBy: "",
            addedAt: 0,
          };
          assert.equal(occurrenceAt(asUtc, now), undefined, `${spec} read as UTC covers now`);

          const id = await addWindow(
            "kiri",
            ...["--weekly", spec, "--tz", tz, "--reason", "far away", "--new-env"],
          );
          const refused = await cli("lock", "--env", "kiri", "--user", "bob", "--no-wait");
          assert.equal(refused.code, 3, refused.stderr);
          assert.equal(refused.stdout, "");
          assert.equal(
            refused.stderr,
            `daplaya: env KIRI is frozen: far away (window ${id}, until ${
              formatInstant(end, tz)
            }); to lock anyway give --override-freeze with --meta saying why\n`,
          );
          assert.match(
            refused.stderr,
            new RegExp(`UTC \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d ${tz}\\)\\)`),
          );

          const list = JSON.parse((await ok("freeze", "list", "--env", "kiri", "--json")).stdout);
          assert.equal(list.freezes.length, 1);
          assert.equal(list.freezes[0].inForce, true);
          assert.equal(list.freezes[0].current.end, end);

          const noMeta = await cli("lock", "--env", "kiri", "--user", "bob", "--override-freeze");
          assert.equal(noMeta.code, 2, noMeta.stderr);
          const granted = await ok(
            ...["lock", "--env", "kiri", "--user", "bob", "--no-wait"],
            ...["--override-freeze", "--meta", "hotfix"],
          );
          assert.equal(
            granted.stdout,
            `Locked KIRI for bob (hotfix), overriding freeze window ${id}\n`,
          );
          await ok("release", "--env", "kiri", "--user", "bob");
          const [record] = await history("kiri");
          assert.deepEqual(
            [record.user, record.meta, record.overrodeFreeze, record.active],
            ["bob", "hotfix", id, false],
          );
        },
      ),

      step("a waiting lock is granted when the window ends, not before", async () => {
        const now = Date.now();
        const gate = await addWindow(
          "ending",
          ...["--from", isoZ(now - 60_000), "--until", isoZ(now + 600_000), "--reason", "gate"],
          "--new-env",
        );
        const waiter = start([
          ...["lock", "--env", "ending", "--user", "carol", "--interval", "1s"],
          ...["--timeout", "60s", "--json"],
        ]);
        await until(async () => (await line("ending")).length === 1, 60_000, "carol in line");
        // Swapped at once (in this process): a window that ends in about 3 seconds for the gate.
        const end = Math.ceil((Date.now() + 3000) / 1000) * 1000;
        const policies = new Policies(store, systemClock);
        await policies.addFreeze("ENDING", {
          id: "short1",
          reason: "short",
          tz: "UTC",
          schedule: { from: now - 60_000, until: end },
          addedBy: "ops@example.com",
          addedAt: Date.now(),
        });
        await policies.removeFreeze("ENDING", gate);
        assert.ok(Date.now() < end - 2000, "the swap took too long to tell anything");
        const r = await waiter;
        assert.equal(r.code, 0, r.stderr);
        const lock = JSON.parse(r.stdout).lock as LockRecord;
        assert.ok(lock.createdAt >= end, `granted ${end - lock.createdAt} ms before the end`);
        const waits = r.stderr.trimEnd().split("\n");
        assert.match(
          waits[0],
          /^Still frozen at env ENDING: gate \(window \w+, until .*\) \(you are #1 in line; waited \d+s\)$/,
        );
        for (const w of waits) assert.match(w, /^Still frozen at env ENDING: (gate|short) /);
        assert.match(r.stderr, /\nStill frozen at env ENDING: short \(window short1, until /);
        await ok("release", "--env", "ending", "--user", "carol");
      }),

      step(
        "waiters during a window, then it is removed: one at a time, in line order",
        async () => {
          const now = Date.now();
          const id = await addWindow(
            "crowd",
            ...["--from", isoZ(now - 60_000), "--until", isoZ(now + 600_000)],
            ...["--reason", "crowd control", "--new-env"],
          );
          const log = `${dir}/crowd.log`;
          const script = `echo "start $DAPLAYA_LOCK_ID" >> ${log}; sleep 0.2; ` +
            `echo "end $DAPLAYA_LOCK_ID" >> ${log}`;
          const users = ["w1", "w2", "w3", "w4"];
          const runs = users.map((user) =>
            start([
              ...["run", "--env", "crowd", "--user", user, "--interval", "1s", "--timeout", "90s"],
              ...["--", "sh", "-c", script],
            ])
          );
          await until(async () => (await line("crowd")).length === 4, 60_000, "4 in line");
          const order = (await line("crowd")).map((p) => p.user);
          assert.equal((await store.guard("CROWD"))?.regular, undefined, "nobody holds it");
          await ok("freeze", "remove", "--env", "crowd", "--id", id);
          for (const r of await Promise.all(runs)) {
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, /^Still frozen at env CROWD: crowd control /);
          }
          // Each command ran alone: start and end of one lock, then the next.
          const events = (await Deno.readTextFile(log)).trim().split("\n").map((l) => l.split(" "));
          assert.equal(events.length, 8);
          for (let i = 0; i < 8; i += 2) {
            assert.deepEqual(
              [events[i][0], events[i + 1][0], events[i + 1][1]],
              ["start", "end", events[i][1]],
            );
          }
          const records = (await history("crowd")).sort((a, b) => a.createdAt - b.createdAt);
          assert.deepEqual(records.map((r) => r.user), order, "granted in line order");
          for (let i = 1; i < records.length; i++) {
            assert.ok(records[i].createdAt >= records[i - 1].releasedAt!, "never two at once");
          }
        },
      ),

      step(
        "across daylight saving: a weekly Berlin window, by the clock of the process",
        async () => {
          if (!hasFaketime()) {
            // .ci/run installs faketime; without it only this step is skipped.
            console.warn("faketime is not installed: skipping the daylight-saving step");
            return;
          }
          await addWindow(
            "dst",
            ...["--weekly", "Fri 15:00-Mon 09:00", "--tz", "Europe/Berlin", "--reason", "weekend"],
            "--new-env",
          );
          /** `lock --no-wait` in a process whose clock starts at `at` (UTC). */
          const lockAt = async (at: string) => {
            const out = await denoRun(
              `${ROOT}main.ts`,
              ["lock", "--env", "dst", "--user", "dana", "--no-wait"],
              { ...env, TZ: "UTC", FAKETIME_DONT_FAKE_MONOTONIC: "1" },
              { wrapper: ["faketime", "-f", `@${at}`] },
            ).output();
            return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
          };
          const frozen = (end: string) =>
            `daplaya: env DST is frozen: weekend \\(window \\w+, until ${end} \\(09:00 Europe/Berlin\\)\\); `;
          // Summer time began on Sunday 2026-03-29: Monday 09:00 in Berlin is 07:00 UTC.
          const march = await lockAt("2026-03-30 06:59:00");
          assert.equal(march.code, 3, march.stderr);
          assert.match(march.stderr, new RegExp(`^${frozen("2026-03-30 07:00 UTC")}`));
          const marchOk = await lockAt("2026-03-30 07:01:00");
          assert.equal(marchOk.code, 0, marchOk.stderr);
          assert.equal(marchOk.stdout, "Locked DST for dana (CLI)\n");
          await ok("release", "--env", "dst", "--user", "dana");
          // Winter time began on Sunday 2026-10-25: Monday 09:00 in Berlin is 08:00 UTC.
          const october = await lockAt("2026-10-26 07:59:00");
          assert.equal(october.code, 3, october.stderr);
          assert.match(october.stderr, new RegExp(`^${frozen("2026-10-26 08:00 UTC")}`));
          const octoberOk = await lockAt("2026-10-26 08:01:00");
          assert.equal(octoberOk.code, 0, octoberOk.stderr);
          await ok("release", "--env", "dst", "--user", "dana");
          // The grants carry the faked clocks: the windows were judged by them.
          const taken = (await history("dst")).map((r) => r.createdAt).sort((a, b) => a - b);
          assert.equal(taken.length, 2);
          const minute = (ms: number) => Math.floor(ms / 60_000) * 60_000;
          assert.ok(
            minute(taken[0]) >= Date.UTC(2026, 2, 30, 7, 1) &&
              taken[0] < Date.UTC(2026, 2, 30, 7, 5),
          );
          assert.ok(
            minute(taken[1]) >= Date.UTC(2026, 9, 26, 8, 1) &&
              taken[1] < Date.UTC(2026, 9, 26, 8, 5),
          );
        },
      ),
    ]);
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
    }
    store.close();
    await Deno.remove(dir, { recursive: true });
    await ddb.stop();
  }
});
