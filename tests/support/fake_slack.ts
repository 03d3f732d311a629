/**
 * A fake Slack Web API on loopback: users.info per user, users.lookupByEmail per email, and
 * response_url sinks.
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
