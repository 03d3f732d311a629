/**
 * One `serve`'s Slack handler in-process on a store, with the real clock, signing its requests
 * like Slack does; two on the same store are two replicas. Slack's Web API and response_url are
 * the fake Slack given (a real local HTTP server).
 */
import assert from "node:assert/strict";
import { realSleep, systemClock } from "../../src/core/clock.ts";
import { Locker } from "../../src/core/locker.ts";
import { createSlackHandler, type SlackHandlerDeps } from "../../src/slack/handler.ts";
import type { LockStore } from "../../src/core/store.ts";
import type { Json, startFakeSlack } from "./fake_slack.ts";
import { signedRequest } from "./slack_signing.ts";

let nonce = 0;

export interface ReplicaOptions extends Partial<SlackHandlerDeps> {
  signingSecret: string;
  botToken: string;
  /** How often its Slack waiters renew their places. */
  waitIntervalMs: number;
}

export function slackReplica(
  slack: ReturnType<typeof startFakeSlack>,
  store: LockStore,
  o: ReplicaOptions,
) {
  const log: string[] = [];
  const handler = createSlackHandler({
    locker: new Locker(store, systemClock, realSleep),
    clock: systemClock,
    apiUrl: slack.apiUrl,
    log: (line) => log.push(line),
    ...o,
  });
  const signed = (path: string, body: string) => signedRequest(o.signingSecret, path, body);
  /** `/dpl <text>` from a user; its JSON answer. */
  const slash = async (user: string, text: string): Promise<Json> => {
    const body = new URLSearchParams({
      user_id: user,
      user_name: user.toLowerCase(),
      command: "/dpl",
      text,
      response_url: `${slack.base}/response/slash${++nonce}`,
    });
    const res = await handler(await signed("/slack/commands", body.toString()));
    assert.equal(res.status, 200);
    return await res.json();
  };
  /** Clicks a button; the id of its response_url (or the URL given), once acknowledged. */
  const press = async (user: string, button: Json, responseUrl?: string) => {
    const id = `click${++nonce}`;
    const payload = {
      type: "block_actions",
      user: { id: user, username: user.toLowerCase() },
      response_url: responseUrl ?? `${slack.base}/response/${id}`,
      actions: [{ type: "button", action_id: button.action_id, value: button.value }],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const res = await handler(await signed("/slack/interactions", body));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
    return id;
  };
  /** Clicks a button; the answer posted to its response_url. */
  const click = async (user: string, button: Json) =>
    (await slack.responses(await press(user, button)))[0];
  /** What serve does at SIGTERM: its waiters stop, and every post is sent. */
  const stop = () => handler.drain();
  return { handler, log, slash, press, click, stop };
}
