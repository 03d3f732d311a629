/** Slack request signatures: Slack's documented example, the time window, constant-time compare. */
import assert from "node:assert/strict";
import {
  appIdAllowed,
  MAX_SKEW_S,
  SlackVerifier,
  timingSafeEqual,
} from "../../src/slack/verify.ts";

// The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP = "1531420618";
const BODY =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const NOW = Number(TIMESTAMP) * 1000;

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("Slack signature verification", async (t) => {
  const verifier = new SlackVerifier(SECRET);

  await t.step("signs Slack's documented example", async () => {
    assert.equal(await verifier.sign(TIMESTAMP, bytes(BODY)), SIGNATURE);
  });

  await t.step("accepts a valid request within the window, on both sides", async () => {
    for (const skew of [0, -MAX_SKEW_S * 1000, MAX_SKEW_S * 1000, 299_999]) {
      // A fresh verifier each time: one verifier accepts a signature only once.
      assert.deepEqual(
        await new SlackVerifier(SECRET).verify(TIMESTAMP, SIGNATURE, bytes(BODY), NOW + skew),
        { ok: true },
        `skew ${skew}`,
      );
    }
  });

  await t.step("refuses a replay: a signature is accepted once within its window", async () => {
    const v = new SlackVerifier(SECRET);
    assert.deepEqual(await v.verify(TIMESTAMP, SIGNATURE, bytes(BODY), NOW), { ok: true });
    for (const later of [0, 1000, MAX_SKEW_S * 1000]) {
      assert.deepEqual(
        await v.verify(TIMESTAMP, SIGNATURE, bytes(BODY), NOW + later),
        { ok: false, reason: "replayed request" },
        `${later}ms later`,
      );
    }
    // A request refused for its signature is not remembered: the genuine one still passes.
    const w = new SlackVerifier(SECRET);
    assert.equal((await w.verify(TIMESTAMP, SIGNATURE, bytes(BODY + "&x=1"), NOW)).ok, false);
    assert.equal(w.remembered, 0);
    assert.deepEqual(await w.verify(TIMESTAMP, SIGNATURE, bytes(BODY), NOW), { ok: true });
  });

  await t.step("remembers signatures only while their timestamp is in the window", async () => {
    const v = new SlackVerifier(SECRET);
    const t0 = Number(TIMESTAMP);
    for (let i = 0; i < 50; i++) {
      const ts = String(t0 + i);
      const body = bytes(`n=${i}`);
      assert.deepEqual(await v.verify(ts, await v.sign(ts, body), body, NOW), { ok: true });
    }
    assert.equal(v.remembered, 50);
    // Once the oldest timestamps leave the window their signatures are forgotten (they would
    // be refused as stale anyway); the newest are still remembered.
    const ts = String(t0 + 100);
    const body = bytes("n=100");
    const later = (t0 + 20 + MAX_SKEW_S) * 1000 + 500;
    assert.deepEqual(await v.verify(ts, await v.sign(ts, body), body, later), { ok: true });
    assert.equal(v.remembered, 30);
    const last = String(t0 + 49);
    const replay = await v.verify(last, await v.sign(last, bytes("n=49")), bytes("n=49"), later);
    assert.deepEqual(replay, { ok: false, reason: "replayed request" });
  });

  await t.step("refuses stale and future timestamps (replays)", async () => {
    for (const skew of [MAX_SKEW_S * 1000 + 1000, -(MAX_SKEW_S * 1000 + 1000), 86_400_000]) {
      const v = await verifier.verify(TIMESTAMP, SIGNATURE, bytes(BODY), NOW + skew);
      assert.equal(v.ok, false, `skew ${skew}`);
    }
  });

  await t.step("refuses a changed body, timestamp, signature or secret", async () => {
    const bad = async (ts: string, sig: string, body: string, v = verifier) =>
      assert.equal((await v.verify(ts, sig, bytes(body), NOW)).ok, false, `${ts} ${sig} ${body}`);
    await bad(TIMESTAMP, SIGNATURE, BODY + "&x=1");
    await bad(TIMESTAMP, SIGNATURE, BODY.replace("roadrunner", "coyote"));
    await bad(String(Number(TIMESTAMP) + 1), SIGNATURE, BODY);
    await bad(TIMESTAMP, SIGNATURE.replace(/.$/, "4"), BODY);
    await bad(TIMESTAMP, SIGNATURE.toUpperCase(), BODY);
    await bad(TIMESTAMP, SIGNATURE.replace("v0=", "v1="), BODY);
    await bad(TIMESTAMP, SIGNATURE.slice(0, -2), BODY);
    await bad(TIMESTAMP, SIGNATURE + "00", BODY);
    await bad(TIMESTAMP, "", BODY);
    await bad(TIMESTAMP, SIGNATURE, BODY, new SlackVerifier(SECRET + "x"));
  });

  await t.step("refuses missing or malformed headers", async () => {
    assert.equal((await verifier.verify(null, SIGNATURE, bytes(BODY), NOW)).ok, false);
    assert.equal((await verifier.verify(TIMESTAMP, null, bytes(BODY), NOW)).ok, false);
    for (const ts of ["", "abc", "1531420618.5", "-1531420618", " 1531420618", "1e9"]) {
      assert.equal((await verifier.verify(ts, SIGNATURE, bytes(BODY), NOW)).ok, false, ts);
    }
  });

  await t.step("the reason never echoes the signature or the secret", async () => {
    const v = await verifier.verify(TIMESTAMP, SIGNATURE.replace(/.$/, "0"), bytes(BODY), NOW);
    assert.equal(v.ok, false);
    if (!v.ok) {
      assert.ok(!v.reason.includes(SECRET));
      assert.ok(!v.reason.includes(SIGNATURE.slice(3, 20)));
    }
  });

  await t.step("an empty secret is refused", () => {
    assert.throws(() => new SlackVerifier(""));
  });
});

Deno.test("timingSafeEqual compares whole byte strings", () => {
  assert.equal(timingSafeEqual(bytes(""), bytes("")), true);
  assert.equal(timingSafeEqual(bytes("abc"), bytes("abc")), true);
  assert.equal(timingSafeEqual(bytes("abc"), bytes("abd")), false);
  assert.equal(timingSafeEqual(bytes("abc"), bytes("ab")), false);
  assert.equal(timingSafeEqual(bytes("ab"), bytes("abc")), false);
  assert.equal(timingSafeEqual(bytes("ab\0"), bytes("ab")), false);
  assert.equal(timingSafeEqual(bytes(""), bytes("a")), false);
});

Deno.test("appIdAllowed: any app when unset, else exactly the configured one", () => {
  assert.equal(appIdAllowed(undefined, "A1"), true);
  assert.equal(appIdAllowed(undefined, null), true);
  assert.equal(appIdAllowed("A1", "A1"), true);
  assert.equal(appIdAllowed("A1", "A2"), false);
  assert.equal(appIdAllowed("A1", null), false);
  assert.equal(appIdAllowed("A1", undefined), false);
  assert.equal(appIdAllowed("A1", ["A1"]), false);
});
