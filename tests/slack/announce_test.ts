/**
 * `daplaya serve` posting lock events and reminders to Slack: two serve replicas as real
 * processes on one DynamoDB Local table, a fake Slack Web API over real HTTP, and the CLI as
 * real processes. Every post is awaited with a hang bound, never timed.
 */
import assert from "node:assert/strict";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { localEnv, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";
import { type ChatPost, type Json, startFakeSlack } from "../support/fake_slack.ts";
import { startServe } from "../support/serve.ts";
import { type ServeProcess, signedPost } from "../support/slack_signing.ts";

const SECRET = "announce-test-signing-secret-0123456789";
const APP_ID = "A0DAPLAYA";
const BOT_TOKEN = "xoxb-announce-test";
const CHANNELS = "PRODUCTION=C0PROD,STAGING=C0STAGE,*=C0OTHER";
const SLACK_IDS: Record<string, string> = {
  UALICE: "alice@example.com",
  UBOB: "bob@example.com",
  UCAROL: "carol@example.com",
  UDAVE: "dave@example.com",
  UERIN: "erin@example.com",
};
/** Polls of 500 ms: three of them are plenty for a duplicate to show up. */
const SETTLE_MS = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const buttonOf = (p: ChatPost) => p.blocks.find((b: Json) => b.type === "actions")?.elements[0];

Deno.test("daplaya serve posts each lock event once, from two replicas and a restart", async (t) => {
  const ddb = await startDynamoLocal();
  const slack = startFakeSlack(
    BOT_TOKEN,
    {},
    (id) => SLACK_IDS[id] ?? `${id.toLowerCase()}@example.com`,
    Object.fromEntries(Object.entries(SLACK_IDS).map(([id, email]) => [email, { id }])),
  );
  const cliEnv = localEnv(ddb.endpoint);
  const cli = async (...args: string[]) => {
    const r = await daplaya(args, cliEnv);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const serveEnv = (extra: Record<string, string> = {}) =>
    localEnv(ddb.endpoint, {
      DAPLAYA_SLACK_SIGNING_SECRET: SECRET,
      DAPLAYA_SLACK_APP_ID: APP_ID,
      DAPLAYA_SLACK_BOT_TOKEN: BOT_TOKEN,
      DAPLAYA_SLACK_API_URL: slack.apiUrl,
      DAPLAYA_SLACK_CHANNELS: CHANNELS,
      DAPLAYA_SLACK_POLL_INTERVAL: "500ms",
      ...extra,
    });
  let replicas: ServeProcess[] = [];
  /** The lock id of an env's active lock. */
  const lockId = async (env: string) => {
    const r = await cli("--json", "locks", "--env", env);
    return JSON.parse(r.stdout).locks[0].id as string;
  };
  /** Waits for one post in `channel` whose text matches; returns it. */
  const posted = async (channel: string, text: RegExp) =>
    (await slack.chatPosts((p) => p.channel === channel && text.test(p.text)))[0];
  try {
    await cli("init");
    replicas = await Promise.all([startServe(serveEnv()), startServe(serveEnv())]);
    // Both replicas have polled once: locks from here on are new to both.
    await sleep(SETTLE_MS);

    await t.step("a lock by the CLI: one post with mention, link and Release button", async () => {
      await cli(
        "lock",
        "--env",
        "production",
        "--new-env",
        "--user",
        "alice@example.com",
        "--meta",
        "deploy https://ci.example.com/run/42?a=1&b=2",
      );
      const id = await lockId("production");
      const post = await posted("C0PROD", /locked by/);
      assert.equal(
        post.text,
        "*PRODUCTION* locked by *<@UALICE>* · meta: deploy <https://ci.example.com/run/42?a=1&amp;b=2|ci.example.com/run/42?a=1&amp;b=2>",
      );
      const button = buttonOf(post);
      assert.equal(button.action_id, "release");
      assert.deepEqual(JSON.parse(button.value), { id, env: "PRODUCTION", kind: "regular" });
    });

    await t.step("its Release button releases that lock; the release is posted", async () => {
      const post = await posted("C0PROD", /locked by/);
      const payload = {
        type: "block_actions",
        api_app_id: APP_ID,
        user: { id: "UALICE", username: "alice", name: "alice", team_id: "T0TEAM" },
        channel: { id: "C0PROD", name: "deploys" },
        response_url: `${slack.base}/response/click1`,
        actions: [{ type: "button", ...buttonOf(post), action_ts: "1700000000.000" }],
      };
      const r = await signedPost(
        `${replicas[1].url}/slack/interactions`,
        SECRET,
        new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
      );
      assert.equal(r.status, 200, r.text);
      assert.match((await slack.responses("click1"))[0].text, /\*PRODUCTION\* lock released/);
      const released = await posted("C0PROD", /released by/);
      assert.match(
        released.text,
        /^\*PRODUCTION\* released by \*<@UALICE>\* after \d+s · meta: deploy </,
      );
      assert.equal(buttonOf(released), undefined);
    });

    await t.step("a forced release names who forced it", async () => {
      await cli("lock", "--env", "staging", "--new-env", "--user", "bob@example.com");
      await posted("C0STAGE", /locked by \*<@UBOB>\*/);
      await cli("release", "--env", "staging", "--force", "--user", "carol@example.com");
      const post = await posted("C0STAGE", /force-released/);
      assert.match(
        post.text,
        /^\*STAGING\* lock of \*<@UBOB>\* force-released by \*<@UCAROL>\* after \d+s · meta: CLI$/,
      );
    });

    await t.step("a lapsed lease taken over: one post, from whom (env mapped by *)", async () => {
      await cli(
        "lock",
        "--env",
        "leased",
        "--new-env",
        "--user",
        "dave@example.com",
        "--ttl",
        "3s",
      );
      await posted("C0OTHER", /\*LEASED\* locked by \*<@UDAVE>\*/);
      // Dave never renews: erin waits a whole lease on the record version, then takes over.
      await cli(
        "lock",
        "--env",
        "leased",
        "--user",
        "erin@example.com",
        "--timeout",
        "60s",
        "--interval",
        "500ms",
      );
      const post = await posted("C0OTHER", /taken over/);
      assert.equal(
        post.text,
        "*LEASED* locked by *<@UERIN>*, taken over from *<@UDAVE>* whose lease ran out · meta: CLI",
      );
      assert.equal(JSON.parse(buttonOf(post).value).id, await lockId("leased"));
      await cli("release", "--env", "leased", "--user", "erin@example.com");
      await posted("C0OTHER", /\*LEASED\* released by \*<@UERIN>\*/);
    });

    await t.step("uberlock on and off", async () => {
      await cli("lock", "--env", "production", "--uberlock", "--user", "ops@example.com");
      const on = await posted("C0PROD", /uberlocked/);
      assert.equal(
        on.text,
        "*PRODUCTION* uberlocked by *ops@example.com*: nobody else can take a new lock until it is released · meta: CLI",
      );
      assert.equal(buttonOf(on).action_id, "release_uberlock");
      await cli("release", "--env", "production", "--uberlock", "--user", "ops@example.com");
      const off = await posted("C0PROD", /uberlock released/);
      assert.match(
        off.text,
        /^\*PRODUCTION\* uberlock released by \*ops@example\.com\* after \d+s: the freeze is over · meta: CLI$/,
      );
    });

    await t.step("a lock taken in Slack is posted too", async () => {
      const slash = (text: string) =>
        signedPost(
          `${replicas[0].url}/slack/commands`,
          SECRET,
          new URLSearchParams({
            team_id: "T0TEAM",
            channel_id: "C0DEPLOYS",
            user_id: "UCAROL",
            user_name: "carol",
            command: "/daplaya",
            text,
            api_app_id: APP_ID,
            response_url: `${slack.base}/response/slash`,
          }).toString(),
        );
      const locked = await slash("lock qa --new-env from Slack");
      assert.equal(JSON.parse(locked.text).response_type, "in_channel", locked.text);
      const post = await posted("C0OTHER", /\*QA\* locked/);
      assert.equal(post.text, "*QA* locked by *<@UCAROL>* · meta: from Slack");
      assert.equal(JSON.parse((await slash("release qa")).text).response_type, "in_channel");
      await posted("C0OTHER", /\*QA\* released by \*<@UCAROL>\*/);
    });

    await t.step("Slack answering 500 once: retried, posted once", async () => {
      const calls = slack.chatCalls.length;
      slack.failPosts({ status: 500 });
      await cli("lock", "--env", "flaky", "--new-env", "--user", "alice@example.com");
      await posted("C0OTHER", /\*FLAKY\* locked/);
      assert.deepEqual(slack.chatCalls.slice(calls).map((c) => `${c.channel} ${c.answer}`), [
        "C0OTHER HTTP 500",
        "C0OTHER ok",
      ]);
      const logs = replicas.map((r) => r.stderr()).join("");
      assert.match(
        logs,
        /Z slack post failed channel=C0OTHER event=lock env=FLAKY id=\S+: HTTP 500; retry 1\/5 in 1s\n/,
      );
      await cli("release", "--env", "flaky", "--user", "alice@example.com");
      await posted("C0OTHER", /\*FLAKY\* released/);
    });

    await t.step("two replicas: every event was posted exactly once", async () => {
      await sleep(SETTLE_MS);
      const texts = slack.chat.map((p) =>
        `${p.channel} ${p.text.replace(/after \d+s/, "after …")}`
      );
      assert.deepEqual(texts.filter((x, i) => texts.indexOf(x) !== i), [], texts.join("\n"));
      assert.equal(texts.length, 13, texts.join("\n"));
      assert.equal(slack.chatCalls.length, 14); // and the one 500
      assert.ok(slack.chatCalls.every((c) => c.auth === `Bearer ${BOT_TOKEN}`));
      // The replicas shared the work between them through their claims.
      const postedBy = replicas.map((r) => (r.stderr().match(/ slack posted /g) ?? []).length);
      assert.equal(postedBy[0] + postedBy[1], 13, postedBy.join(" + "));
    });

    await t.step("a restart posts nothing twice, and what happened meanwhile once", async () => {
      await cli("lock", "--env", "persist", "--new-env", "--user", "alice@example.com");
      await posted("C0OTHER", /\*PERSIST\* locked/);
      const stopped = await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
      replicas = [];
      for (const s of stopped) {
        assert.equal(s.code, 0, s.stderr);
        assert.match(
          s.stderr,
          /^Posting to Slack: lock events of PRODUCTION in C0PROD, STAGING in C0STAGE, other envs in C0OTHER; reminders every 4h$/m,
        );
        assert.match(s.stderr, /\nStopped\n$/);
        assert.ok(!s.stderr.includes(BOT_TOKEN) && !s.stderr.includes("ci.example.com"));
      }
      // While no serve runs: a release and a lock.
      const before = slack.chat.length;
      await cli("release", "--env", "persist", "--user", "alice@example.com");
      await cli("lock", "--env", "downtime", "--new-env", "--user", "bob@example.com");
      await cli("lock", "--env", "remind", "--new-env", "--user", "ci@example.com");
      replicas = await Promise.all([
        startServe(serveEnv({ DAPLAYA_REMIND_AFTER: "2s" })),
        startServe(serveEnv({ DAPLAYA_REMIND_AFTER: "2s" })),
      ]);
      await posted("C0OTHER", /\*PERSIST\* released by \*<@UALICE>\*/);
      await posted("C0OTHER", /\*DOWNTIME\* locked by \*<@UBOB>\*/);
      await posted("C0OTHER", /\*REMIND\* locked by \*ci@example\.com\*/);
      await sleep(SETTLE_MS);
      const texts = slack.chat.slice(before).filter((p) => !p.text.includes("held the"))
        .map((p) => p.text.replace(/after \d+s/, "after …")).sort();
      assert.deepEqual(texts, [
        "*DOWNTIME* locked by *<@UBOB>* · meta: CLI",
        "*PERSIST* released by *<@UALICE>* after … · meta: CLI",
        "*REMIND* locked by *ci@example.com* · meta: CLI",
      ]);
    });

    await t.step("reminders: a DM per period to a Slack user, else the channel; once", async () => {
      const reminders = (channel: string) =>
        slack.chat.filter((p) => p.channel === channel && p.text.includes("held the"));
      // Two periods of 2 s each for both locks.
      await slack.chatPosts((p) => p.channel === "UBOB" && /DOWNTIME/.test(p.text), 2);
      await slack.chatPosts(
        (p) => p.channel === "C0OTHER" && /has held the lock on \*REMIND\*/.test(p.text),
        2,
      );
      await cli("release", "--env", "downtime", "--user", "bob@example.com");
      await cli("release", "--env", "remind", "--user", "ci@example.com");
      await sleep(SETTLE_MS);
      const dms = reminders("UBOB").map((p) => p.text);
      const inChannel = reminders("C0OTHER").map((p) => p.text);
      for (const list of [dms, inChannel]) {
        assert.deepEqual(list.filter((x, i) => list.indexOf(x) !== i), [], list.join("\n"));
        assert.ok(list.length >= 2, list.join("\n"));
      }
      assert.match(
        dms[0],
        /^You have held the lock on \*DOWNTIME\* for \d+s \(since \d{4}-\d\d-\d\dT[\d:]+Z\) · meta: CLI\. Release it when you are done\.$/,
      );
      assert.match(inChannel[0], /^\*ci@example\.com\* has held the lock on \*REMIND\* for \d+s /);
      const dm = slack.chat.find((p) => p.channel === "UBOB")!;
      assert.equal(JSON.parse(buttonOf(dm).value).env, "DOWNTIME");
      // Each period once (2s, 4s, …; a restart starts at the current one).
      const periods = dms.map((d) => Number(/for (\d+)s/.exec(d)![1])).sort((a, b) => a - b);
      assert.ok(
        periods.every((p, i) => p % 2 === 0 && (i === 0 || p > periods[i - 1])),
        dms.join("\n"),
      );
    });

    await t.step("SIGTERM: both replicas stop with exit 0", async () => {
      const stopped = await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
      replicas = [];
      for (const s of stopped) {
        assert.equal(s.code, 0, s.stderr);
        assert.match(s.stderr, /reminders every 2s$/m);
        assert.doesNotMatch(s.stderr, /not posted|slack notices:/);
      }
    });
  } finally {
    await Promise.all(replicas.map((r) => r.stop("SIGKILL")));
    await slack.close();
    await ddb.stop();
  }
});

Deno.test("daplaya serve refuses bad posting settings at start", async (t) => {
  const env = (extra: Record<string, string>) =>
    localEnv("http://127.0.0.1:9", {
      DAPLAYA_SLACK_SIGNING_SECRET: SECRET,
      DAPLAYA_SLACK_BOT_TOKEN: BOT_TOKEN,
      ...extra,
    });
  const serve = (extra: Record<string, string>) =>
    daplaya(["serve", "--port", "0", "--hostname", "127.0.0.1"], env(extra));

  await t.step("bad DAPLAYA_SLACK_CHANNELS: exit 2, one line with an example", async () => {
    for (
      const channels of [
        "PRODUCTION",
        "PRODUCTION=C0123,",
        "PRODUCTION=#deploys",
        "bad!env=C0123",
        "*=C0123,*=C0456",
        "prod=C0123,PROD=C0456",
      ]
    ) {
      const r = await serve({ DAPLAYA_SLACK_CHANNELS: channels });
      assert.equal(r.code, 2, `${channels}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^daplaya: invalid DAPLAYA_SLACK_CHANNELS [^\n]*e\.g\. PRODUCTION=C0123,STAGING=C0456,\*=C0789\n$/,
      );
    }
  });

  await t.step("bad DAPLAYA_REMIND_AFTER or poll interval: exit 2", async () => {
    for (
      const [name, value] of [
        ["DAPLAYA_REMIND_AFTER", "soon"],
        ["DAPLAYA_REMIND_AFTER", "500ms"],
        ["DAPLAYA_SLACK_POLL_INTERVAL", "2m"],
      ]
    ) {
      const r = await serve({ DAPLAYA_SLACK_CHANNELS: CHANNELS, [name]: value });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^daplaya: invalid ${name} [^\\n]+\\n$`));
    }
  });

  await t.step("posting without a bot token: exit 1, one line saying so", async () => {
    const r = await daplaya(
      ["serve", "--port", "0"],
      localEnv("http://127.0.0.1:9", {
        DAPLAYA_SLACK_SIGNING_SECRET: SECRET,
        DAPLAYA_SLACK_CHANNELS: CHANNELS,
      }),
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^daplaya: DAPLAYA_SLACK_BOT_TOKEN is not set: [^\n]+\n$/);
  });
});
