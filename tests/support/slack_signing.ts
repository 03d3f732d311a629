/**
 * Requests signed as Slack signs them, for tests that drive `daplaya serve` processes
 * (tests/support/serve.ts starts them).
 */
import type { startServe } from "./serve.ts";

export type ServeProcess = Awaited<ReturnType<typeof startServe>>;

const encoder = new TextEncoder();
const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

/** Slack's v0 signature, computed independently of src/slack/verify.ts. */
export async function sign(secret: string, timestamp: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return `v0=${
    hex(await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestamp}:${body}`)))
  }`;
}

/** POSTs a form body to `url` signed with `secret`, now; returns status and body text. */
export async function signedPost(
  url: string,
  secret: string,
  body: string,
): Promise<{ status: number; text: string }> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": await sign(secret, timestamp, body),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/** An in-process request to a Slack handler, signed with `secret` as Slack would, now. */
export async function signedRequest(secret: string, path: string, body: string): Promise<Request> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return new Request(`http://127.0.0.1${path}`, {
    method: "POST",
    headers: {
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": await sign(secret, timestamp, body),
    },
    body,
  });
}
