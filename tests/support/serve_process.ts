/**
 * `daplaya serve` as a real process on loopback, and requests signed as Slack signs them:
 * for tests that drive several serve processes (replicas, restarts).
 */
import { daplayaCommand } from "../../scripts/dev/daplaya.ts";

export interface ServeProcess {
  url: string;
  stderr(): string;
  stop(signal?: Deno.Signal): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `daplaya serve --port 0` and waits (a hang bound) until it listens. */
export async function startServe(env: Record<string, string>): Promise<ServeProcess> {
  const child = daplayaCommand(["serve", "--port", "0", "--hostname", "127.0.0.1"], env).spawn();
  let stderr = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const stdoutDone = new Response(child.stdout).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 120_000; // a hang bound: a loaded machine starts slowly
  let url: string | undefined;
  while (!(url = stderr.match(/^Listening on (http:\/\/127\.0\.0\.1:\d+)\/$/m)?.[1])) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await Promise.all([status, stderrDone, stdoutDone]);
      throw new Error(`serve did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url,
    stderr: () => stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) child.kill(signal);
      const s = await status;
      await stderrDone;
      return { code: s.code, stdout: await stdoutDone, stderr };
    },
  };
}

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
