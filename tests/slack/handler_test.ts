/**
 * The Slack handler in-process on the in-memory store: the paths a real DynamoDB and a real
 * Slack rarely take (no bot token, store failures, a slow users.info, a deadline). The real
 * process against DynamoDB Local is tests/slack/serve_test.ts.
 */
import assert from "node:assert/strict";
import { realSleep, systemClock } from "../../src/core/clock.ts";
import { FailureError } from "../../src/core/errors.ts";
import { Locker } from "../../src/core/locker.ts";
import { decodeSlackText, parseSlashText } from "../../src/slack/commands.ts";
import { createSlackHandler, type SlackHandlerDeps } from "../../src/slack/handler.ts";
import { MemoryStore } from "../../src/store/memory.ts";

const SECRET = "handler-test-secret";
const BOT_TOKEN = "xoxb-handler-test";
const encoder = new TextEncoder();

async function signedRequest(path: string, body: string): Promise<Request> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestamp}:${body}`)),
  );
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return new Request(`http://127.0.0.1${path}`, {
    method: "POST",
    headers: { "x-slack-request-timestamp": timestamp, "x-slack-signature": `v0=${hex}` },
    body,
  });
}

function setup(o: Partial<SlackHandlerDeps> & { store?: MemoryStore } = {}) {
  const store = o.store ?? new MemoryStore();
  const log: string[] = [];
  const handler = createSlackHandler({
    locker: new Locker(store, systemClock, realSleep),
    clock: systemClock,
    signingSecret: SECRET,
    apiUrl: "http://slack.invalid/api",
    fetch: () => Promise.reject(new Error("no network in this test")),
    log: (line) => log.push(line),
    ...o,
  });
  const slash = async (user: string, text: string) => {
    const body = new URLSearchParams({ user_id: user, user_name: "pat", command: "/dpl", text });
    const res = await handler(await signedRequest("/slack/commands", body.toString()));
    assert.equal(res.status, 200);
    return await res.json();
  };
  return { store, handler, log, slash };
}

Deno.test("Slack handler in-process", async (t) => {
  await t.step("without a bot token: slack:<id>, said in the answer, no lookup", async () => {
    let fetched = 0;
    const { slash, store } = setup({
      fetch: () => {
        fetched++;
        return Promise.reject(new Error("unexpected"));
      },
    });
    const answer = await slash("U1", "lock prod");
    assert.equal(answer.response_type, "in_channel");
    assert.match(answer.text, /\*PROD\* locked by \*slack:U1 \(@pat\)\*/);
    assert.match(JSON.stringify(answer.blocks), /no bot token is configured/);
    assert.equal(fetched, 0);
    assert.equal((await store.active("PROD"))[0].user, "slack:U1");
    // Help uses the command name Slack sent.
    assert.match((await slash("U1", "help")).text, /`\/dpl lock <ENV> \[META\]`/);
  });

  await t.step("users.info slower than its limit: falls back, still answers", async () => {
    const { slash } = setup({
      botToken: BOT_TOKEN,
      fetch: (_url, init) =>
        new Promise((_, reject) =>
          init?.signal?.addEventListener("abort", () => reject(new DOMException("", "AbortError")))
        ),
    });
    const started = Date.now();
    const answer = await slash("U2", "lock slow");
    assert.ok(Date.now() - started < 2000);
    assert.equal(answer.response_type, "in_channel");
    assert.match(JSON.stringify(answer.blocks), /users\.info failed \(no answer within \d+ms\)/);
  });

  await t.step("a store failure: ephemeral, state unknown, never a claimed lock", async () => {
    const store = new MemoryStore();
    store.grant = () => Promise.reject(new FailureError("access denied: arn:aws:secret-ish"));
    store.active = () => Promise.reject(new FailureError("access denied"));
    const { slash, log } = setup({ store });
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

  await t.step("a store that never answers: the deadline answers, its timer cleared", async () => {
    const store = new MemoryStore();
    store.guard = () => new Promise(() => {});
    const { slash } = setup({ store, replyBudgetMs: 100 });
    const started = Date.now();
    const answer = await slash("U4", "release prod");
    assert.ok(Date.now() - started < 1000);
    assert.equal(answer.response_type, "ephemeral");
    assert.match(
      answer.text,
      /Could not confirm the release of \*PROD\*: DynamoDB did not answer in time/,
    );
  });

  await t.step("interactions that are not our buttons are acknowledged and ignored", async () => {
    const { handler, log } = setup();
    for (const payload of [{ type: "view_submission" }, { type: "block_actions", actions: [] }]) {
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
});

Deno.test("parseSlashText and decodeSlackText", () => {
  assert.deepEqual(parseSlashText("lock  prod   build 7  "), {
    name: "lock",
    kind: "regular",
    env: "PROD",
    meta: "build 7",
    metaExplicit: true,
  });
  assert.deepEqual(parseSlashText("UBERLOCK prod"), {
    name: "lock",
    kind: "uberlock",
    env: "PROD",
    meta: "Slack",
    metaExplicit: false,
  });
  assert.deepEqual(parseSlashText("release prod"), { name: "release", env: "PROD" });
  assert.deepEqual(parseSlashText("leases"), { name: "leases" });
  assert.equal(parseSlashText("release a b").name, "help");
  assert.equal(parseSlashText("lock").name, "help");
  assert.throws(() => parseSlashText("lock bad!"), /invalid env/);
  assert.equal(
    decodeSlackText("lock prod <https://ci.example/run/1|run 1> &lt;b&gt; &amp;amp; <@U1|pat>"),
    "lock prod https://ci.example/run/1 <b> &amp; @pat",
  );
  assert.equal(decodeSlackText("<!here> <https://x.example/>"), "@here https://x.example/");
});
