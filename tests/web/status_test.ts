/**
 * The status page in-process on the in-memory store with a manual clock: its routes, what the
 * page shows, escaping of hostile users and meta, the headers (CSP above all), HTTP Basic, the
 * JSON against `locks --json`, the badge, and `serve` routing status and Slack requests apart.
 * The real process in a real browser is tests/web/browser_test.ts.
 */
import assert from "node:assert/strict";
import type { CliContext, ServeOptions } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/program.ts";
import { UnavailableError } from "../../src/core/errors.ts";
import { Locker } from "../../src/core/locker.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { BasicAuth, parseStatusAuth } from "../../src/web/auth.ts";
import { badgeSvg } from "../../src/web/badge.ts";
import { escapeHtml, linkify } from "../../src/web/html.ts";
import { STYLE } from "../../src/web/pages.ts";
import { createStatusHandler, type StatusHandlerDeps } from "../../src/web/status.ts";
import { acquireOptions } from "../support/acquire.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { placeOf } from "../support/place.ts";

const INFO = { version: "9.8.7", target: "test-target", deno: "0.0.0" };
const HOSTILE_META = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`;
const HOSTILE_USER = `"><svg onload=alert(1)>'@evil`;

/** A store with PRODUCTION held (lease, link in meta, one waiter), STAGING uberlocked by a
 * hostile user, DEV free, and a clock 4m12s after the first lock. */
async function world() {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const locker = new Locker(store, clock, clock.sleep);
  await locker.acquire(acquireOptions("PRODUCTION", "alice@example.com", {
    meta: "deploy v1.2 https://ci.example.com/run/42?a=1&b=2.",
    metaExplicit: true,
    leaseMs: 600_000,
    newEnv: true,
  }));
  await locker.acquire(acquireOptions("DEV", "erin", { newEnv: true }));
  await locker.release({ env: "DEV", user: "erin", onlyUberlock: false, force: false });
  await locker.acquire(acquireOptions("STAGING", HOSTILE_USER, {
    kind: "uberlock",
    meta: `${HOSTILE_META} javascript:alert(1)`,
    metaExplicit: true,
    newEnv: true,
  }));
  clock.advance(60_000);
  await store.join({
    env: "PRODUCTION",
    place: placeOf("bob@example.com", HOSTILE_META, clock.now()),
  });
  clock.advance(192_000);
  return { store, clock, locker };
}

type World = Awaited<ReturnType<typeof world>>;

function handler(w: World, extra: Partial<StatusHandlerDeps> = {}) {
  const log: string[] = [];
  const h = createStatusHandler({
    locker: w.locker,
    clock: w.clock,
    log: (l) => log.push(l),
    ...extra,
  });
  const get = async (path: string, init: RequestInit = {}) => {
    const res = await h(new Request(`http://127.0.0.1${path}`, init));
    assert.ok(res, `${path} is not a status route`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  return { h, get, log };
}

/**
 * Every tag of a page, checked against what the page may contain: only these elements, only
 * these attributes, links only to http(s) or to the page's own routes. Stored text can only
 * ever add text: every `<` that is not one of ours must have been escaped.
 */
function assertOnlyOurMarkup(page: string) {
  const elements = new Set([
    "!DOCTYPE",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "p",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "ol",
    "li",
    "time",
    "code",
    "img",
  ]);
  const attributes = new Set([
    "lang",
    "charset",
    "name",
    "content",
    "http-equiv",
    "href",
    "rel",
    "class",
    "rowspan",
    "datetime",
    "title",
    "src",
    "alt",
  ]);
  const body = page.replace(/<style>[^<]*<\/style>/, "<style></style>");
  for (const [tag] of body.matchAll(/<[^>]*>/g)) {
    const m = /^<\/?([!\w]+)((?:\s+[\w-]+(?:="[^"<>]*")?)*)\s*>$/.exec(tag);
    assert.ok(m, `malformed tag ${tag}`);
    assert.ok(elements.has(m[1]), `element ${m[1]} in ${tag}`);
    if (m[1] === "!DOCTYPE") continue;
    for (const [, name, value] of m[2].matchAll(/([\w-]+)(?:="([^"]*)")?/g)) {
      assert.ok(attributes.has(name), `attribute ${name} in ${tag}`);
      if (name === "href" || name === "src") {
        assert.match(value, /^(https?:\/\/|env\/|api\/locks$|\.\.\/)/, tag);
      }
    }
  }
  assert.doesNotMatch(page, /<script|javascript:[^<]*"/i);
}

Deno.test("status page: GET / lists every env with holder, kind, held for, meta, lease and line", async () => {
  const w = await world();
  const { get, log } = handler(w);
  const r = await get("/");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
  assertOnlyOurMarkup(r.text);
  const rows = r.text.split("\n").filter((l) => l.startsWith('<tr><td class="env"'));
  assert.equal(rows.length, 3, r.text);
  const [dev, production, staging] = rows;
  assert.match(dev, /<a href="env\/DEV">DEV<\/a>.*<span class="free">free<\/span>.*nobody waits/);
  assert.match(production, /<span class="held">alice@example\.com<\/span><\/td><td>lock<\/td>/);
  // Held for 4m12s, started at 00:00:00 UTC; the lease ends in 5m48s, at 00:10:00 UTC.
  assert.match(
    production,
    /<time datetime="2026-01-01T00:00:00Z" title="since 2026-01-01T00:00:00Z">4m12s<\/time>/,
  );
  assert.match(production, /in <time datetime="2026-01-01T00:10:00Z"[^>]*>5m48s<\/time>/);
  // The meta's URL is a link (escaped, without the full stop after it); the rest is text.
  assert.match(
    production,
    /deploy v1\.2 <a href="https:\/\/ci\.example\.com\/run\/42\?a=1&amp;b=2" rel="noopener noreferrer nofollow">https:\/\/ci\.example\.com\/run\/42\?a=1&amp;b=2<\/a>\./,
  );
  // The line: bob, first, waiting 3m12s, his meta as text.
  assert.match(
    production,
    /<ol class="line"><li>bob@example\.com <span class="muted">waiting <time[^>]*>3m12s<\/time><\/span> <span class="meta">&lt;script&gt;window\.pwned=1&lt;\/script&gt;&lt;img src=x onerror=&quot;window\.pwned=2&quot;&gt;<\/span><\/li><\/ol>/,
  );
  assert.match(
    staging,
    /<span class="uberlock">&quot;&gt;&lt;svg onload=alert\(1\)&gt;&#39;@evil<\/span><\/td><td>uberlock<\/td>/,
  );
  assert.match(staging, /when released/);
  assert.match(
    r.text,
    /<p class="note">3 envs, 2 held\. Updated <time datetime="2026-01-01T00:04:12Z">/,
  );
  assert.match(r.text, /<meta http-equiv="refresh" content="10">/);
  assert.match(r.text, /again every 10s/);
  assert.deepEqual(log, ["2026-01-01T00:04:12.000Z GET / 200 0ms"]);
});

Deno.test("status page: an empty table, a waiter on a free env, two kinds on one env", async () => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const locker = new Locker(store, clock, clock.sleep);
  const { get } = handler({ store, clock, locker });
  assert.match(
    (await get("/")).text,
    /<p>No envs yet: the first <code>daplaya lock --env NAME<\/code> adds one\.<\/p>/,
  );
  await locker.acquire(acquireOptions("QA", "alice", { newEnv: true }));
  await locker.acquire(acquireOptions("QA", "root", { kind: "uberlock" }));
  await locker.acquire(acquireOptions("FREE", "carol", { newEnv: true }));
  await locker.release({ env: "FREE", user: "carol", onlyUberlock: false, force: false });
  await store.join({ env: "FREE", place: placeOf("dave", "", clock.now()) });
  const r = await get("/");
  assertOnlyOurMarkup(r.text);
  assert.match(
    r.text,
    /<tr><td class="env" rowspan="1"><a href="env\/FREE">FREE<\/a><\/td><td><span class="free">free<\/span>.*<ol class="line"><li>dave <span class="muted">waiting <time[^>]*>0s<\/time><\/span><\/li><\/ol>/,
  );
  // Both of QA's locks, the env and its line spanning the two rows.
  assert.match(
    r.text,
    /<tr><td class="env" rowspan="2"><a href="env\/QA">QA<\/a><\/td><td><span class="held">alice<\/span>.*<td rowspan="2"><span class="muted">nobody waits<\/span><\/td><\/tr>\n<tr><td><span class="uberlock">root<\/span>/,
  );
});

Deno.test("status page: headers, no scripts, the style sheet allowed by its hash", async () => {
  const w = await world();
  const { get } = handler(w);
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(STYLE)),
  ).toBase64();
  for (const path of ["/", "/env/production"]) {
    const r = await get(path);
    const csp = r.headers.get("content-security-policy")!;
    assert.equal(
      csp,
      `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; style-src 'sha256-${hash}'; img-src 'self'`,
    );
    assert.doesNotMatch(csp, /script|unsafe/);
    assert.ok(r.text.includes(`<style>${STYLE}</style>`), "the style sheet is the hashed one");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    assert.equal(r.headers.get("x-frame-options"), "DENY");
    assert.doesNotMatch(r.text, / style=/, "no style attributes: the hash allows none");
  }
  for (const path of ["/api/locks", "/badge/production.svg", "/env/%3C"]) {
    const r = await get(path);
    assert.equal(
      r.headers.get("content-security-policy"),
      "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  }
});

Deno.test("status page: GET /env/<ENV> shows the env now and its history", async () => {
  const w = await world();
  await w.locker.acquire(
    acquireOptions("DEV", "bob@example.com", { meta: "deploy v1.3", metaExplicit: true }),
  );
  w.clock.advance(15_000);
  const { get } = handler(w, { refreshSeconds: 90 });
  const r = await get("/env/dev");
  assert.equal(r.status, 200);
  assertOnlyOurMarkup(r.text);
  assert.match(r.text, /<title>daplaya: DEV<\/title>/);
  assert.match(r.text, /<h1>DEV<\/h1>/);
  assert.match(r.text, /<meta http-equiv="refresh" content="90">/);
  assert.match(r.text, /again every 1m30s/);
  assert.match(r.text, /<img src="\.\.\/badge\/DEV\.svg" alt="DEV badge">/);
  assert.match(
    r.text,
    /<td class="env" rowspan="1">DEV<\/td><td><span class="held">bob@example\.com<\/span>/,
  );
  const history = r.text.slice(r.text.indexOf("<h2>Recent history</h2>"));
  const rows = history.split("\n").filter((l) => l.startsWith("<tr><td>"));
  assert.equal(rows.length, 2);
  assert.match(
    rows[0],
    /15s ago.*bob@example\.com.*<td>held<\/td><td class="meta">deploy v1\.3<\/td>/,
  );
  assert.match(
    rows[1],
    /4m27s ago.*erin<\/td><td>lock<\/td><td><time[^>]*>0s<\/time><\/td><td>released by erin <time datetime="2026-01-01T00:00:00Z"[^>]*>4m27s ago<\/time><\/td>/,
  );
  const production = await get("/env/production");
  assert.match(production.text, /<ol class="line"><li>bob@example\.com /);
  // Hostile values on an env's page are text too.
  const staging = await get("/env/Staging");
  assertOnlyOurMarkup(staging.text);
  assert.ok(staging.text.includes(escapeHtml(HOSTILE_META)));
  // An env never locked: 404, said on the page.
  const never = await get("/env/nowhere");
  assert.equal(never.status, 404);
  assert.match(never.text, /<p>No locks recorded on env NOWHERE\.<\/p>/);
  assert.match(never.text, /<span class="free">free<\/span>/);
});

Deno.test("status page: bad env names are 400 with one short line", async () => {
  const w = await world();
  const { get } = handler(w);
  for (
    const path of [
      "/env/",
      "/env/a/b",
      "/env/%3Cscript%3E",
      "/env/%E0%A4%A",
      `/env/${"x".repeat(65)}`,
      "/env/with%20space",
      "/badge/%3Cscript%3E.svg",
      "/badge/a%2Fb.svg",
    ]
  ) {
    const r = await get(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.text, "bad env name: use 1-64 characters of A-Z a-z 0-9 _ . -\n", path);
    assert.equal(r.headers.get("content-type"), "text/plain; charset=utf-8");
  }
});

Deno.test("status page: read-only: other methods are 405; HEAD is answered", async () => {
  const w = await world();
  const { get } = handler(w);
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    for (const path of ["/", "/env/production", "/api/locks", "/badge/production.svg"]) {
      const r = await get(path, { method, body: "x" });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), "GET, HEAD");
    }
  }
  assert.equal((await get("/", { method: "HEAD" })).status, 200);
  // Browsers ask for /favicon.ico at every load: an empty answer, not a 404 in the log.
  const icon = await get("/favicon.ico");
  assert.deepEqual([icon.status, icon.text], [204, ""]);
  assert.equal(icon.headers.get("cache-control"), "max-age=86400");
  // Nothing changed.
  assert.equal((await w.locker.list()).length, 2);
});

Deno.test("status page: GET /api/locks is `locks --json`, byte for byte", async () => {
  const w = await world();
  const { get } = handler(w);
  const api = await get("/api/locks");
  assert.equal(api.status, 200);
  assert.equal(api.headers.get("content-type"), "application/json; charset=utf-8");
  let stdout = "";
  const code = await runCli(
    ["locks", "--json"],
    cliContext(w, {}, { stdout: (t) => (stdout += t) }),
    INFO,
  );
  assert.equal(code, 0);
  assert.equal(api.text, stdout);
  const doc = JSON.parse(api.text);
  assert.deepEqual(Object.keys(doc), ["locks", "waiting"]);
  assert.equal(doc.locks.length, 2);
  assert.equal(doc.waiting[0].meta, HOSTILE_META);
});

Deno.test("status page: the badge", async (t) => {
  const w = await world();
  const { get } = handler(w);
  const texts = (svg: string) =>
    [...svg.matchAll(/<text [^>]*y="14"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

  await t.step("locked, uberlocked, free, never locked", async () => {
    const production = await get("/badge/production.svg");
    assert.equal(production.status, 200);
    assert.equal(production.headers.get("content-type"), "image/svg+xml; charset=utf-8");
    assert.equal(production.headers.get("cache-control"), "no-cache");
    assert.deepEqual(texts(production.text), ["PRODUCTION", "locked by alice@example.com"]);
    assert.match(production.text, /aria-label="PRODUCTION: locked by alice@example\.com"/);
    assert.match(production.text, /<title>PRODUCTION: locked by alice@example\.com<\/title>/);
    assert.deepEqual(texts((await get("/badge/dev.svg")).text), ["DEV", "free"]);
    assert.deepEqual(texts((await get("/badge/nowhere.svg")).text), ["NOWHERE", "never locked"]);
    const staging = await get("/badge/STAGING.svg");
    assert.deepEqual(texts(staging.text), ["STAGING", `uberlocked by ${escapeHtml(HOSTILE_USER)}`]);
  });

  await t.step("well formed, escaped, its text fitted to its parts", () => {
    const svg = badgeSvg("E<&>", `locked by ${"<b>".repeat(20)}`, "#e05d44");
    assertWellFormed(svg);
    assert.doesNotMatch(svg, /<b>/);
    const width = Number(/^<svg [^>]*width="(\d+)"/.exec(svg)![1]);
    const parts = [
      ...svg.matchAll(/<rect (?:x="\d+" )?width="(\d+)" height="20" fill="#(555|e05d44)"/g),
    ]
      .map((m) => Number(m[1]));
    assert.equal(parts[0] + parts[1], width);
    assert.ok(width > 100 && width < 700, String(width));
  });

  await t.step("not a status route: /badge/x (no .svg) is left to the next handler", async () => {
    const h = createStatusHandler({ locker: w.locker, clock: w.clock });
    for (
      const path of [
        "/badge/PRODUCTION",
        "/healthz",
        "/slack/commands",
        "/env",
        "/api",
      ]
    ) {
      assert.equal(await h(new Request(`http://127.0.0.1${path}`)), undefined, path);
    }
  });
});

Deno.test("status page: links in meta: only http(s), escaped, trailing punctuation left out", () => {
  const link = (url: string) => `<a href="${url}" rel="noopener noreferrer nofollow">${url}</a>`;
  assert.equal(linkify("see https://a.example/x.").value, `see ${link("https://a.example/x")}.`);
  assert.equal(
    linkify("(https://a.example/wiki/A_(b)), ok").value,
    `(${link("https://a.example/wiki/A_(b)")}), ok`,
  );
  assert.equal(
    linkify("javascript:alert(1) data:text/html,x ftp://a").value,
    "javascript:alert(1) data:text/html,x ftp://a",
  );
  assert.equal(
    linkify(`http://a.example/"onmouseover="alert(1)`).value,
    `${link("http://a.example/")}&quot;onmouseover=&quot;alert(1)`,
  );
  assert.equal(
    linkify("https://a.example/?q=<script>").value,
    `${link("https://a.example/?q=")}&lt;script&gt;`,
  );
  assert.equal(
    linkify("HTTPS://A.example").value,
    `<a href="https://a.example/" rel="noopener noreferrer nofollow">HTTPS://A.example</a>`,
  );
  assert.equal(escapeHtml("a\u0000b\u001bc\ttab"), "a\ufffdb\ufffdc\ttab");
});

Deno.test("status page: HTTP Basic with DAPLAYA_STATUS_AUTH", async (t) => {
  const w = await world();
  const auth = parseStatusAuth("ops:s3cr:et ü");
  assert.deepEqual(auth, { user: "ops", password: "s3cr:et ü" });
  const { get } = handler(w, { auth });
  const basic = (s: string) => `Basic ${new TextEncoder().encode(s).toBase64()}`;

  await t.step("every status route needs it: 401 with a Basic challenge", async () => {
    for (
      const path of ["/", "/env/production", "/api/locks", "/badge/production.svg", "/env/%3C"]
    ) {
      for (
        const header of [
          undefined,
          basic("ops:wrong"),
          basic("OPS:s3cr:et ü"),
          basic("ops:s3cr:et"),
          basic("ops:s3cr:et üx"),
          "Basic !!!",
          "Bearer abc",
          `Digest ${basic("ops:s3cr:et ü").slice(6)}`,
        ]
      ) {
        const r = await get(path, header ? { headers: { authorization: header } } : {});
        assert.equal(r.status, 401, `${path} ${header}`);
        assert.equal(r.headers.get("www-authenticate"), 'Basic realm="daplaya", charset="UTF-8"');
        assert.doesNotMatch(r.text, /PRODUCTION|alice/);
      }
    }
  });

  await t.step("the right user and password: 200", async () => {
    const headers = { authorization: basic("ops:s3cr:et ü") };
    assert.equal((await get("/", { headers })).status, 200);
    assert.equal((await get("/api/locks", { headers })).status, 200);
    assert.equal((await get("/env/%3C", { headers })).status, 400);
    assert.equal(
      (await get("/", { headers: { authorization: `basic  ${basic("ops:s3cr:et ü").slice(6)}` } }))
        .status,
      200,
    );
    assert.equal(await new BasicAuth(auth).allows(basic("ops:s3cr:et ü")), true);
  });

  await t.step("bad settings are refused, without showing the password", () => {
    for (const raw of ["ops", ":pw", "ops:", "", "op\ts:pw", "ops:p\nw"]) {
      assert.throws(() => parseStatusAuth(raw), (e: Error) => {
        assert.equal(e.name, "UsageError");
        assert.match(e.message, /^invalid DAPLAYA_STATUS_AUTH: use user:password \(/);
        const password = raw.slice(raw.indexOf(":") + 1);
        assert.ok(!raw.includes(":") || !password || !e.message.includes(password), e.message);
        return true;
      });
    }
  });
});

Deno.test("status page: a store that cannot be read is 503, logged", async () => {
  const w = await world();
  const down = new MemoryStore();
  const failing = Object.assign(down, {
    active: () => Promise.reject(new UnavailableError("cannot reach DynamoDB")),
    envs: () => Promise.reject(new UnavailableError("cannot reach DynamoDB")),
  });
  const { get, log } = handler({ ...w, locker: new Locker(failing, w.clock, w.clock.sleep) });
  for (const path of ["/", "/env/production", "/api/locks", "/badge/production.svg"]) {
    const r = await get(path);
    assert.equal(r.status, 503, path);
    assert.equal(r.text, "could not read the locks; try again\n");
  }
  assert.match(log[0], /^2026-01-01T00:04:12\.000Z GET \/ 503 0ms error="cannot reach DynamoDB"$/);
});

/** A CLI context on the world's store and clock; `serve` hands its handler to `onServe`. */
function cliContext(
  w: World,
  env: Record<string, string>,
  o: {
    stdout?: (text: string) => void;
    stderr?: (text: string) => void;
    onServe?: (handler: (req: Request) => Promise<Response>, options: ServeOptions) => void;
  } = {},
): CliContext {
  return {
    env: (name) => env[name] || undefined,
    stdout: o.stdout ?? (() => {}),
    stderr: o.stderr ?? (() => {}),
    openStore: () => Promise.resolve(w.store),
    clock: w.clock,
    sleep: w.clock.sleep,
    git: () => Promise.resolve(undefined),
    hostname: () => "box",
    cwd: "/nonexistent",
    programExists: () => Promise.resolve(true),
    spawn: () => {
      throw new Error("no process here");
    },
    onStopSignal: () => () => {},
    serve: (options, handler) => {
      const finished = new Promise<void>((resolve) => {
        options.signal.addEventListener("abort", () => resolve());
      });
      o.onServe?.(handler, options);
      options.onListen({ hostname: options.hostname, port: 4321 });
      return { finished };
    },
  };
}

Deno.test("serve: status routes to the status page, the rest to Slack as before", async (t) => {
  const w = await world();
  const SECRET = "status-test-secret";
  const start = async (env: Record<string, string>) => {
    let stderr = "";
    const ready = Promise.withResolvers<(req: Request) => Promise<Response>>();
    let stop: ServeOptions["signal"] | undefined;
    const ctx = cliContext(w, { DAPLAYA_SLACK_SIGNING_SECRET: SECRET, ...env }, {
      stderr: (text) => (stderr += text),
      onServe: (handler, options) => {
        stop = options.signal;
        ready.resolve(handler);
      },
    });
    const stopper = new AbortController();
    ctx.onStopSignal = (listener) => {
      stopper.signal.addEventListener("abort", () => listener("SIGTERM"));
      return () => {};
    };
    const code = runCli(["serve", "--port", "0"], ctx, INFO);
    const handler = await Promise.race([
      ready.promise,
      code.then((c) => {
        throw new Error(`serve exited ${c}: ${stderr}`);
      }),
    ]);
    const send = async (path: string, init: RequestInit = {}) => {
      const res = await handler(new Request(`http://127.0.0.1${path}`, init));
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    return {
      send,
      stderr: () => stderr,
      async stop() {
        stopper.abort();
        assert.ok(stop?.aborted);
        return await code;
      },
    };
  };
  const signed = async (body: string) => {
    const timestamp = String(Math.floor(w.clock.now() / 1000));
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign(
      "HMAC",
      key,
      new TextEncoder().encode(`v0:${timestamp}:${body}`),
    );
    return {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": `v0=${new Uint8Array(mac).toHex()}`,
      },
      body,
    };
  };
  const slash = (text: string) =>
    new URLSearchParams({ user_id: "UALICE", user_name: "alice", command: "/daplaya", text })
      .toString();

  await t.step(
    "without DAPLAYA_STATUS_AUTH: the page is open; Slack and /healthz unchanged",
    async () => {
      const s = await start({ DAPLAYA_STATUS_REFRESH: "1s" });
      const page = await s.send("/");
      assert.equal(page.status, 200);
      assert.match(page.text, /alice@example\.com/);
      assert.match(page.text, /<meta http-equiv="refresh" content="1">/);
      assert.equal((await s.send("/healthz")).text, "ok\n");
      assert.equal((await s.send("/nope")).status, 404);
      assert.equal((await s.send("/slack/commands")).status, 405);
      const unsigned = await s.send("/slack/commands", { method: "POST", body: slash("help") });
      assert.deepEqual([unsigned.status, unsigned.text], [
        401,
        "invalid or missing Slack signature\n",
      ]);
      const help = await s.send("/slack/commands", await signed(slash("help")));
      assert.equal(help.status, 200, help.text);
      assert.match(help.text, /lock/);
      assert.equal(await s.stop(), 0);
      // One log line per request, the status page's as the Slack endpoint's.
      const lines = s.stderr().split("\n").filter((l) => /^\d{4}-\S+ (GET|POST) \//.test(l));
      assert.deepEqual(lines.map((l) => l.split(" ").slice(1, 4).join(" ")), [
        "GET / 200",
        "GET /healthz 200",
        "GET /nope 404",
        "GET /slack/commands 405",
        "POST /slack/commands 401",
        "POST /slack/commands 200",
      ]);
    },
  );

  await t.step(
    "with DAPLAYA_STATUS_AUTH: the page needs it; Slack and /healthz do not",
    async () => {
      const s = await start({ DAPLAYA_STATUS_AUTH: "ops:pw" });
      const page = await s.send("/");
      assert.equal(page.status, 401);
      assert.equal(page.headers.get("www-authenticate"), 'Basic realm="daplaya", charset="UTF-8"');
      const authorization = `Basic ${btoa("ops:pw")}`;
      const authed = await s.send("/", { headers: { authorization } });
      assert.equal(authed.status, 200);
      assert.match(authed.text, /<meta http-equiv="refresh" content="10">/);
      assert.equal((await s.send("/healthz")).status, 200);
      const unsigned = await s.send("/slack/commands", { method: "POST", body: slash("help") });
      assert.equal(unsigned.status, 401);
      assert.equal(unsigned.headers.get("www-authenticate"), null);
      assert.equal((await s.send("/slack/commands", await signed(slash("help")))).status, 200);
      assert.equal(await s.stop(), 0);
      assert.ok(!s.stderr().includes("pw"), s.stderr());
    },
  );

  await t.step("bad DAPLAYA_STATUS_AUTH or DAPLAYA_STATUS_REFRESH: exit 2, one line", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { DAPLAYA_STATUS_AUTH: "nocolon-secret" },
        /^daplaya: invalid DAPLAYA_STATUS_AUTH: use user:password [^\n]*\n$/,
      ],
      [{ DAPLAYA_STATUS_AUTH: "ops:" }, /^daplaya: invalid DAPLAYA_STATUS_AUTH: /],
      [
        { DAPLAYA_STATUS_REFRESH: "0" },
        /^daplaya: invalid DAPLAYA_STATUS_REFRESH "0": whole seconds from 1s to 1h/,
      ],
      [{ DAPLAYA_STATUS_REFRESH: "1500ms" }, /^daplaya: invalid DAPLAYA_STATUS_REFRESH /],
      [{ DAPLAYA_STATUS_REFRESH: "2h" }, /^daplaya: invalid DAPLAYA_STATUS_REFRESH /],
      [{ DAPLAYA_STATUS_REFRESH: "soon" }, /^daplaya: invalid DAPLAYA_STATUS_REFRESH /],
    ];
    for (const [env, expected] of cases) {
      let stderr = "";
      let served = false;
      const ctx = cliContext(w, { DAPLAYA_SLACK_SIGNING_SECRET: SECRET, ...env }, {
        stderr: (text) => (stderr += text),
        onServe: () => (served = true),
      });
      assert.equal(await runCli(["serve"], ctx, INFO), 2, JSON.stringify(env));
      assert.match(stderr, expected);
      assert.equal(stderr.split("\n").length, 2, stderr);
      assert.ok(!stderr.includes("secret"), stderr);
      assert.equal(served, false);
    }
  });
});

/** Checks that tags nest and close like XML (the badge has no text outside its elements). */
function assertWellFormed(xml: string) {
  const open: string[] = [];
  for (const [tag, close, name, selfClosing] of xml.matchAll(/<(\/?)([\w:]+)[^>]*?(\/?)>/g)) {
    assert.ok(!/[<&](?!(amp|lt|gt|quot|#39);)/.test(tag.slice(1)), `unescaped in ${tag}`);
    if (selfClosing) continue;
    if (close) assert.equal(open.pop(), name, tag);
    else open.push(name);
  }
  assert.deepEqual(open, []);
  assert.doesNotMatch(xml.replace(/<[^>]*>/g, ""), /[<>]|&(?!(amp|lt|gt|quot|#39);)/);
}

Deno.test("status page: the markup check sees injected markup (control)", () => {
  const page = (body: string) => `<!DOCTYPE html>\n<html lang="en"><body>${body}</body></html>`;
  assertOnlyOurMarkup(page(`<p>${escapeHtml(HOSTILE_META)}</p>`));
  for (
    const body of [
      HOSTILE_META,
      `<p onclick="x">a</p>`,
      `<a href="javascript:alert(1)">a</a>`,
      `<iframe src="https://a.example/"></iframe>`,
      `<img src=x>`,
    ]
  ) {
    assert.throws(() => assertOnlyOurMarkup(page(body)), body);
  }
});
