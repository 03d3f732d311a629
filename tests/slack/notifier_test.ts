/**
 * `serve`'s posts in-process: the notifier on the in-memory store with a manual clock, posting
 * over real HTTP to the fake Slack Web API. Each poll is one `tick()`, so nothing waits on time.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../src/core/clock.ts";
import { realSleep } from "../../src/core/clock.ts";
import { EVENT_WINDOW_MS } from "../../src/core/events.ts";
import { Locker } from "../../src/core/locker.ts";
import { type NotifierOptions, SlackNotifier } from "../../src/slack/notifier.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { acquireOptions } from "../support/acquire.ts";
import { type ChatPost, startFakeSlack } from "../support/fake_slack.ts";
import { ManualClock } from "../support/manual_clock.ts";

const BOT_TOKEN = "xoxb-notifier-test";

function world(slack: ReturnType<typeof startFakeSlack>, o: Partial<NotifierOptions> = {}) {
  const clock = new ManualClock(Date.now());
  const store = new MemoryStore();
  const locker = new Locker(store, clock, clock.sleep);
  const logs: string[] = [];
  const notifier = (extra: Partial<NotifierOptions> = {}) =>
    new SlackNotifier({
      store,
      clock,
      sleep: clock.sleep,
      botToken: BOT_TOKEN,
      apiUrl: slack.apiUrl,
      channels: { envs: { PRODUCTION: "C0PROD", STAGING: "C0STAGE" }, other: "C0OTHER" },
      remindAfterMs: 0,
      log: (line) => logs.push(line),
      ...o,
      ...extra,
    });
  return { clock, store, locker, logs, notifier };
}

/** One poll and the posts it queued. */
async function step(...notifiers: SlackNotifier[]) {
  for (const n of notifiers) await n.tick();
  await Promise.all(notifiers.map((n) => n.idle()));
}

const buttonOf = (p: ChatPost) => p.blocks.find((b) => b.type === "actions")?.elements[0];

Deno.test("the notifier posts each lock event once", async (t) => {
  const slack = startFakeSlack(BOT_TOKEN, {}, undefined, {
    "alice@example.com": { id: "UALICE" },
    "bob@example.com": { id: "UBOB" },
  });
  const since = () => slack.chat.length;
  try {
    await t.step("lock: one post in the env's channel, with mention, link and button", async () => {
      const w = world(slack);
      const a = w.notifier();
      const b = w.notifier(); // a second replica on the same table
      await step(a, b);
      const before = since();
      const held = await w.locker.acquire(
        acquireOptions("PRODUCTION", "alice@example.com", {
          meta: "deploy https://ci.example.com/run/42",
        }),
      );
      await step(a, b);
      await step(b, a);
      const posts = slack.chat.slice(before);
      assert.equal(posts.length, 1, JSON.stringify(posts));
      const [post] = posts;
      assert.equal(post.channel, "C0PROD");
      assert.match(
        post.blocks[0].text.text,
        /^:lock: \*PRODUCTION\* locked by \*<@UALICE>\* · meta: deploy <https:\/\/ci\.example\.com\/run\/42\|ci\.example\.com\/run\/42>$/,
      );
      assert.deepEqual(JSON.parse(buttonOf(post).value), {
        id: held.record.id,
        env: "PRODUCTION",
        kind: "regular",
      });
      assert.ok(slack.chatCalls.every((c) => c.auth === `Bearer ${BOT_TOKEN}`));
      assert.equal(
        w.logs.filter((l) => / slack posted channel=C0PROD event=lock /.test(l)).length,
        1,
      );
    });

    await t.step("envs mapped by *; with no * an unmapped env is not posted", async () => {
      const w = world(slack);
      const n = w.notifier();
      const only = w.notifier({ channels: { envs: { PRODUCTION: "C0PROD" } } });
      await step(n, only);
      const before = since();
      await w.locker.acquire(acquireOptions("QA", "bob@example.com"));
      await step(only);
      assert.equal(since(), before);
      await step(n);
      assert.deepEqual(slack.chat.slice(before).map((p) => p.channel), ["C0OTHER"]);
      // A different table (the claims are per table), with no *: nothing.
      const other = world(slack, { channels: { envs: { PRODUCTION: "C0PROD" } } });
      const lonely = other.notifier();
      await step(lonely);
      await other.locker.acquire(acquireOptions("QA", "bob@example.com"));
      await step(lonely);
      assert.equal(since(), before + 1);
    });

    await t.step("release, forced release, takeover, uberlock on and off", async () => {
      const w = world(slack);
      const n = w.notifier();
      await step(n);
      const before = since();
      const texts = () => slack.chat.slice(before).map((p) => `${p.channel} ${p.text}`);
      await w.locker.acquire(acquireOptions("STAGING", "alice@example.com", { meta: "m1" }));
      await step(n);
      await w.locker.release({
        env: "STAGING",
        user: "alice@example.com",
        onlyUberlock: false,
        force: false,
      });
      await step(n);
      await w.locker.acquire(acquireOptions("STAGING", "ci@example.com", { meta: "m2" }));
      await step(n);
      await w.locker.release({
        env: "STAGING",
        user: "bob@example.com",
        onlyUberlock: false,
        force: true,
      });
      await step(n);
      await w.locker.acquire(acquireOptions("LEASED", "alice@example.com", { leaseMs: 5000 }));
      await step(n);
      await w.locker.acquire(
        acquireOptions("LEASED", "bob@example.com", { timeoutMs: 60_000, intervalMs: 1000 }),
      );
      await step(n);
      await w.locker.acquire(acquireOptions("PRODUCTION", "ops@example.com", { kind: "uberlock" }));
      await step(n);
      await w.locker.release({
        env: "PRODUCTION",
        user: "ops@example.com",
        onlyUberlock: true,
        force: false,
      });
      await step(n);
      await step(n);
      assert.deepEqual(texts(), [
        "C0STAGE *STAGING* locked by *<@UALICE>* · meta: m1",
        "C0STAGE *STAGING* released by *<@UALICE>* after 0s · meta: m1",
        "C0STAGE *STAGING* locked by *ci@example.com* · meta: m2",
        "C0STAGE *STAGING* lock of *ci@example.com* force-released by *<@UBOB>* after 0s · meta: m2",
        "C0OTHER *LEASED* locked by *<@UALICE>* · meta: CLI",
        "C0OTHER *LEASED* locked by *<@UBOB>*, taken over from *<@UALICE>* whose lease ran out · meta: CLI",
        "C0PROD *PRODUCTION* uberlocked by *ops@example.com*: nobody else can take a new lock until it is released · meta: CLI",
        "C0PROD *PRODUCTION* uberlock released by *ops@example.com* after 0s: the freeze is over · meta: CLI",
      ]);
    });

    await t.step("a first start posts only the last minutes' events", async () => {
      const w = world(slack);
      await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
      w.clock.advance(EVENT_WINDOW_MS + 1000);
      await w.locker.acquire(acquireOptions("STAGING", "bob@example.com"));
      const before = since();
      await step(w.notifier());
      assert.deepEqual(slack.chat.slice(before).map((p) => p.text), [
        "*STAGING* locked by *<@UBOB>* · meta: CLI",
      ]);
    });

    await t.step("a restart posts nothing twice, and what happened meanwhile once", async () => {
      const w = world(slack);
      const first = w.notifier();
      await step(first);
      const before = since();
      await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
      await w.locker.acquire(acquireOptions("STAGING", "bob@example.com"));
      await step(first);
      // Stopped; meanwhile STAGING is released; then started again.
      await w.locker.release({
        env: "STAGING",
        user: "bob@example.com",
        onlyUberlock: false,
        force: false,
      });
      w.clock.advance(2000);
      const second = w.notifier();
      await step(second);
      await step(second);
      assert.deepEqual(slack.chat.slice(before).map((p) => p.text), [
        "*PRODUCTION* locked by *<@UALICE>* · meta: CLI",
        "*STAGING* locked by *<@UBOB>* · meta: CLI",
        "*STAGING* released by *<@UBOB>* after 0s · meta: CLI",
      ]);
    });

    await t.step(
      "Slack failing for a moment: retried, posted once, one line per failure",
      async () => {
        const w = world(slack);
        const n = w.notifier();
        await step(n);
        const before = since();
        const calls = slack.chatCalls.length;
        slack.failPosts({ status: 500 }, { error: "ratelimited" }, { status: 429, retryAfter: 1 });
        await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
        await step(n);
        assert.equal(slack.chat.slice(before).length, 1);
        assert.deepEqual(slack.chatCalls.slice(calls).map((c) => c.answer), [
          "HTTP 500",
          "ratelimited",
          "HTTP 429",
          "ok",
        ]);
        const failures = w.logs.filter((l) => / slack post failed /.test(l));
        assert.equal(failures.length, 3, w.logs.join("\n"));
        assert.match(
          failures[0],
          /channel=C0PROD event=lock env=PRODUCTION id=\S+: HTTP 500; retry 1\/5 in 1s$/,
        );
        assert.match(failures[2], /HTTP 429; retry 3\/5 in 4s$/);
      },
    );

    await t.step("Slack refusing for good, or failing too long: given up, logged", async () => {
      const w = world(slack);
      const n = w.notifier({ retryDelaysMs: [10, 10] });
      await step(n);
      const before = since();
      slack.failPosts({ error: "channel_not_found" });
      await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
      await step(n);
      slack.failPosts({ status: 503 }, { status: 503 }, { status: 503 });
      await w.locker.acquire(acquireOptions("STAGING", "alice@example.com"));
      await step(n);
      assert.equal(since(), before);
      const given = w.logs.filter((l) => / slack not posted /.test(l));
      assert.equal(given.length, 2, w.logs.join("\n"));
      assert.match(given[0], /channel=C0PROD event=lock env=PRODUCTION id=\S+: channel_not_found$/);
      assert.match(
        given[1],
        /channel=C0STAGE event=lock env=STAGING id=\S+: HTTP 503 after 3 attempts$/,
      );
      // Given up is final: the claim stands, no later poll posts it.
      await step(n);
      assert.equal(since(), before);
    });

    await t.step(
      "the table failing: logged once, claimed and posted when it works again",
      async () => {
        const w = world(slack);
        const n = w.notifier();
        await step(n);
        const before = since();
        await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
        const claim = w.store.claim.bind(w.store);
        w.store.claim = () => Promise.reject(new Error("cannot reach DynamoDB"));
        await step(n);
        await step(n);
        assert.equal(since(), before);
        w.store.claim = claim;
        await step(n);
        assert.equal(since(), before + 1);
        assert.deepEqual(w.logs.filter((l) => /slack notices:/.test(l)).map((l) => l.slice(25)), [
          "slack notices: cannot claim posts (cannot reach DynamoDB); trying again",
          "slack notices: the table works again",
        ]);
      },
    );

    await t.step("reminders: a DM per period, once across replicas; else the channel", async () => {
      const w = world(slack, { remindAfterMs: 2000 });
      const a = w.notifier();
      const b = w.notifier();
      await step(a, b);
      const held = await w.locker.acquire(acquireOptions("PRODUCTION", "alice@example.com"));
      await w.locker.acquire(acquireOptions("STAGING", "ci@example.com"));
      await w.locker.acquire(acquireOptions("NOWHERE", "ci@example.com"));
      await step(a, b);
      const before = since();
      const reminders = () =>
        slack.chat.slice(before).filter((p) => p.text.includes("held the")).map((p) =>
          `${p.channel} ${p.text.replace(/\(since [^)]*\)/, "(since …)")}`
        );
      for (let i = 0; i < 5; i++) {
        w.clock.advance(1000);
        await step(a, b);
        await step(b, a);
      }
      // Channels are posted to side by side: in order within each one.
      assert.deepEqual(reminders().sort(), [
        "C0OTHER *ci@example.com* has held the lock on *NOWHERE* for 2s (since …) · meta: CLI",
        "C0OTHER *ci@example.com* has held the lock on *NOWHERE* for 4s (since …) · meta: CLI",
        "C0STAGE *ci@example.com* has held the lock on *STAGING* for 2s (since …) · meta: CLI",
        "C0STAGE *ci@example.com* has held the lock on *STAGING* for 4s (since …) · meta: CLI",
        "UALICE You have held the lock on *PRODUCTION* for 2s (since …) · meta: CLI. Release it when you are done.",
        "UALICE You have held the lock on *PRODUCTION* for 4s (since …) · meta: CLI. Release it when you are done.",
      ]);
      const dm = slack.chat.slice(before).find((p) => p.channel === "UALICE")!;
      assert.equal(JSON.parse(buttonOf(dm).value).id, held.record.id);
      // Released: no more reminders.
      await w.locker.release({
        env: "PRODUCTION",
        user: "alice@example.com",
        onlyUberlock: false,
        force: false,
      });
      const count = reminders().length;
      w.clock.advance(4000);
      await step(a, b);
      assert.equal(reminders().filter((r) => r.startsWith("UALICE")).length, 2);
      assert.equal(reminders().length, count + 2);
    });

    await t.step(
      "reminders only (no channels): DMs; a holder without Slack user is skipped",
      async () => {
        const w = world(slack, { channels: undefined, remindAfterMs: 1000 });
        const n = w.notifier();
        await w.locker.acquire(acquireOptions("PRODUCTION", "bob@example.com"));
        await w.locker.acquire(acquireOptions("STAGING", "ci@example.com"));
        const before = since();
        await step(n);
        w.clock.advance(1000);
        await step(n);
        assert.deepEqual(slack.chat.slice(before).map((p) => p.channel), ["UBOB"]);
        assert.equal(
          w.logs.filter((l) => /the holder has no Slack user and the env no channel/.test(l))
            .length,
          1,
        );
      },
    );

    await t.step("run() polls until stopped, then returns", async () => {
      const store = new MemoryStore();
      const locker = new Locker(store, systemClock, realSleep);
      const stop = new AbortController();
      const n = new SlackNotifier({
        store,
        clock: systemClock,
        sleep: realSleep,
        botToken: BOT_TOKEN,
        apiUrl: slack.apiUrl,
        channels: { envs: {}, other: "C0RUN" },
        remindAfterMs: 0,
        pollMs: 50,
        log: () => {},
      });
      const running = n.run(stop.signal);
      await locker.acquire(acquireOptions("RUN", "alice@example.com"));
      await slack.chatPosts((p) => p.channel === "C0RUN");
      stop.abort();
      await running;
    });
  } finally {
    await slack.close();
  }
});
