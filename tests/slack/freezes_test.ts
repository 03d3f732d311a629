/**
 * Env policies in Slack, in-process through the real handler on the in-memory store: a `lock`
 * refused by a freeze window (its reason, end and id; Join the line waits it out) or by a rule
 * (a required meta), and `/daplaya freezes`. Slack's Web API and response_url are a real local
 * HTTP server (tests/support/fake_slack.ts). Requests are signed now, so the handler runs on the
 * real clock; the listing reads its windows on a manual clock at a fixed instant.
 */
import assert from "node:assert/strict";
import { type Clock, realSleep, systemClock } from "../../src/core/clock.ts";
import { FailureError } from "../../src/core/errors.ts";
import { formatInstant } from "../../src/core/freeze.ts";
import { Locker } from "../../src/core/locker.ts";
import type { Freeze } from "../../src/core/model.ts";
import { Policies } from "../../src/core/policy.ts";
import { frozenMessage } from "../../src/slack/freeze_messages.ts";
import type { SlackHandlerDeps } from "../../src/slack/handler.ts";
import { helpMessage, JOIN_ACTION, RELEASE_ACTION } from "../../src/slack/messages.ts";
import { parseJoinValue, parseSlashText } from "../../src/slack/parse.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { acquireOptions } from "../support/acquire.ts";
import { type Json, startFakeSlack } from "../support/fake_slack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { slackReplica } from "../support/slack_replica.ts";

const SECRET = "freezes-test-secret";
const BOT_TOKEN = "xoxb-freezes-test";
const INTERVAL_MS = 100;

type Slack = ReturnType<typeof startFakeSlack>;

/** A `serve` on `store`, its policies on `clock` (the real one unless given). */
function setup(
  slack: Slack,
  store: MemoryStore,
  o: Partial<SlackHandlerDeps> & { policyClock?: Clock } = {},
) {
  return slackReplica(slack, store, {
    policies: new Policies(store, o.policyClock ?? systemClock),
    signingSecret: SECRET,
    botToken: BOT_TOKEN,
    waitIntervalMs: INTERVAL_MS,
    ...o,
  });
}

const buttonOf = (answer: Json, actionId: string) =>
  answer.blocks.filter((b: Json) => b.type === "actions").flatMap((b: Json) => b.elements)
    .find((e: Json) => e.action_id === actionId);

/** Every text of an answer's blocks, one per line. */
const blockTexts = (answer: Json): string =>
  answer.blocks.flatMap((b: Json) =>
    b.type === "section"
      ? [b.text.text]
      : b.type === "context"
      ? b.elements.map((e: Json) => e.text)
      : []
  ).join("\n");

function freeze(
  id: string,
  reason: string,
  schedule: Freeze["schedule"],
  tz = "Europe/Berlin",
): Freeze {
  return { id, reason, tz, schedule, addedBy: "ops@example.com", addedAt: 0 };
}

const OVERRIDE =
  'No override from Slack: to lock anyway, use the CLI, `daplaya lock --env PRODUCTION --override-freeze --meta "why"`.';

Deno.test("Slack during a freeze window and under rules", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN);
  try {
    await t.step(
      "lock during a window: its reason, end (UTC and its zone) and id; nothing locked; uberlock goes",
      async () => {
        const store = new MemoryStore();
        const cli = new Locker(store, systemClock, realSleep);
        const alice = await cli.acquire(
          acquireOptions("PRODUCTION", "alice@example.com", { newEnv: true, meta: "deploy 8" }),
        );
        const until = Date.UTC(2099, 11, 27);
        await new Policies(store, systemClock).addFreeze(
          "PRODUCTION",
          freeze("k3x9qa", "holidays", { from: Date.now() - 60_000, until }),
        );
        const { slash, log } = setup(slack, store);
        // Held, and frozen: the freeze first, then who holds it.
        const held = await slash("U1", "lock production deploy 9");
        assert.equal(held.response_type, "ephemeral");
        assert.match(
          held.text,
          /^\*PRODUCTION\* is frozen: holidays — until 2099-12-27 00:00 UTC \(01:00 Europe\/Berlin\)\. Window `k3x9qa`\. It is held by \*alice@example\.com\* \(a lock since \d{4}-\d\d-\d\dT[\d:]+Z\)\.$/,
        );
        assert.match(held.blocks[0].text.text, /^:snowflake: \*PRODUCTION\* is frozen: /);
        await cli.releaseHeld(alice);
        const frozen = await slash("U1", "lock production deploy 9");
        assert.equal(
          frozen.text,
          "*PRODUCTION* is frozen: holidays — until 2099-12-27 00:00 UTC (01:00 Europe/Berlin). Window `k3x9qa`.",
        );
        // The window outlasts the longest wait in line (8h): no Join, and the CLI's override.
        assert.equal(buttonOf(frozen, JOIN_ACTION), undefined);
        assert.equal(
          frozen.blocks[1].elements[0].text,
          `Nothing was changed. The freeze lasts longer than I keep a place in line (8h), so joining the line now would not get it: try again when it is over. ${OVERRIDE}`,
        );
        assert.deepEqual(await store.active("PRODUCTION"), []);
        assert.match(log.at(-1)!, / cmd=lock env=PRODUCTION user=U1 result=frozen$/);
        // An uberlock is not stopped by a freeze.
        const uber = await slash("U2", "uberlock production incident 7");
        assert.equal(uber.response_type, "in_channel", uber.text);
        assert.match(uber.text, /^\*PRODUCTION\* uberlocked by \*u2@example\.com\*/);
        assert.equal((await store.active("PRODUCTION"))[0].uberlock, true);
      },
    );

    await t.step(
      "Join the line during a window: the wait lasts through it, then the env is yours",
      async () => {
        const store = new MemoryStore();
        const policies = new Policies(store, systemClock);
        const until = Date.now() + 2500;
        await policies.addFreeze(
          "THAW",
          freeze("thaw01", "release train", { from: Date.now() - 1000, until }),
          true,
        );
        const { slash, click, log, handler } = setup(slack, store);
        const end = formatInstant(until, "Europe/Berlin");
        const refused = await slash("U1", "lock thaw deploy 9");
        assert.equal(
          refused.text,
          `*THAW* is frozen: release train — until ${end}. Window \`thaw01\`.`,
        );
        assert.equal(
          refused.blocks[1].elements[0].text,
          `Nothing was changed. *Join the line* to get it in turn once the freeze is over: I will message you when it is yours (\`leases THAW\` shows the line). ${
            OVERRIDE.replace("PRODUCTION", "THAW")
          }`,
        );
        const join = buttonOf(refused, JOIN_ACTION);
        assert.deepEqual(parseJoinValue(join.value), {
          env: "THAW",
          meta: "deploy 9",
          metaExplicit: true,
          command: "/dpl",
        });
        const joined = await click("U1", join);
        assert.equal(joined.replace_original, true);
        assert.equal(
          joined.text,
          `You are #1 in line for *THAW*. It is frozen (release train) until ${end}: I will message you when it is yours, once the freeze is over. \`/dpl cancel THAW\` leaves the line.`,
        );
        // Meanwhile the next one hears that someone waits.
        assert.match(
          (await slash("U2", "lock thaw")).text,
          /^\*THAW\* is frozen: .* Window `thaw01`\. 1 waits in line for it\.$/,
        );
        assert.deepEqual(await store.active("THAW"), []);
        const [dm] = await slack.chatPosts((p) => p.channel === "U1" && /THAW/.test(p.text));
        assert.equal(
          dm.text,
          "*THAW* is yours: your turn in line came, and it is locked by *u1@example.com* (meta: deploy 9)",
        );
        const [lock] = await store.active("THAW");
        assert.deepEqual([lock.user, lock.meta], ["u1@example.com", "deploy 9"]);
        assert.ok(lock.createdAt >= until, `${lock.createdAt - until} ms after the window`);
        assert.equal(JSON.parse(buttonOf({ blocks: dm.blocks }, RELEASE_ACTION).value).id, lock.id);
        await handler.drain();
        assert.ok(log.some((l) => / wait env=THAW user=U1 result=granted told=dm$/.test(l)));
      },
    );

    await t.step("a required meta: the rule's line and how to give a meta in Slack", async () => {
      const store = new MemoryStore();
      await new Policies(store, systemClock).setRules("PROD", { requireMeta: true }, true);
      const { slash, log } = setup(slack, store);
      const refused = await slash("U1", "lock prod");
      assert.equal(refused.response_type, "ephemeral");
      assert.equal(
        refused.text,
        `env PROD requires a meta saying why: add --meta "…" (see 'daplaya policy show --env PROD'); nothing was locked`,
      );
      assert.equal(
        refused.blocks[1].elements[0].text,
        "In Slack, the meta is the text after the env: `/dpl lock PROD deploy v1.2.3 for INC-42`.",
      );
      assert.match(log.at(-1)!, / cmd=lock env=PROD user=U1 result=rule$/);
      const uber = await slash("U1", "uberlock prod");
      assert.match(blockTexts(uber), /`\/dpl uberlock PROD deploy v1\.2\.3 for INC-42`/);
      assert.deepEqual(await store.active("PROD"), []);
      const locked = await slash("U1", "lock prod deploy 7");
      assert.equal(locked.response_type, "in_channel", locked.text);
      assert.equal((await store.active("PROD"))[0].meta, "deploy 7");
    });

    await t.step("a rule set while a Slack user waits: told, out of line", async () => {
      const store = new MemoryStore();
      const cli = new Locker(store, systemClock, realSleep);
      await cli.acquire(acquireOptions("RULED", "alice@example.com", { newEnv: true }));
      const { slash, click, handler } = setup(slack, store);
      const u1Join = buttonOf(await slash("U1", "lock ruled"), JOIN_ACTION);
      const u2Join = buttonOf(await slash("U2", "lock ruled"), JOIN_ACTION);
      assert.match((await click("U1", u1Join)).text, /^You are #1 in line for \*RULED\*; /);
      await new Policies(store, systemClock).setRules("RULED", { requireMeta: true });
      // The next renewal sees the rule: U1 leaves the line and is told how to give a meta.
      const [told] = await slack.chatPosts((p) => p.channel === "U1" && /RULED/.test(p.text));
      assert.equal(
        told.text,
        `You are no longer in line for *RULED*: env RULED requires a meta saying why: add --meta "…" (see 'daplaya policy show --env RULED'); nothing was locked. In Slack, the meta is the text after the env: \`/dpl lock RULED why…\`, then *Join the line* to wait again.`,
      );
      assert.deepEqual((await store.guard("RULED"))?.line ?? [], []);
      // A Join clicked after the rule came: the rule's answer, not an unknown state.
      const late = await click("U2", u2Join);
      assert.match(late.text, /^env RULED requires a meta saying why/);
      assert.deepEqual((await store.guard("RULED"))?.line ?? [], []);
      await handler.drain();
    });
  } finally {
    await slack.close();
  }
});

Deno.test("/daplaya freezes: windows in force and coming up", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN);
  // Sunday 2026-12-20 12:00 UTC (13:00 in Berlin).
  const clock = new ManualClock(Date.UTC(2026, 11, 20, 12));
  const store = new MemoryStore();
  const policies = new Policies(store, clock);
  const utc = (d: string) => Date.parse(`${d}Z`);
  await policies.addFreeze(
    "PRODUCTION",
    freeze("hol001", "holidays", { from: utc("2026-12-19T23:00"), until: utc("2026-12-26T23:00") }),
    true,
  );
  await policies.addFreeze(
    "PRODUCTION",
    freeze("old001", "last year", {
      from: utc("2025-12-19T23:00"),
      until: utc("2025-12-26T23:00"),
    }),
  );
  await policies.addFreeze(
    "PRODUCTION",
    freeze("ny0001", "new year", {
      from: utc("2027-01-02T08:00"),
      until: utc("2027-01-02T18:00"),
    }, "UTC"),
  );
  await policies.addFreeze(
    "STAGING",
    freeze("wk0001", "nightly batch", { weekly: "Tue 18:00-Wed 06:00" }, "America/New_York"),
    true,
  );
  await policies.addFreeze(
    "STAGING",
    freeze("mig001", "db migration", {
      from: utc("2026-12-20T10:00"),
      until: utc("2026-12-21T06:00"),
    }, "UTC"),
  );
  await policies.addFreeze(
    "STAGING",
    freeze("aud001", "audit <b> & co", {
      from: utc("2027-01-04T08:00"),
      until: utc("2027-01-04T18:00"),
    }, "UTC"),
  );
  await policies.setRules("QA", { requireMeta: true }, true);
  const lines = {
    holidays:
      "• *PRODUCTION* holidays · in force until 2026-12-26 23:00 UTC (2026-12-27 00:00 Europe/Berlin) · 2026-12-20 00:00 to 2026-12-27 00:00 Europe/Berlin · window `hol001`",
    migration:
      "• *STAGING* db migration · in force until 2026-12-21 06:00 UTC · 2026-12-20 10:00 to 2026-12-21 06:00 UTC · window `mig001`",
    batch:
      "• *STAGING* nightly batch · from 2026-12-22 23:00 UTC (18:00 America/New_York) until 2026-12-23 11:00 UTC (06:00 America/New_York) · every Tue 18:00-Wed 06:00 America/New_York · window `wk0001`",
    newYear:
      "• *PRODUCTION* new year · from 2027-01-02 08:00 UTC until 2027-01-02 18:00 UTC · 2027-01-02 08:00 to 2027-01-02 18:00 UTC · window `ny0001`",
    audit:
      "• *STAGING* audit &lt;b&gt; &amp; co · from 2027-01-04 08:00 UTC until 2027-01-04 18:00 UTC · 2027-01-04 08:00 to 2027-01-04 18:00 UTC · window `aud001`",
  };
  const { slash, log } = setup(slack, store, { policyClock: clock });
  try {
    await t.step("every env: in force first, then by next start; over ones left out", async () => {
      const all = await slash("U1", "freezes");
      assert.equal(all.response_type, "ephemeral");
      assert.equal(
        all.text,
        [
          "Freeze windows: 2 in force, 3 coming up",
          lines.holidays,
          lines.migration,
          lines.batch,
          lines.newYear,
          lines.audit,
        ].join("\n"),
      );
      assert.match(all.blocks[1].text.text, /^• :snowflake: \*PRODUCTION\* holidays /);
      assert.match(all.blocks[1].text.text, /\n• :calendar: \*STAGING\* nightly batch /);
      assert.equal(
        all.blocks.at(-1).elements[0].text,
        "While a window is in force, a regular lock is refused; an uberlock is not.",
      );
      assert.match(log.at(-1)!, / cmd=freezes user=U1 result=listed$/);
    });

    await t.step("one env; an env without windows; time goes on", async () => {
      const staging = await slash("U1", "freezes staging");
      assert.equal(
        staging.text,
        [
          "Freeze windows on *STAGING*: 1 in force, 2 coming up",
          lines.migration,
          lines.batch,
          lines.audit,
        ].join("\n"),
      );
      assert.equal(
        (await slash("U1", "freezes qa")).text,
        "No freeze windows in force or coming up on *QA*.",
      );
      assert.equal(
        (await slash("U1", "freezes nowhere")).text,
        "No freeze windows in force or coming up on *NOWHERE*.",
      );
      // Two days on (Tuesday 20:00 in New York): the batch window is in force, the migration over.
      clock.advance(2 * 86_400_000 + 13 * 3_600_000);
      assert.equal(
        (await slash("U1", "freezes staging")).text,
        [
          "Freeze windows on *STAGING*: 1 in force, 1 coming up",
          "• *STAGING* nightly batch · in force until 2026-12-23 11:00 UTC (06:00 America/New_York) · every Tue 18:00-Wed 06:00 America/New_York · window `wk0001`",
          lines.audit,
        ].join("\n"),
      );
    });

    await t.step("nothing at all", async () => {
      const empty = setup(slack, new MemoryStore());
      assert.equal(
        (await empty.slash("U1", "freezes")).text,
        "No freeze windows in force or coming up.",
      );
    });

    await t.step("many windows with the longest reasons: within Slack's limits", async () => {
      const crowded = new MemoryStore();
      const at = new ManualClock(Date.UTC(2026, 11, 20, 12));
      const many = new Policies(crowded, at);
      for (let i = 0; i < 80; i++) {
        const from = at.now() + (i - 40) * 3_600_000;
        await many.addFreeze(
          `E${String(i).padStart(63, "0")}`,
          freeze(`w${i}`, i % 2 ? "&".repeat(2048) : "<".repeat(2048), {
            from,
            until: from + 86_400_000,
          }),
          true,
        );
      }
      const listed = await setup(slack, crowded, { policyClock: at }).slash("U1", "freezes");
      assert.match(listed.text, /^Freeze windows: 24 in force, 39 coming up\n/);
      assert.ok(listed.blocks.length <= 50, `${listed.blocks.length} blocks`);
      assert.ok(listed.text.length <= 4000, `text ${listed.text.length}`);
      const texts = blockTexts(listed).split("\n");
      assert.ok(texts.join("\n").length <= 12_000, `${texts.join("\n").length} characters`);
      for (const b of listed.blocks) {
        const text = b.type === "section" ? b.text.text : b.elements[0].text;
        assert.ok(text.length <= 3000, `a block of ${text.length}`);
        assert.doesNotMatch(text, /&(?!amp;|lt;|gt;)|[<>]/, "escaped, never cut in an entity");
      }
      assert.match(blockTexts(listed), /…and \d+ more: `daplaya freeze list` lists them all/);
    });

    await t.step("bad args, help, a store failure, a serve without policies", async () => {
      const tooMany = await slash("U1", "freezes a b");
      assert.match(tooMany.text, /^`freezes` takes at most one env, e.g. `freezes production`\n/);
      assert.match((await slash("U1", "freezes bad!")).text, /^invalid env "bad!"/);
      assert.deepEqual(parseSlashText("FREEZES prod"), { name: "freezes", env: "PROD" });
      assert.deepEqual(parseSlashText("freezes"), { name: "freezes" });
      assert.match(
        helpMessage("/dpl").text,
        /`\/dpl freezes \[ENV\]` list the freeze windows in force and coming up/,
      );
      const failing = new MemoryStore();
      failing.guards = () => Promise.reject(new FailureError("access denied"));
      failing.guard = () => Promise.reject(new FailureError("access denied"));
      const down = setup(slack, failing);
      assert.equal(
        (await down.slash("U1", "freezes")).text,
        "Could not read the freeze windows: DynamoDB could not be reached. Please retry.",
      );
      assert.equal(
        (await down.slash("U1", "freezes prod")).text,
        "Could not read the freeze windows of *PROD*: DynamoDB could not be reached. Please retry.",
      );
      assert.match(down.log.at(-1)!, /result=unknown error="access denied"$/);
      const without = setup(slack, store, { policies: undefined });
      assert.match(
        (await without.slash("U1", "freezes")).text,
        /^this daplaya serve cannot read freeze windows$/,
      );
    });
  } finally {
    await slack.close();
  }
});

Deno.test("the freeze answer of a serve that keeps no places in line", () => {
  const f = freeze("k3x9qa", "", { from: 0, until: Date.UTC(2026, 11, 27) });
  const answer = frozenMessage(
    "PRODUCTION",
    { freeze: f, start: 0, end: Date.UTC(2026, 11, 27) },
    { holder: undefined, line: [] },
    { user: "u1@example.com" },
    (u) => u,
    { none: true },
    "/dpl",
  );
  assert.equal(
    answer.text,
    "*PRODUCTION* is frozen: (no reason) — until 2026-12-27 00:00 UTC (01:00 Europe/Berlin). Window `k3x9qa`.",
  );
  assert.equal(
    answer.blocks[1].elements[0].text,
    `Nothing was changed. Try again when it is over (\`/dpl freezes PRODUCTION\` shows the windows). ${OVERRIDE}`,
  );
  assert.equal(buttonOf(answer, JOIN_ACTION), undefined);
});
