/**
 * The status page in a real browser: Debian's `chromium` (headless), driven by puppeteer-core,
 * against a real `daplaya serve` on DynamoDB Local, locks taken and released with the CLI. The
 * holder shows, a hostile meta is shown as text and never runs, and the page updates itself
 * (its meta refresh, set to 1 s here) after a release. Skipped, saying so in its name, when
 * chromium is not installed (`apt-get install -y chromium`; .ci/run installs it).
 */
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { localEnv, startDynamoLocal } from "../../scripts/dev/dynamodb_local.ts";
import { startServe } from "../support/serve.ts";

// The browser's globals, used only inside page.evaluate (Deno's types have no DOM).
// deno-lint-ignore no-explicit-any
declare const document: any, window: any, getComputedStyle: any;

const HOSTILE_META = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`;
const AUTH = { username: "ops", password: "pa:ss wörd" };

/** The chromium to drive: CHROMIUM_PATH, else `chromium` in PATH; undefined when none. */
async function findChromium(): Promise<string | undefined> {
  const candidates = [
    Deno.env.get("CHROMIUM_PATH"),
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((d) => `${d}/chromium`),
  ];
  for (const path of candidates) {
    if (path && await Deno.stat(path).then((s) => s.isFile, () => false)) return path;
  }
  return undefined;
}

const chromium = await findChromium();

/** Polls the page's text (across its own reloads) until `test` holds or `ms` have passed. */
async function waitForText(page: Page, test: (text: string) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  let text = "";
  while (Date.now() < deadline) {
    try {
      text = await page.evaluate(() => document.body?.innerText ?? "");
      if (test(text)) return text;
    } catch { /* the page is reloading: its context went away; read the next one */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the page did not change within ${ms}ms; it shows:\n${text}`);
}

Deno.test({
  name: chromium
    ? "status page in chromium: holder shown, hostile meta inert, updates after a release"
    : "status page in chromium (skipped: chromium is not installed)",
  ignore: !chromium,
  // puppeteer keeps sockets and timers of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const started = Date.now();
  const ddb = await startDynamoLocal();
  const cliEnv = localEnv(ddb.endpoint, { DAPLAYA_USER: "alice@example.com" });
  const cli = async (...args: string[]) => {
    const r = await daplaya(args, cliEnv);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  let server: Awaited<ReturnType<typeof startServe>> | undefined;
  let browser: Browser | undefined;
  try {
    await cli("init");
    await cli("lock", "--env", "production", "--meta", HOSTILE_META);
    await cli("lock", "--env", "staging", "--meta", "deploy https://ci.example.com/run/7");
    await cli("release", "--env", "staging");
    server = await startServe(localEnv(ddb.endpoint, {
      DAPLAYA_SLACK_SIGNING_SECRET: "browser-test-secret",
      DAPLAYA_STATUS_AUTH: `${AUTH.username}:${AUTH.password}`,
      DAPLAYA_STATUS_REFRESH: "1s",
    }));
    const base = server.url;
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
      protocolTimeout: 60_000,
    });
    const page = await browser.newPage();
    await page.authenticate(AUTH);
    // What the browser reports: console errors (CSP reports aside), errors thrown on the page,
    // dialogs (alert), and every navigation of the main frame (the page's own reloads).
    const errors: string[] = [];
    const cspReports: string[] = [];
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      (/Content Security Policy/i.test(m.text()) ? cspReports : errors).push(m.text());
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${(e as Error).message ?? e}`));
    page.on("dialog", (d) => {
      errors.push(`dialog: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    let navigations = 0;
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) navigations++;
    });

    await t.step("without the password: 401, nothing shown", async () => {
      const res = await fetch(`${base}/`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), 'Basic realm="daplaya", charset="UTF-8"');
      assert.doesNotMatch(await res.text(), /alice|PRODUCTION/);
    });

    await t.step("the page shows the holder; the hostile meta is text and never runs", async () => {
      const res = await page.goto(`${base}/`, { waitUntil: "load" });
      assert.equal(res?.status(), 200);
      const csp = res!.headers()["content-security-policy"];
      assert.match(csp, /default-src 'none'/);
      assert.doesNotMatch(csp, /script/);
      const row = await page.$$eval(
        "tbody tr",
        (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.innerText.trim())),
      );
      const production = row.find((cells) => cells[0] === "PRODUCTION");
      assert.ok(production, JSON.stringify(row));
      assert.equal(production[1], "alice@example.com");
      assert.equal(production[2], "lock");
      assert.match(production[3], /^\d+(m\d+)?s$|^\d+m$/);
      assert.equal(production[4], HOSTILE_META, "the meta, shown exactly as it was given");
      assert.equal(production[6], "nobody waits");
      const staging = row.find((cells) => cells[0] === "STAGING");
      assert.equal(staging?.[1], "free");
      const dom = await page.evaluate(() => ({
        pwned: typeof window.pwned,
        scripts: document.scripts.length,
        images: document.images.length,
        styled: getComputedStyle(document.querySelector(".held")!).fontWeight,
      }));
      assert.deepEqual(dom, { pwned: "undefined", scripts: 0, images: 0, styled: "600" });
      assert.deepEqual(errors, []);
    });

    await t.step("the env's page: history with the meta as text, the badge loads", async () => {
      await page.goto(`${base}/`, { waitUntil: "load" });
      await Promise.all([
        page.waitForNavigation({ waitUntil: "load" }),
        page.click('a[href="env/PRODUCTION"]'),
      ]);
      assert.equal(new URL(page.url()).pathname, "/env/PRODUCTION");
      const result = await page.evaluate(async () => {
        const img = document.querySelector("img")!;
        if (!img.complete) await new Promise((r) => img.addEventListener("load", r));
        return {
          pwned: typeof window.pwned,
          badge: [img.naturalWidth, img.naturalHeight],
          metas: [...document.querySelectorAll("td.meta")].map((td) => td.textContent),
          links: [...document.querySelectorAll("a")].map((a) => a.getAttribute("href")),
        };
      });
      assert.equal(result.pwned, "undefined");
      assert.ok(result.badge[0] > 50 && result.badge[1] === 20, JSON.stringify(result.badge));
      assert.ok(result.metas.filter((m) => m === HOSTILE_META).length >= 2, result.metas.join());
      assert.deepEqual(result.links, ["../"]);
      const staging = await page.goto(`${base}/env/staging`, { waitUntil: "load" });
      assert.equal(staging?.status(), 200);
      const link = await page.$eval(
        'td.meta a[href^="https://"]',
        (a) => [a.getAttribute("href"), a.getAttribute("rel")],
      );
      assert.deepEqual(link, ["https://ci.example.com/run/7", "noopener noreferrer nofollow"]);
      assert.deepEqual(errors, []);
    });

    await t.step(
      "after a release with the CLI, the page shows the env free by itself",
      async () => {
        await page.goto(`${base}/`, { waitUntil: "load" });
        const before = navigations;
        await cli("release", "--env", "production");
        const text = await waitForText(page, (s) => /^PRODUCTION\s+free\b/m.test(s), 20_000);
        assert.doesNotMatch(text, /alice@example\.com/);
        assert.ok(navigations > before, "the page reloaded itself");
        assert.equal(await page.evaluate(() => typeof window.pwned), "undefined");
        assert.deepEqual(errors, []);
        assert.deepEqual(cspReports, [], "nothing on the page even tried to run or load");
      },
    );

    await t.step("the badge and the JSON, as the browser gets them", async () => {
      const badge = await page.goto(`${base}/badge/production.svg`, { waitUntil: "load" });
      assert.equal(badge?.headers()["content-type"], "image/svg+xml; charset=utf-8");
      assert.match(await badge!.text(), />PRODUCTION<\/text>.*>free<\/text>/s);
      const api = await page.goto(`${base}/api/locks`, { waitUntil: "load" });
      assert.deepEqual(JSON.parse(await api!.text()), { locks: [], waiting: [] });
    });
    console.log(`  (${Date.now() - started} ms in all)`);
  } finally {
    await browser?.close();
    await server?.stop("SIGTERM");
    await ddb.stop();
  }
});
