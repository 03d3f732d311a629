/**
 * The Slack handler in-process on the in-memory store: the paths a real DynamoDB and a real
 * Slack rarely take (no bot token, store failures, a slow users.info, a deadline, worst-case
 * text). Slack's Web API and response_url are a real local HTTP server, never a mocked fetch.
 * The real process against DynamoDB Local is tests/slack/serve_test.ts.
 */
import assert from "node:assert/strict";
import { realSleep, systemClock } from "../../src/core/clock.ts";
import { FailureError } from "../../src/core/errors.ts";
import { Locker } from "../../src/core/locker.ts";
import { buttonValue, decodeSlackText, parseSlashText } from "../../src/slack/parse.ts";
import { createSlackHandler, type SlackHandlerDeps } from "../../src/slack/handler.ts";
import { RELEASE_ACTION } from "../../src/slack/messages.ts";
import { isoTime } from "../../src/core/text.ts";
import { slackDate } from "../../src/slack/mrkdwn.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { acquireOptions } from "../support/acquire.ts";
import { type Json, startFakeSlack } from "../support/fake_slack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { placeOf } from "../support/place.ts";
import { signedRequest as signedRequestWith } from "../support/slack_signing.ts";

const SECRET = "handler-test-secret";
const BOT_TOKEN = "xoxb-handler-test";

let nonce = 0;

const signedRequest = (path: string, body: string) => signedRequestWith(SECRET, path, body);

type Slack = ReturnType<typeof startFakeSlack>;

function setup(
  slack: Slack,
  o: Partial<SlackHandlerDeps> & { store?: MemoryStore; userName?: string } = {},
) {
  const store = o.store ?? new MemoryStore();
  const log: string[] = [];
  const handler = createSlackHandler({
    locker: new Locker(store, systemClock, realSleep),
    clock: systemClock,
    signingSecret: SECRET,
    apiUrl: slack.apiUrl,
    log: (line) => log.push(line),
    ...o,
  });
  /** `/dpl <text>`; the answer, and the id of the command's response_url. */
  const command = async (user: string, text: string) => {
    const responseId = `slash${++nonce}`;
    const body = new URLSearchParams({
      user_id: user,
      user_name: o.userName ?? "pat",
      command: "/dpl",
      text,
      response_url: `${slack.base}/response/${responseId}`,
      trigger_id: `t${nonce}`,
    });
    const res = await handler(await signedRequest("/slack/commands", body.toString()));
    assert.equal(res.status, 200);
    return { answer: await res.json(), responseId };
  };
  const slash = async (user: string, text: string) => (await command(user, text)).answer;
  /** Clicks a button; returns the id of its response_url, once the click is acknowledged. */
  const press = async (user: string, button: Json) => {
    const responseId = `click${++nonce}`;
    const payload = {
      type: "block_actions",
      user: { id: user, username: o.userName ?? "pat" },
      response_url: `${slack.base}/response/${responseId}`,
      trigger_id: `t${nonce}`,
      actions: [{ type: "button", action_id: button.action_id, value: button.value }],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const res = await handler(await signedRequest("/slack/interactions", body));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
    return responseId;
  };
  /** Clicks a button; returns the answer posted to its response_url. */
  const click = async (user: string, button: Json) =>
    (await slack.responses(await press(user, button)))[0];
  return { store, handler, log, slash, command, click, press };
}

/** The Release button of an answer. */
const buttonOf = (answer: Json) =>
  answer.blocks.find((b: Json) => b.type === "actions").elements[0];

Deno.test("Slack handler in-process", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN, { U2: { email: "u2@example.com", delayMs: 1500 } });
  try {
    await t.step("without a bot token: slack:<id>, said in the answer, no lookup", async () => {
      const { slash, store } = setup(slack);
      const answer = await slash("U1", "lock prod");
      assert.equal(answer.response_type, "in_channel");
      assert.match(answer.text, /\*PROD\* locked by \*slack:U1 \(@pat\)\*/);
      assert.deepEqual(slack.lookups, []);
      assert.equal((await store.active("PROD"))[0].user, "slack:U1");
      // The hint is for the asker: never in an answer posted in the channel.
      const personal = /no bot token is configured|No email from Slack|--user slack:/;
      assert.doesNotMatch(answer.text, personal);
      assert.doesNotMatch(JSON.stringify(answer.blocks), personal);
      const released = await slash("U1", "release prod");
      assert.equal(released.response_type, "in_channel");
      assert.doesNotMatch(JSON.stringify(released), personal);
      // Answers shown only to the asker still carry it.
      const notHeld = await slash("U1", "release prod");
      assert.equal(notHeld.response_type, "ephemeral");
      assert.match(JSON.stringify(notHeld.blocks), /no bot token is configured/);
      await slash("U1", "lock prod");
      const heldBy = await slash("U3", "lock prod");
      assert.equal(heldBy.response_type, "ephemeral");
      assert.match(JSON.stringify(heldBy.blocks), /`--user slack:U3`/);
      // Help uses the command name Slack sent.
      assert.match((await slash("U1", "help")).text, /`\/dpl lock &lt;ENV&gt; \[META\]`/);
    });

    await t.step(
      "a typo of a known env is refused with the suggestion; --new-env takes it",
      async () => {
        const { slash, store, log } = setup(slack);
        assert.equal((await slash("U1", "lock production")).response_type, "in_channel");
        assert.equal((await slash("U1", "release production")).response_type, "in_channel");
        const typo = await slash("U1", "lock producton deploy 7");
        assert.equal(typo.response_type, "ephemeral");
        assert.equal(
          typo.text,
          "*PRODUCTON* has never been locked: did you mean *PRODUCTION*? Nothing was changed. If *PRODUCTON* is a new env, use `/dpl lock PRODUCTON --new-env`.",
        );
        assert.match(log.at(-1)!, /result=new-env/);
        assert.deepEqual(await store.active(), []);
        const created = await slash("U1", "lock producton --new-env deploy 7");
        assert.equal(created.response_type, "in_channel");
        assert.equal((await store.active("PRODUCTON"))[0].meta, "deploy 7");
      },
    );

    await t.step("users.info slower than its limit: refused, then the retry is quick", async () => {
      const { slash, store, log } = setup(slack, { botToken: BOT_TOKEN });
      const started = Date.now();
      const answer = await slash("U2", "lock slow");
      assert.ok(Date.now() - started < 1500, `${Date.now() - started}ms`);
      assert.equal(answer.response_type, "ephemeral");
      assert.match(
        answer.text,
        /Could not confirm who you are with Slack \(users\.info: no answer within 1000ms\)/,
      );
      assert.match(log.at(-1)!, /result=no-identity error="users\.info: no answer within 1000ms"$/);
      assert.deepEqual(await store.active(), []);
      // A command meanwhile waits for the same lookup instead of asking Slack again: the answer
      // comes within its own second, so it knows who asks (U2, who holds nothing).
      const release = await slash("U2", "release slow");
      assert.match(release.text, /u2@example\.com holds no active lock on env SLOW/);
      assert.equal(slack.lookups.filter((l) => l.user === "U2").length, 1);
      const retried = Date.now();
      const again = await slash("U2", "lock slow");
      assert.ok(Date.now() - retried < 500, `${Date.now() - retried}ms`);
      assert.match(again.text, /\*SLOW\* locked by \*u2@example\.com\*/);
      assert.equal(slack.lookups.filter((l) => l.user === "U2").length, 1);
      assert.equal((await store.active("SLOW"))[0].user, "u2@example.com");
    });

    await t.step("a store failure: ephemeral, state unknown, never a claimed lock", async () => {
      const store = new MemoryStore();
      store.grant = () => Promise.reject(new FailureError("access denied: arn:aws:secret-ish"));
      store.active = () => Promise.reject(new FailureError("access denied"));
      const { slash, log } = setup(slack, { store });
      const lock = await slash("U3", "lock prod");
      assert.equal(lock.response_type, "ephemeral");
      assert.match(
        lock.text,
        /Could not confirm the lock of \*PROD\*: DynamoDB could not be reached/,
      );
      assert.doesNotMatch(lock.text, /arn:aws/);
      assert.match(log.at(-1)!, /result=unknown error="access denied: arn:aws:secret-ish"$/);
      const leases = await slash("U3", "leases");
      assert.match(leases.text, /Could not read the locks/);
    });

    await t.step(
      "a store that never answers: the deadline answers, its timer cleared",
      async () => {
        const store = new MemoryStore();
        store.guard = () => new Promise(() => {});
        const { slash } = setup(slack, { store, replyBudgetMs: 100 });
        const started = Date.now();
        const answer = await slash("U4", "release prod");
        assert.ok(Date.now() - started < 1000);
        assert.equal(answer.response_type, "ephemeral");
        assert.match(
          answer.text,
          /Could not confirm the release of \*PROD\*: DynamoDB did not answer in time/,
        );
      },
    );

    await t.step(
      "confirmed after the answer: the real outcome follows on response_url",
      async () => {
        // A store whose writes take longer than the reply budget, and then succeed.
        const store = new MemoryStore();
        const slow =
          <A extends unknown[], R>(f: (...a: A) => Promise<R>, ms = 300) =>
          async (...a: A): Promise<R> => {
            await new Promise((r) => setTimeout(r, ms));
            return await f(...a);
          };
        store.grant = slow(store.grant.bind(store));
        store.release = slow(store.release.bind(store));
        const { command, handler, log } = setup(slack, { store, replyBudgetMs: 100 });
        const lock = await command("U7", "lock late build 9");
        assert.equal(lock.answer.response_type, "ephemeral");
        assert.match(lock.answer.text, /Could not confirm the lock of \*LATE\*: DynamoDB did not/);
        const [granted] = await slack.responses(lock.responseId);
        assert.equal(granted.response_type, "in_channel");
        assert.match(granted.text, /\*LATE\* locked by \*slack:U7 \(@pat\)\*/);
        assert.match(
          JSON.stringify(granted.blocks),
          /could not be confirmed within Slack's 3 seconds/,
        );
        const [held] = await store.active("LATE");
        assert.equal(JSON.parse(buttonOf(granted).value).id, held.id);
        // Someone else, late: refused, shown only to them.
        const other = await command("U8", "lock late");
        const [refused] = await slack.responses(other.responseId);
        assert.equal(refused.response_type, "ephemeral");
        assert.match(refused.text, /\*LATE\* is held by \*<@U7>\*/);
        // A late release, from the command and from the button (after its own first answer).
        const release = await command("U7", "release late");
        assert.match(release.answer.text, /Could not confirm the release of \*LATE\*/);
        const [released] = await slack.responses(release.responseId);
        assert.equal(released.response_type, "in_channel");
        assert.match(released.text, /\*LATE\* lock released by \*slack:U7/);
        assert.deepEqual(await store.active("LATE"), []);
        const again = await command("U7", "lock late");
        const [second] = await slack.responses(again.responseId);
        const clickId = await setup(slack, { store, replyBudgetMs: 100 }).press(
          "U7",
          buttonOf(second),
        );
        const [clicked, outcome] = await slack.responses(clickId, 2);
        assert.match(clicked.text, /Could not confirm the release of \*LATE\*/);
        assert.equal(clicked.replace_original, false);
        assert.match(outcome.text, /\*LATE\* lock released by \*slack:U7/);
        assert.equal(outcome.replace_original, true);
        // A failure after the answer: still unknown, said again, shown only to them.
        store.grant = slow(() => Promise.reject(new FailureError("throttled")));
        const failed = await command("U9", "lock late2");
        const [failure] = await slack.responses(failed.responseId);
        assert.equal(failure.response_type, "ephemeral");
        assert.match(
          failure.text,
          /Could not confirm the lock of \*LATE2\*: DynamoDB could not be reached/,
        );
        await handler.drain();
        assert.ok(
          log.some((l) => / late cmd=lock env=LATE user=U7 result=locked$/.test(l)),
          log.join("\n"),
        );
        assert.ok(log.some((l) => / late cmd=release env=LATE user=U7 result=released$/.test(l)));
      },
    );

    await t.step("interactions that are not our buttons are acknowledged and ignored", async () => {
      const { handler, log } = setup(slack);
      for (
        const payload of [{ type: "view_submission" }, { type: "block_actions", actions: [] }]
      ) {
        const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
        const res = await handler(await signedRequest("/slack/interactions", body));
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "");
      }
      const bad = await handler(await signedRequest("/slack/interactions", "payload=%7Bnope"));
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      assert.equal(log.length, 3);
      await handler.drain();
    });

    await t.step("every kind of answer stays within Slack's limits, worst case", async () => {
      // Users of 256 characters that all need escaping, the longest env, meta of 2,048 `&`
      // and `<` (each 4 or 5 characters once escaped), a Slack name of 80 `&`.
      const longUser = (c: string) => `${c.repeat(256 - 12)}@example.com`;
      const fake = startFakeSlack(BOT_TOKEN, {
        UAMP: { email: longUser("&") },
        ULT: { email: longUser("<") },
        UGT: { email: longUser(">") },
        USLOW: { delayMs: 2000 },
        UNOEMAIL: { noEmail: true },
      });
      try {
        const env = `E${"X".repeat(63)}`;
        const env2 = `F${"Y".repeat(63)}`;
        const amp = "&".repeat(2048);
        const lt = "<".repeat(2048);
        const store = new MemoryStore();
        const { slash, click, handler } = setup(fake, { store, botToken: BOT_TOKEN });
        const answers: [string, Json][] = [];
        const keep = (what: string, a: Json) => {
          answers.push([what, a]);
          return a;
        };
        const locked = keep("locked", await slash("UAMP", `lock ${env} ${amp}`));
        assert.equal(locked.response_type, "in_channel", locked.text);
        keep("refreshed", await slash("UAMP", `lock ${env} ${lt}`));
        const uber = keep("uberlocked", await slash("ULT", `uberlock ${env2} ${lt}`));
        assert.equal(uber.response_type, "in_channel", uber.text);
        keep("held by", await slash("UGT", `lock ${env2} ${amp}`));
        keep("not held", await slash("UGT", `release ${env}`));
        keep("button refused", await click("UGT", buttonOf(locked)));
        keep("help with a problem", await slash("UGT", `${"&".repeat(100)} x`));
        keep("usage error", await slash("UGT", `lock ${"<".repeat(2000)}`));
        keep("meta too long", await slash("UGT", `lock ${env} ${amp}&`));
        // Many locks, each with the longest user and meta: the list is cut, never too long.
        const locker = new Locker(store, systemClock, realSleep);
        for (let i = 0; i < 60; i++) {
          await locker.acquire({
            env: `L${String(i).padStart(63, "0")}`,
            user: longUser(i % 2 ? "&" : "<"),
            kind: "regular",
            meta: i % 2 ? amp : lt,
            metaExplicit: true,
            timeoutMs: 0,
            intervalMs: 1000,
          });
        }
        // Two waiters in env2's line, with the longest user and meta.
        for (const c of ["&", "<"]) {
          const place = placeOf(longUser(c), c.repeat(2048), Date.now());
          assert.equal((await store.join({ env: env2, place })).ok, true);
        }
        keep("leases", await slash("UGT", "leases"));
        keep("leases of one env", await slash("UGT", `leases ${env2}`));
        keep("released", await slash("ULT", `release ${env2}`));
        keep("button released", await click("UAMP", buttonOf(locked)));
        // The same button once its lock is over, while others hold the env now.
        assert.equal((await slash("UGT", `lock ${env} ${amp}`)).response_type, "in_channel");
        assert.equal((await slash("ULT", `uberlock ${env} ${lt}`)).response_type, "in_channel");
        keep("button over", await click("UAMP", buttonOf(locked)));
        keep("old button", await click("UAMP", { ...buttonOf(locked), value: env }));
        keep("identity unconfirmed", await slash("USLOW", `lock ${env} ${amp}`));
        keep("no email", await slash("UNOEMAIL", `lock ${env} ${amp}`));
        // A lock confirmed after the answer: the outcome posted later.
        const slowStore = new MemoryStore();
        const grant = slowStore.grant.bind(slowStore);
        slowStore.grant = async (req) => {
          await new Promise((r) => setTimeout(r, 200));
          return await grant(req);
        };
        const slowSetup = setup(fake, { store: slowStore, botToken: BOT_TOKEN, replyBudgetMs: 50 });
        const late = await slowSetup.command("UAMP", `lock ${env} ${amp}`);
        keep("late: unknown", late.answer);
        keep("late: locked", (await fake.responses(late.responseId))[0]);
        await slowSetup.handler.drain();
        // No bot token: the identity note with the longest Slack name.
        const plain = setup(fake, { userName: "&".repeat(80) });
        keep("identity note", await plain.slash("U5", `lock ${env2} ${amp}`));
        // A store failure: the state-unknown answer.
        const failing = new MemoryStore();
        failing.guard = () => Promise.reject(new FailureError("down"));
        keep("unknown", await setup(fake, { store: failing }).slash("U6", `release ${env2}`));
        // Each answer is the kind it stands for.
        const kinds: Record<string, RegExp> = {
          "locked": /locked by \*&amp;/,
          "refreshed": /already locked by .*: refreshed/,
          "uberlocked": /uberlocked by \*&lt;/,
          "held by": /is held by \*&lt;/,
          "not held": /holds no active lock/,
          "button refused": /Only the holder can release/,
          "help with a problem": /unknown command `&amp;&amp;.*…`/,
          "usage error": /invalid env/,
          "meta too long": /invalid meta/,
          "leases": /^Active locks: 62 · waiting in line: 2\n/,
          "leases of one env":
            /^Active locks on \*FY+\*: 1 · waiting in line: 2\n.*\n {6}↳ #1 \*&amp;.*\n {6}↳ #2 \*&lt;/,
          "released": /uberlock released by/,
          "button released": /lock released by/,
          "button over":
            /That lock on .* was already released by \*&amp;.*@example\.com\* .* is now held by \*&gt;.* and \*&lt;/,
          "old button": /cannot tell which lock/,
          "identity unconfirmed": /Could not confirm who you are with Slack/,
          "no email": /Slack gave no email for you/,
          "late: unknown": /Could not confirm the lock of .*: DynamoDB did not answer in time/,
          "late: locked": /locked by \*&amp;/,
          "identity note": /locked by \*slack:U5 \(@&amp;/,
          "unknown": /Could not confirm the release/,
        };
        assert.deepEqual(answers.map(([what]) => what), Object.keys(kinds));
        for (const [what, answer] of answers) {
          assert.match(answer.text, kinds[what], what);
          assertWithinLimits(what, answer);
        }
        const leases = answers.find(([what]) => what === "leases")![1];
        assert.match(JSON.stringify(leases.blocks.at(-1)), /…and \d+ more: `daplaya locks`/);
        await handler.drain();
      } finally {
        await fake.close();
      }
    });
  } finally {
    await slack.close();
  }
});

/** Slack's limits (Block Kit reference; chat.postMessage truncates `text` at 40,000). */
function assertWithinLimits(what: string, m: Json): void {
  const texts: string[] = [m.text];
  assert.ok(m.blocks.length >= 1 && m.blocks.length <= 50, `${what}: ${m.blocks.length} blocks`);
  // Slack keeps text up to 40,000 characters; we keep the fallback far shorter.
  assert.ok(m.text.length >= 1 && m.text.length <= 4000, `${what}: text ${m.text.length}`);
  let total = 0;
  for (const b of m.blocks) {
    if (b.type === "section") {
      assert.ok(b.text.text.length <= 3000, `${what}: section ${b.text.text.length}`);
      texts.push(b.text.text);
      total += b.text.text.length;
    } else if (b.type === "context") {
      assert.ok(b.elements.length <= 10, `${what}: ${b.elements.length} context elements`);
      for (const e of b.elements) {
        assert.ok(e.text.length <= 3000, `${what}: context ${e.text.length}`);
        texts.push(e.text);
        total += e.text.length;
      }
    } else if (b.type === "actions") {
      for (const e of b.elements) {
        assert.ok(e.text.text.length <= 75, `${what}: button text`);
        assert.ok(e.value.length <= 2000, `${what}: button value ${e.value.length}`);
        assert.ok(e.action_id.length <= 255, `${what}: action_id`);
      }
    } else {
      assert.fail(`${what}: unexpected block ${b.type}`);
    }
  }
  // Slack refuses messages whose blocks are much longer than this altogether (msg_blocks_too_long).
  assert.ok(total <= 12_000, `${what}: ${total} characters in blocks`);
  for (const text of texts) {
    assert.ok(text.length >= 1, `${what}: empty text`);
    // Every & starts an entity, and < > only appear in date tokens and as a quote's mark:
    // nothing cut in half.
    assert.doesNotMatch(text, /&(?!amp;|lt;|gt;)/, `${what}: a bare or cut & in ${text}`);
    const outsideDates = text.replace(/<!date\^\d+\^[^|<>]*\|[^<>]*>/g, "").replace(/^>/gm, "");
    assert.doesNotMatch(outsideDates, /[<>]/, `${what}: a bare < or > in ${text}`);
    assert.doesNotMatch(text, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, `${what}: a cut surrogate`);
  }
}

Deno.test("serve remembers record versions: a lease it watched run out is taken over", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN);
  /** A CI job holds STAGING with a 10 s lease; Slack runs on the same (manual) clock. */
  const start = async () => {
    // Wall time near the real one: the handler checks request timestamps against it.
    const clock = new ManualClock(Date.now());
    const store = new MemoryStore();
    const ci = new Locker(store, clock, clock.sleep);
    const held = await ci.acquire(
      acquireOptions("STAGING", "ci@example.com", { leaseMs: 10_000, newEnv: true }),
    );
    const { slash } = setup(slack, { store, clock, locker: new Locker(store, clock, clock.sleep) });
    return { clock, store, ci, held, slash };
  };
  try {
    await t.step(
      "the holder stops renewing: refused, then granted after a whole lease",
      async () => {
        const { clock, store, held, slash } = await start();
        const first = await slash("U1", "lock staging");
        assert.equal(first.response_type, "ephemeral");
        assert.match(first.text, /is held by \*ci@example\.com\*/);
        clock.advance(9_999);
        assert.equal((await slash("U1", "lock staging")).response_type, "ephemeral");
        clock.advance(1);
        const granted = await slash("U1", "lock staging");
        assert.equal(granted.response_type, "in_channel", granted.text);
        const [now] = await store.active("STAGING");
        assert.equal(now.user, "slack:U1");
        const old = await store.record(held.record.id);
        assert.equal(old?.active, false);
        assert.equal(old?.supersededBy, now.id);
      },
    );

    await t.step("the holder renews in between: still refused", async () => {
      const { clock, store, ci, held, slash } = await start();
      assert.equal((await slash("U1", "lock staging")).response_type, "ephemeral");
      clock.advance(5_000);
      assert.ok(await ci.renew(held));
      clock.advance(5_000);
      // A whole lease since the first refusal, but the record version moved at the renewal.
      assert.equal((await slash("U1", "lock staging")).response_type, "ephemeral");
      clock.advance(9_999);
      assert.equal((await slash("U1", "lock staging")).response_type, "ephemeral");
      assert.equal((await store.active("STAGING"))[0].user, "ci@example.com");
      // Unchanged for a whole lease since this serve first saw the new version: taken over.
      clock.advance(1);
      assert.equal((await slash("U1", "lock staging")).response_type, "in_channel");
    });

    await t.step("a fresh serve (no memory) does not take it over at once", async () => {
      const { clock, slash } = await start();
      clock.advance(60_000);
      assert.equal((await slash("U1", "lock staging")).response_type, "ephemeral");
    });
  } finally {
    await slack.close();
  }
});

Deno.test("holders known to Slack are named as mentions; stale buttons say how the lock ended", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN, {}, undefined, {
    "alice@example.com": { id: "UALICE" },
    "slow@example.com": { id: "USLOWPOKE", delayMs: 3000 },
  });
  const hold = (store: MemoryStore, env: string, user: string) =>
    new Locker(store, systemClock, realSleep).acquire(
      acquireOptions(env, user, { newEnv: true, meta: "deploy 7" }),
    );
  try {
    await t.step("an email Slack knows is a mention, looked up once", async () => {
      const { slash, store } = setup(slack, { botToken: BOT_TOKEN });
      await hold(store, "MENTION", "alice@example.com");
      const refused = await slash("U1", "lock mention");
      assert.equal(refused.response_type, "ephemeral");
      assert.match(refused.text, /\*MENTION\* is held by \*<@UALICE>\* \(a lock since/);
      assert.match((await slash("U1", "leases")).text, /\*MENTION\* lock by \*<@UALICE>\*/);
      assert.match((await slash("U1", "lock mention")).text, /held by \*<@UALICE>\*/);
      const asked = slack.emailLookups.filter((l) => l.email === "alice@example.com");
      assert.equal(asked.length, 1);
      assert.equal(asked[0].auth, `Bearer ${BOT_TOKEN}`);
    });

    await t.step("leases: each env's line under its holder, waiters as mentions", async () => {
      const clock = new ManualClock(Date.now());
      const store = new MemoryStore();
      const locker = new Locker(store, clock, clock.sleep);
      const { slash } = setup(slack, { store, clock, locker, botToken: BOT_TOKEN });
      const join = async (env: string, user: string, meta: string) =>
        assert.equal((await store.join({ env, place: placeOf(user, meta, clock.now()) })).ok, true);
      const held = await locker.acquire(
        acquireOptions("LINED", "slack:U7", { newEnv: true, meta: "deploy 7" }),
      );
      // OPEN is free again, but keeps its line.
      await locker.acquire(acquireOptions("OPEN", "slack:U7", { newEnv: true }));
      await locker.release({ env: "OPEN", user: "slack:U7", onlyUberlock: false, force: false });
      clock.advance(60_000);
      const first = clock.now();
      await join("LINED", "alice@example.com", "deploy 8");
      await join("OPEN", "slack:U9", "<b> & co");
      clock.advance(5_000);
      await join("LINED", "dan@example.com", "CLI");
      const all = await slash("U1", "leases");
      assert.equal(all.response_type, "ephemeral");
      assert.equal(
        all.text,
        [
          "Active locks: 1 · waiting in line: 3",
          `• *LINED* lock by *<@U7>* since ${isoTime(held.record.createdAt)} · meta: deploy 7`,
          `      ↳ #1 *<@UALICE>* waiting since ${isoTime(first)} · meta: deploy 8`,
          `      ↳ #2 *dan@example.com* waiting since ${isoTime(first + 5_000)} · meta: CLI`,
          "• *OPEN* is free · 1 waiting in line",
          `      ↳ #1 *<@U9>* waiting since ${isoTime(first)} · meta: &lt;b&gt; &amp; co`,
        ].join("\n"),
      );
      assert.equal(
        all.blocks[1].text.text.split("\n")[1],
        `      ↳ #1 *<@UALICE>* waiting since ${slackDate(first)} · meta: deploy 8`,
      );
      const one = await slash("U1", "leases open");
      assert.equal(
        one.text,
        [
          "Active locks on *OPEN*: 0 · waiting in line: 1",
          "• *OPEN* is free · 1 waiting in line",
          `      ↳ #1 *<@U9>* waiting since ${isoTime(first)} · meta: &lt;b&gt; &amp; co`,
        ].join("\n"),
      );
    });

    await t.step("an email Slack does not know stays the email; the miss is cached", async () => {
      const { slash, store } = setup(slack, { botToken: BOT_TOKEN });
      await hold(store, "NOBODY", "bob@example.com");
      assert.match((await slash("U1", "lock nobody")).text, /held by \*bob@example\.com\*/);
      assert.match((await slash("U1", "lock nobody")).text, /held by \*bob@example\.com\*/);
      assert.equal(slack.emailLookups.filter((l) => l.email === "bob@example.com").length, 1);
    });

    await t.step("a slow lookup: the email, within the deadline", async () => {
      const { slash, store } = setup(slack, { botToken: BOT_TOKEN });
      await hold(store, "SLOWNAME", "slow@example.com");
      const started = Date.now();
      const refused = await slash("U1", "lock slowname");
      assert.ok(Date.now() - started < 2000, `${Date.now() - started}ms`);
      assert.match(refused.text, /held by \*slow@example\.com\*/);
    });

    await t.step("without a bot token: slack:<id> users are mentions, emails stay", async () => {
      const { slash, store } = setup(slack);
      await hold(store, "SLACKER", "slack:U9");
      assert.match((await slash("U1", "lock slacker")).text, /held by \*<@U9>\*/);
      await hold(store, "MAILER", "alice@example.com");
      assert.match((await slash("U1", "lock mailer")).text, /held by \*alice@example\.com\*/);
    });

    await t.step("a stale Release button: released by whom, and when", async () => {
      const { slash, click } = setup(slack);
      const locked = await slash("U1", "lock stale");
      assert.equal((await slash("U1", "release stale")).response_type, "in_channel");
      assert.equal((await slash("U2", "lock stale")).response_type, "in_channel");
      const stale = await click("U1", buttonOf(locked));
      assert.equal(stale.response_type, "ephemeral");
      assert.match(
        stale.text,
        /^That lock on \*STALE\* was already released by \*<@U1>\* \d{4}-.*Z\. Nothing was changed\. \*STALE\* is now held by \*<@U2>\* \(a lock since/,
      );
      assert.match(stale.blocks[0].text.text, /released by \*<@U1>\* <!date\^\d+\^\{ago\}\|/);
    });

    await t.step("a stale Release button: its lease ran out and it was taken over", async () => {
      const clock = new ManualClock(Date.now());
      const store = new MemoryStore();
      const { slash, click } = setup(slack, {
        store,
        clock,
        locker: new Locker(store, clock, clock.sleep),
      });
      const held = await new Locker(store, clock, clock.sleep).acquire(
        acquireOptions("LEASED", "slack:U1", { leaseMs: 10_000, newEnv: true }),
      );
      assert.equal((await slash("U2", "lock leased")).response_type, "ephemeral");
      clock.advance(10_000);
      assert.equal((await slash("U2", "lock leased")).response_type, "in_channel");
      const stale = await click("U1", { action_id: RELEASE_ACTION, value: buttonValue(held) });
      assert.match(
        stale.text,
        /^That lock on \*LEASED\* is already over: its lease ran out and it was taken over .*\. Nothing was changed\. \*LEASED\* is now held by \*<@U2>\*/,
      );
    });
  } finally {
    await slack.close();
  }
});

Deno.test("parseSlashText and decodeSlackText", () => {
  assert.deepEqual(parseSlashText("lock  prod   build 7  "), {
    name: "lock",
    kind: "regular",
    env: "PROD",
    meta: "build 7",
    metaExplicit: true,
    newEnv: false,
  });
  assert.deepEqual(parseSlashText("UBERLOCK prod"), {
    name: "lock",
    kind: "uberlock",
    env: "PROD",
    meta: "Slack",
    metaExplicit: false,
    newEnv: false,
  });
  assert.deepEqual(parseSlashText("lock prodd --new-env  first deploy"), {
    name: "lock",
    kind: "regular",
    env: "PRODD",
    meta: "first deploy",
    metaExplicit: true,
    newEnv: true,
  });
  assert.equal(
    (parseSlashText("lock prodd --new-envy") as { meta: string }).meta,
    "--new-envy",
    "only the flag itself",
  );
  assert.deepEqual(parseSlashText("release prod"), { name: "release", env: "PROD" });
  assert.deepEqual(parseSlashText("leases"), { name: "leases" });
  assert.deepEqual(parseSlashText("locks"), { name: "leases" });
  assert.deepEqual(parseSlashText("LOCKS staging"), { name: "leases", env: "STAGING" });
  assert.deepEqual(parseSlashText("locks a b"), {
    name: "help",
    problem: "`locks` takes at most one env",
  });
  assert.equal(parseSlashText("release a b").name, "help");
  assert.equal(parseSlashText("lock").name, "help");
  assert.throws(() => parseSlashText("lock bad!"), /invalid env/);
  assert.equal(
    decodeSlackText("lock prod <https://ci.example/run/1|run 1> &lt;b&gt; &amp;amp; <@U1|pat>"),
    "lock prod https://ci.example/run/1 <b> &amp; @pat",
  );
  assert.equal(decodeSlackText("<!here> <https://x.example/>"), "@here https://x.example/");
});
