/**
 * Waiting from Slack with the real processes: `daplaya serve` on loopback against DynamoDB
 * Local and a fake Slack Web API, the CLI beside it. A Slack user joins the line behind a CLI
 * holder, the CLI sees the place, the CLI's release hands the lock over (a direct message with
 * the Release button); another joins and SIGTERM leaves that place.
 */
import assert from "node:assert/strict";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { localEnv, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";
import { type Json, startFakeSlack } from "../support/fake_slack.ts";
import { startServe } from "../support/serve.ts";
import { sign as slackSignature } from "../support/slack_signing.ts";

const SECRET = "join-serve-test-secret";
const BOT_TOKEN = "xoxb-join-serve-test";
let nonce = 0;

const sign = (timestamp: string, body: string) => slackSignature(SECRET, timestamp, body);

Deno.test("daplaya serve: Join the line, the handover, SIGTERM", async () => {
  const ddb = await startDynamoLocal();
  const slack = startFakeSlack(BOT_TOKEN);
  const cliEnv = localEnv(ddb.endpoint);
  const cli = (...args: string[]) => daplaya(args, cliEnv);
  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    assert.equal((await cli("init")).code, 0);
    const locked = await cli("lock", "--env", "production", "--user", "alice@example.com");
    assert.equal(locked.code, 0, locked.stderr);
    serve = await startServe(localEnv(ddb.endpoint, {
      DAPLAYA_SLACK_SIGNING_SECRET: SECRET,
      DAPLAYA_SLACK_BOT_TOKEN: BOT_TOKEN,
      DAPLAYA_SLACK_API_URL: slack.apiUrl,
    }));
    const post = async (path: string, body: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const res = await fetch(`${serve!.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-slack-request-timestamp": timestamp,
          "x-slack-signature": await sign(timestamp, body),
        },
        body,
      });
      assert.equal(res.status, 200);
      return await res.text();
    };
    const slash = async (user: string, text: string): Promise<Json> =>
      JSON.parse(
        await post(
          "/slack/commands",
          new URLSearchParams({
            user_id: user,
            user_name: user.toLowerCase(),
            command: "/daplaya",
            text,
            response_url: `${slack.base}/response/slash${++nonce}`,
          }).toString(),
        ),
      );
    const click = async (user: string, button: Json): Promise<Json> => {
      const id = `click${++nonce}`;
      const payload = {
        type: "block_actions",
        user: { id: user, username: user.toLowerCase() },
        response_url: `${slack.base}/response/${id}`,
        actions: [{ type: "button", action_id: button.action_id, value: button.value }],
      };
      assert.equal(
        await post(
          "/slack/interactions",
          new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
        ),
        "",
      );
      return (await slack.responses(id))[0];
    };
    const joinOf = (answer: Json) =>
      answer.blocks.find((b: Json) => b.type === "actions").elements[0];
    const state = async () => {
      const r = await cli("--json", "locks", "--env", "production");
      assert.equal(r.code, 0, r.stderr);
      const { locks, waiting } = JSON.parse(r.stdout);
      return {
        holders: locks.map((l: Json) => l.user),
        waiting: waiting.map((w: Json) => `${w.position}:${w.user}`),
      };
    };

    // Held by a CLI user: Bob joins from Slack, and the CLI sees his place.
    const refused = await slash("UBOB", "lock production hotfix");
    assert.match(refused.text, /\*PRODUCTION\* is held by \*alice@example\.com\*/);
    assert.equal(joinOf(refused).action_id, "join_line");
    const joined = await click("UBOB", joinOf(refused));
    assert.match(joined.text, /^You are #1 in line for \*PRODUCTION\*; I will message you/);
    assert.deepEqual(await state(), {
      holders: ["alice@example.com"],
      waiting: ["1:ubob@example.com"],
    });
    // The CLI's release hands it over within one interval (5 s): a direct message to Bob.
    const released = await cli("release", "--env", "production", "--user", "alice@example.com");
    assert.equal(released.code, 0, released.stderr);
    const [dm] = await slack.chatPosts((p) => p.channel === "UBOB", 1, 20_000);
    assert.match(dm.text, /^\*PRODUCTION\* is yours: .* locked by \*ubob@example\.com\*/);
    const release = dm.blocks.find((b: Json) => b.type === "actions").elements[0];
    assert.equal(release.action_id, "release");
    assert.deepEqual(await state(), { holders: ["ubob@example.com"], waiting: [] });

    // Carol joins behind Bob; SIGTERM: serve leaves her place before it exits, and tells her.
    const carol = await click("UCAROL", joinOf(await slash("UCAROL", "lock production")));
    assert.match(carol.text, /^You are #1 in line for \*PRODUCTION\*/);
    assert.deepEqual((await state()).waiting, ["1:ucarol@example.com"]);
    const stopped = await serve.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, / wait env=PRODUCTION user=UCAROL result=shutdown told=dm\n/);
    assert.match(stopped.stderr, /\nStopped\n$/);
    assert.deepEqual(await state(), { holders: ["ubob@example.com"], waiting: [] });
    assert.ok(
      slack.chat.some((p) => p.channel === "UCAROL" && /no longer in line/.test(p.text)),
    );
  } finally {
    await serve?.stop("SIGKILL");
    await slack.close();
    await ddb.stop();
  }
});
