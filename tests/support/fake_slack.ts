/**
 * A fake Slack Web API on loopback: users.info per user, users.lookupByEmail per email,
 * chat.postMessage (recorded, with failures on demand), and response_url sinks.
 */

// deno-lint-ignore no-explicit-any
export type Json = any;

/** How users.info answers for one Slack user id (default, and with only a delay: the email `emailOf` gives). */
export type UserAnswer =
  | { email: string; delayMs?: number }
  | { delayMs: number }
  | { status: number }
  | { error: string }
  | { noEmail: true };

/** How chat.postMessage answers one call that `failPosts` queued (else `{ ok: true }`). */
export type PostAnswer =
  | { status: number; retryAfter?: number }
  | { error: string }
  | { delayMs: number };

/** A chat.postMessage the fake accepted. */
export interface ChatPost {
  channel: string;
  text: string;
  blocks: Json[];
  /** When the fake got it (Date.now()). */
  at: number;
}

/** How users.lookupByEmail answers for one email (any other: `users_not_found`). */
export type EmailAnswer =
  | { id: string; delayMs?: number }
  | { status: number }
  | { error: string };

export function startFakeSlack(
  botToken: string,
  users: Record<string, UserAnswer> = {},
  emailOf = (id: string) => `${id.toLowerCase()}@example.com`,
  byEmail: Record<string, EmailAnswer> = {},
) {
  const lookups: { user: string; auth: string | null }[] = [];
  const emailLookups: { email: string; auth: string | null }[] = [];
  const posts = new Map<string, Json[]>();
  const chat: ChatPost[] = [];
  const chatCalls: { channel: string; auth: string | null; answer: string }[] = [];
  const postFaults: PostAnswer[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/users.info") {
      const user = url.searchParams.get("user") ?? "";
      const auth = req.headers.get("authorization");
      lookups.push({ user, auth });
      if (auth !== `Bearer ${botToken}`) return Response.json({ ok: false, error: "invalid_auth" });
      const a = users[user] ?? { email: emailOf(user) };
      if ("delayMs" in a && a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
      if ("status" in a) return new Response("busy", { status: a.status });
      if ("error" in a) return Response.json({ ok: false, error: a.error });
      // Without an email: what Slack answers when the app lacks the users:read.email scope.
      const profile = "noEmail" in a ? {} : { email: "email" in a ? a.email : emailOf(user) };
      return Response.json({ ok: true, user: { id: user, profile } });
    }
    if (url.pathname === "/api/users.lookupByEmail") {
      const email = url.searchParams.get("email") ?? "";
      const auth = req.headers.get("authorization");
      emailLookups.push({ email, auth });
      if (auth !== `Bearer ${botToken}`) return Response.json({ ok: false, error: "invalid_auth" });
      const a = byEmail[email];
      if (!a) return Response.json({ ok: false, error: "users_not_found" });
      if ("delayMs" in a && a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
      if ("status" in a) return new Response("busy", { status: a.status });
      if ("error" in a) return Response.json({ ok: false, error: a.error });
      return Response.json({ ok: true, user: { id: a.id, profile: { email } } });
    }
    if (url.pathname === "/api/chat.postMessage" && req.method === "POST") {
      const auth = req.headers.get("authorization");
      const body = await req.json();
      const fault = postFaults.shift();
      const call = { channel: String(body.channel), auth, answer: "ok" };
      chatCalls.push(call);
      if (auth !== `Bearer ${botToken}`) {
        call.answer = "invalid_auth";
        return Response.json({ ok: false, error: "invalid_auth" });
      }
      if (fault && "delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault && "status" in fault) {
        call.answer = `HTTP ${fault.status}`;
        const headers: Record<string, string> = fault.retryAfter !== undefined
          ? { "retry-after": String(fault.retryAfter) }
          : {};
        return new Response("busy", { status: fault.status, headers });
      }
      if (fault && "error" in fault) {
        call.answer = fault.error;
        return Response.json({ ok: false, error: fault.error });
      }
      chat.push({ channel: call.channel, text: body.text, blocks: body.blocks, at: Date.now() });
      return Response.json({ ok: true, channel: body.channel, ts: `${Date.now() / 1000}` });
    }
    const m = url.pathname.match(/^\/response\/(\w+)$/);
    if (m && req.method === "POST") {
      posts.set(m[1], [...posts.get(m[1]) ?? [], await req.json()]);
      return new Response("ok");
    }
    await req.body?.cancel();
    return new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    apiUrl: `${base}/api`,
    lookups,
    /** The users.lookupByEmail requests, in order. */
    emailLookups,
    /** The chat.postMessage posts accepted so far, in order. */
    chat,
    /** Every chat.postMessage call, accepted or not, in order. */
    chatCalls,
    /** The next chat.postMessage calls get these answers, one each, in order. */
    failPosts: (...answers: PostAnswer[]) => postFaults.push(...answers),
    /**
     * Waits until `count` accepted posts match `pred` (a hang bound, not a speed check), and
     * returns them.
     */
    async chatPosts(
      pred: (p: ChatPost) => boolean,
      count = 1,
      timeoutMs = 30_000,
    ): Promise<ChatPost[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = chat.filter(pred);
        if (found.length >= count) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `${found.length} of ${count} posts after ${timeoutMs} ms; posted:\n${
              chat.map((p) => `${p.channel}: ${p.text}`).join("\n")
            }`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Everything posted so far to response_url `id`. */
    posted: (id: string): Json[] => posts.get(id) ?? [],
    /** Waits until `count` answers were posted to response_url `id`: a hang bound, not a speed check. */
    async responses(id: string, count = 1, timeoutMs = 30_000): Promise<Json[]> {
      const deadline = Date.now() + timeoutMs;
      while ((posts.get(id)?.length ?? 0) < count) {
        if (Date.now() > deadline) throw new Error(`no answer posted to response_url ${id}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return posts.get(id)!;
    },
    close: () => server.shutdown(),
  };
}
