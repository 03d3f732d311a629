/**
 * Waiting from Slack, in-process on the in-memory store: **Join the line** on a refused lock,
 * the place `serve` keeps, the direct message when it is yours, `/daplaya cancel` (also from
 * another replica on the same table), a second Join, and shutdown. Slack's Web API and
 * response_url are a real local HTTP server (tests/support/fake_slack.ts), the clock is real,
 * and the waiters renew their places every 100 ms.
 */
import assert from "node:assert/strict";
import { realSleep, systemClock } from "../../src/core/clock.ts";
import { FailureError } from "../../src/core/errors.ts";
import { Locker } from "../../src/core/locker.ts";
import type { SlackHandlerDeps } from "../../src/slack/handler.ts";
import { helpMessage, JOIN_ACTION, RELEASE_ACTION } from "../../src/slack/messages.ts";
import { joinValue, parseJoinValue, parseSlashText } from "../../src/slack/parse.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { acquireOptions } from "../support/acquire.ts";
import { type Json, startFakeSlack } from "../support/fake_slack.ts";
import { placeOf } from "../support/place.ts";
import { slackReplica } from "../support/slack_replica.ts";

const SECRET = "join-test-secret";
const BOT_TOKEN = "xoxb-join-test";
const INTERVAL_MS = 100;

type Slack = ReturnType<typeof startFakeSlack>;

/** One `serve` (a handler) on `store`; two on the same store are two replicas. */
function replica(slack: Slack, store: MemoryStore, o: Partial<SlackHandlerDeps> = {}) {
  return slackReplica(slack, store, {
    signingSecret: SECRET,
    botToken: BOT_TOKEN,
    waitIntervalMs: INTERVAL_MS,
    ...o,
  });
}

const buttonOf = (answer: Json, actionId: string) =>
  answer.blocks.filter((b: Json) => b.type === "actions").flatMap((b: Json) => b.elements)
    .find((e: Json) => e.action_id === actionId);

const lineOf = async (store: MemoryStore, env: string) =>
  ((await store.guard(env))?.line ?? []).map((p) => p.user);

/** Polls until `check` holds: a hang bound, not a speed check. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Waiting from Slack: Join the line, cancel, shutdown", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN);
  /** A store where alice holds `env` (from the CLI), and her locker to release it. */
  const held = async (env: string) => {
    const store = new MemoryStore();
    const cli = new Locker(store, systemClock, realSleep);
    const alice = await cli.acquire(
      acquireOptions(env, "alice@example.com", { newEnv: true, meta: "deploy 8" }),
    );
    return { store, cli, alice };
  };
  const dmsTo = (user: string) => slack.chat.filter((p) => p.channel === user);
  try {
    await t.step(
      "held: the answer offers Join; joined, then it is yours with a Release button",
      async () => {
        const { store, cli, alice } = await held("PRODUCTION");
        const a = replica(slack, store);
        const refused = await a.slash("U1", "lock production deploy 9");
        assert.equal(refused.response_type, "ephemeral");
        assert.match(refused.text, /\*PRODUCTION\* is held by \*alice@example\.com\*/);
        assert.match(JSON.stringify(refused.blocks), /\*Join the line\* to get it in turn/);
        const join = buttonOf(refused, JOIN_ACTION);
        assert.equal(join.text.text, "Join the line");
        assert.deepEqual(parseJoinValue(join.value), {
          env: "PRODUCTION",
          meta: "deploy 9",
          metaExplicit: true,
          command: "/dpl",
        });
        const joined = await a.click("U1", join);
        assert.equal(joined.response_type, "ephemeral");
        assert.equal(joined.replace_original, true);
        assert.equal(
          joined.text,
          "You are #1 in line for *PRODUCTION*; I will message you when it is yours. `/dpl cancel PRODUCTION` leaves the line.",
        );
        const [place] = (await store.guard("PRODUCTION"))?.line ?? [];
        assert.equal(place.user, "u1@example.com");
        assert.equal(place.meta, "deploy 9");
        assert.match(place.pid, /^slack-/);
        // The same line as the CLI's waiters: a second user joins behind.
        const second = await a.click(
          "U2",
          buttonOf(await a.slash("U2", "lock production"), JOIN_ACTION),
        );
        assert.match(second.text, /^You are #2 in line for \*PRODUCTION\*/);
        assert.deepEqual(await lineOf(store, "PRODUCTION"), ["u1@example.com", "u2@example.com"]);
        assert.match(
          (await a.slash("U3", "leases production")).text,
          /\n {6}↳ #1 \*u1@example\.com\* waiting since .*\n {6}↳ #2 \*u2@example\.com\*/,
        );
        // Kept alive: still there after many place leases' worth of intervals.
        await pause(35 * INTERVAL_MS);
        assert.deepEqual(await lineOf(store, "PRODUCTION"), ["u1@example.com", "u2@example.com"]);
        assert.deepEqual(dmsTo("U1"), []);
        const freed = Date.now();
        await cli.releaseHeld(alice);
        const [dm] = await slack.chatPosts((p) => p.channel === "U1");
        // Within about one interval of the release (a hang bound well above it).
        assert.ok(Date.now() - freed < 2000, `${Date.now() - freed} ms`);
        assert.match(
          dm.text,
          /^\*PRODUCTION\* is yours: your turn in line came, and it is locked by \*u1@example\.com\* \(meta: deploy 9\)$/,
        );
        const [lock] = await store.active("PRODUCTION");
        assert.deepEqual([lock.user, lock.meta], ["u1@example.com", "deploy 9"]);
        assert.deepEqual(await lineOf(store, "PRODUCTION"), ["u2@example.com"]);
        const release = buttonOf({ blocks: dm.blocks }, RELEASE_ACTION);
        assert.equal(JSON.parse(release.value).id, lock.id);
        // The DM's Release button releases it; the next waiter's turn follows.
        const released = await a.click("U1", release);
        assert.match(released.text, /\*PRODUCTION\* lock released by \*u1@example\.com\*/);
        const [next] = await slack.chatPosts((p) => p.channel === "U2");
        assert.match(next.text, /\*PRODUCTION\* is yours/);
        assert.equal((await store.active("PRODUCTION"))[0].user, "u2@example.com");
        assert.ok(
          a.log.some((l) => / wait env=PRODUCTION user=U1 result=granted told=dm$/.test(l)),
        );
        await a.stop();
      },
    );

    await t.step("free again by the time of the click: Join takes the lock at once", async () => {
      const { store, cli, alice } = await held("QUICK");
      const a = replica(slack, store);
      const refused = await a.slash("U1", "lock quick");
      await cli.releaseHeld(alice);
      const answer = await a.click("U1", buttonOf(refused, JOIN_ACTION));
      assert.equal(answer.response_type, "in_channel");
      assert.equal(answer.replace_original, false);
      assert.match(answer.text, /^\*QUICK\* locked by \*u1@example\.com\* \(meta: Slack\)/);
      assert.equal((await store.active("QUICK"))[0].user, "u1@example.com");
      await a.stop();
      assert.deepEqual(dmsTo("U1").filter((p) => /QUICK/.test(p.text)), []);
    });

    await t.step("free but others wait: that answer offers Join too", async () => {
      const { store, cli, alice } = await held("QUEUED");
      await store.join({ env: "QUEUED", place: placeOf("bob@example.com", "CLI", Date.now()) });
      await cli.releaseHeld(alice);
      const a = replica(slack, store);
      const refused = await a.slash("U1", "lock queued");
      assert.match(refused.text, /\*QUEUED\* is free, but 1 waits in line for it/);
      assert.deepEqual(parseJoinValue(buttonOf(refused, JOIN_ACTION).value), {
        env: "QUEUED",
        meta: "Slack",
        metaExplicit: false,
        command: "/dpl",
      });
      // Uberlocks never wait in line: no Join.
      await cli.acquire(acquireOptions("QUEUED", "ops@example.com", { kind: "uberlock" }));
      const uber = await a.slash("U1", "uberlock queued");
      assert.equal(buttonOf(uber, JOIN_ACTION), undefined);
      await a.stop();
    });

    await t.step("a second Join says they already wait; a CLI waiter's place too", async () => {
      const { store } = await held("TWICE");
      const a = replica(slack, store);
      const join = buttonOf(await a.slash("U1", "lock twice"), JOIN_ACTION);
      assert.match((await a.click("U1", join)).text, /^You are #1 in line/);
      const again = await a.click("U1", join);
      assert.equal(again.replace_original, false);
      assert.equal(
        again.text,
        "You are already #1 in line for *TWICE*; I will tell you when it is yours. `/dpl cancel TWICE` leaves the line. Nothing was changed.",
      );
      // The same user waiting from the CLI (`daplaya lock --user u3@example.com`).
      await store.join({ env: "TWICE", place: placeOf("U3@example.com", "CLI", Date.now()) });
      const cli = await a.click("U3", join);
      assert.match(
        cli.text,
        /^You are already #2 in line for \*TWICE\*, from the CLI \(a waiting `daplaya lock` or `run` as \*u3@example\.com\*\)/,
      );
      // `cancel` leaves a CLI waiter's place alone, and says so.
      const notSlack = await a.slash("U3", "cancel twice");
      assert.match(notSlack.text, /You are #2 in line for \*TWICE\* from the CLI/);
      assert.deepEqual(await lineOf(store, "TWICE"), ["u1@example.com", "U3@example.com"]);
      await a.stop();
    });

    await t.step("cancel: the place leaves the line, the waiter stops, no message", async () => {
      const { store, cli, alice } = await held("CANCEL");
      const a = replica(slack, store);
      const notYet = await a.slash("U1", "cancel cancel");
      assert.equal(notYet.response_type, "ephemeral");
      assert.match(notYet.text, /^You are not in line for \*CANCEL\*\. Nothing was changed\./);
      await a.click("U1", buttonOf(await a.slash("U1", "lock cancel"), JOIN_ACTION));
      assert.deepEqual(await lineOf(store, "CANCEL"), ["u1@example.com"]);
      const left = await a.slash("U1", "cancel cancel");
      assert.equal(left.response_type, "ephemeral");
      assert.equal(left.text, "You left the line for *CANCEL*.");
      assert.deepEqual(await lineOf(store, "CANCEL"), []);
      assert.ok(a.log.some((l) => / wait env=CANCEL user=U1 result=cancelled$/.test(l)));
      await cli.releaseHeld(alice);
      await pause(10 * INTERVAL_MS);
      assert.deepEqual(await store.active("CANCEL"), []);
      assert.deepEqual(await lineOf(store, "CANCEL"), []);
      assert.deepEqual(dmsTo("U1").filter((p) => /CANCEL/.test(p.text)), []);
      // And they may join again.
      assert.match((await a.slash("U1", "lock cancel")).text, /\*CANCEL\* locked by/);
      await a.stop();
    });

    await t.step(
      "cancel on another replica: the place is removed, and the keeping replica stops",
      async () => {
        const { store, cli, alice } = await held("REPLICAS");
        const a = replica(slack, store);
        const b = replica(slack, store);
        await a.click("U1", buttonOf(await a.slash("U1", "lock replicas"), JOIN_ACTION));
        await a.click("U2", buttonOf(await a.slash("U2", "lock replicas"), JOIN_ACTION));
        assert.deepEqual(await lineOf(store, "REPLICAS"), ["u1@example.com", "u2@example.com"]);
        // Replica b keeps no place for U1, but the table has it.
        const left = await b.slash("U1", "cancel replicas");
        assert.equal(left.text, "You left the line for *REPLICAS*.");
        assert.deepEqual(await lineOf(store, "REPLICAS"), ["u2@example.com"]);
        // Replica a finds the place gone at its next renewal, and stops: no new place.
        await until(
          "a's waiter stopped",
          () => a.log.some((l) => / wait env=REPLICAS user=U1 result=left$/.test(l)),
        );
        await pause(10 * INTERVAL_MS);
        assert.deepEqual(await lineOf(store, "REPLICAS"), ["u2@example.com"]);
        // A second Join on a is a new wait (the old one is gone from its memory).
        await cli.releaseHeld(alice);
        await slack.chatPosts((p) => p.channel === "U2" && /REPLICAS\* is yours/.test(p.text));
        assert.equal((await store.active("REPLICAS"))[0].user, "u2@example.com");
        assert.deepEqual(dmsTo("U1").filter((p) => /REPLICAS/.test(p.text)), []);
        await a.stop();
        await b.stop();
      },
    );

    await t.step("shutdown: every place is left, its user told; Join is refused", async () => {
      const { store } = await held("SHUTDOWN");
      const a = replica(slack, store);
      const join = buttonOf(await a.slash("U1", "lock shutdown"), JOIN_ACTION);
      await a.click("U1", join);
      assert.deepEqual(await lineOf(store, "SHUTDOWN"), ["u1@example.com"]);
      await a.stop();
      assert.deepEqual(await lineOf(store, "SHUTDOWN"), []);
      const [told] = dmsTo("U1").filter((p) => /SHUTDOWN/.test(p.text));
      assert.match(
        told.text,
        /^You are no longer in line for \*SHUTDOWN\*: daplaya's Slack service stopped/,
      );
      const refused = await a.click("U1", join);
      assert.match(refused.text, /Slack service is stopping/);
      assert.deepEqual(await lineOf(store, "SHUTDOWN"), []);
    });

    await t.step("without a bot token: the answers go to the click's response_url", async () => {
      const { store, cli, alice } = await held("NOBOT");
      const a = replica(slack, store, { botToken: undefined });
      const join = buttonOf(await a.slash("U5", "lock nobot"), JOIN_ACTION);
      const id = await a.press("U5", join);
      const [joined] = await slack.responses(id);
      assert.match(
        joined.text,
        /^You are #1 in line for \*NOBOT\*; I will post here when it is yours\./,
      );
      assert.match(JSON.stringify(joined.blocks), /you leave the line after 29m/);
      assert.deepEqual(await lineOf(store, "NOBOT"), ["slack:U5"]);
      await cli.releaseHeld(alice);
      const [, yours] = await slack.responses(id, 2);
      assert.match(yours.text, /^\*NOBOT\* is yours: .* locked by \*slack:U5 \(@u5\)\*/);
      assert.equal(yours.replace_original, false);
      assert.equal(buttonOf(yours, RELEASE_ACTION).action_id, RELEASE_ACTION);
      await a.stop();
    });

    await t.step("nobody could be told: the lock is released again", async () => {
      const { store, cli, alice } = await held("UNTOLD");
      const a = replica(slack, store);
      const join = buttonOf(await a.slash("U6", "lock untold"), JOIN_ACTION);
      // A response_url that answers 404, and a direct message Slack refuses.
      const id = await a.press("U6", join, `${slack.base}/gone`);
      await until("joined", async () => (await lineOf(store, "UNTOLD")).length === 1);
      slack.failPosts({ error: "channel_not_found" });
      await cli.releaseHeld(alice);
      await until(
        "released again",
        () =>
          a.log.some((l) => /env=UNTOLD user=U6 result=granted told=nobody released=true/.test(l)),
      );
      assert.deepEqual(await store.active("UNTOLD"), []);
      assert.deepEqual(slack.posted(id), []);
      await a.stop();
    });

    await t.step("the store fails while waiting: told without its details, logged", async () => {
      const { store } = await held("BROKEN");
      const a = replica(slack, store);
      await a.click("U8", buttonOf(await a.slash("U8", "lock broken"), JOIN_ACTION));
      store.renewPlace = () => Promise.reject(new FailureError("access denied: arn:aws:secret"));
      const [told] = await slack.chatPosts((p) => p.channel === "U8");
      assert.equal(
        told.text,
        "You are no longer in line for *BROKEN*: daplaya could not keep your place (DynamoDB could not be reached). Nothing is held for you. `/dpl lock BROKEN` and *Join the line* to wait again.",
      );
      await until(
        "logged",
        () => a.log.some((l) => /user=U8 result=failed told=dm error=/.test(l)),
      );
      assert.match(a.log.find((l) => /user=U8 result=failed/.test(l))!, /arn:aws:secret/);
      await a.stop();
    });

    await t.step("a place not confirmed in time: the answer says so; the DM follows", async () => {
      const { store, cli, alice } = await held("SLOWJOIN");
      const join = store.join.bind(store);
      store.join = async (req) => {
        await pause(300);
        return await join(req);
      };
      const a = replica(slack, store, { replyBudgetMs: 150 });
      const answer = await a.click(
        "U7",
        buttonOf(await a.slash("U7", "lock slowjoin"), JOIN_ACTION),
      );
      assert.match(answer.text, /^Joining the line for \*SLOWJOIN\*: DynamoDB did not confirm/);
      await until("joined", async () => (await lineOf(store, "SLOWJOIN")).length === 1);
      await cli.releaseHeld(alice);
      const [dm] = await slack.chatPosts((p) => p.channel === "U7");
      assert.match(dm.text, /\*SLOWJOIN\* is yours/);
      await a.stop();
    });
  } finally {
    await slack.close();
  }
});

Deno.test("Join and cancel: parsing, the button's value, help", () => {
  assert.deepEqual(parseSlashText("cancel prod"), { name: "cancel", env: "PROD" });
  assert.equal(parseSlashText("cancel").name, "help");
  assert.deepEqual(parseSlashText("cancel a b"), {
    name: "help",
    problem: "`cancel` takes just the env",
  });
  assert.match(helpMessage("/dpl").text, /`\/dpl cancel &lt;ENV&gt;` leave the line for ENV/);
  // The longest meta, of characters JSON escapes: shortened to fit Slack's 2,000.
  const meta = '"\\'.repeat(1024);
  const value = joinValue({ env: "E".repeat(64), meta, metaExplicit: true });
  assert.ok(value.length <= 2000, `${value.length}`);
  const parsed = parseJoinValue(value);
  assert.ok(parsed !== "invalid");
  assert.ok(parsed.meta.endsWith("…") && meta.startsWith(parsed.meta.slice(0, -1)));
  const short = { env: "PROD", meta: "Slack", metaExplicit: false };
  assert.deepEqual(parseJoinValue(joinValue(short)), short);
  for (const bad of [undefined, "PROD", "{", '{"env":"bad env","meta":""}', '{"env":"P"}']) {
    assert.equal(parseJoinValue(bad), "invalid", String(bad));
  }
  // A command name that is not one is dropped (the texts then say `/daplaya`).
  assert.deepEqual(parseJoinValue('{"env":"p","meta":"m","cmd":"/x <@U1>"}'), {
    env: "P",
    meta: "m",
    metaExplicit: false,
  });
});
