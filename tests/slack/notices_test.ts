/** The texts `serve` posts by itself: one line per lock event, and reminders. */
import assert from "node:assert/strict";
import type { LockEvent, Reminder } from "../../src/core/events.ts";
import type { LockRecord } from "../../src/core/model.ts";
import { esc } from "../../src/slack/mrkdwn.ts";
import { eventPost, metaMrkdwn, reminderPost } from "../../src/slack/notices.ts";

const T0 = Date.UTC(2026, 0, 5, 14, 3);
const IDS: Record<string, string> = {
  "alice@example.com": "UALICE",
  "bob@example.com": "UBOB",
};
/** Mentions for the users Slack knows, the rest escaped: as SlackIdentities.names gives them. */
const names = (user: string) => IDS[user] ? `<@${IDS[user]}>` : esc(user);

function record(extra: Partial<LockRecord> = {}): LockRecord {
  return {
    id: "3f2c7a4e-0000-4000-8000-000000000001",
    user: "alice@example.com",
    env: "PRODUCTION",
    createdAt: T0,
    updatedAt: T0,
    active: true,
    uberlock: false,
    meta: "deploy v1.2.3",
    fence: T0,
    ...extra,
  };
}

const locked = (r: LockRecord, tookOverFrom?: LockRecord): LockEvent => ({
  type: "locked",
  key: `lock#${r.id}`,
  at: r.createdAt,
  record: r,
  ...(tookOverFrom ? { tookOverFrom } : {}),
});
const released = (r: LockRecord): LockEvent => ({
  type: "released",
  key: `end#${r.id}`,
  at: r.releasedAt!,
  record: r,
});
const ended = (extra: Partial<LockRecord>) =>
  record({
    active: false,
    releasedAt: T0 + 12 * 60_000,
    releasedBy: "alice@example.com",
    ...extra,
  });
// deno-lint-ignore no-explicit-any
const sectionText = (blocks: any[]) => blocks[0].text.text as string;
// deno-lint-ignore no-explicit-any
const buttonOf = (blocks: any[]) => blocks.find((b) => b.type === "actions")?.elements[0];

Deno.test("lock event posts", async (t) => {
  await t.step("lock: mention, meta with its link, and the Release button", () => {
    const r = record({ meta: "deploy v1.2.3 https://ci.example.com/run/42?a=1&b=2." });
    const post = eventPost(locked(r), names);
    assert.equal(
      sectionText(post.blocks),
      ":lock: *PRODUCTION* locked by *<@UALICE>* · meta: deploy v1.2.3 <https://ci.example.com/run/42?a=1&amp;b=2|ci.example.com/run/42?a=1&amp;b=2>.",
    );
    assert.equal(
      post.text,
      "*PRODUCTION* locked by *<@UALICE>* · meta: deploy v1.2.3 <https://ci.example.com/run/42?a=1&amp;b=2|ci.example.com/run/42?a=1&amp;b=2>.",
    );
    const button = buttonOf(post.blocks);
    assert.equal(button.action_id, "release");
    assert.equal(button.text.text, "Release");
    assert.deepEqual(JSON.parse(button.value), { id: r.id, env: "PRODUCTION", kind: "regular" });
  });

  await t.step("a holder Slack does not know is shown escaped, as is", () => {
    const r = record({ user: "ci<bot>@example.com", meta: "a <b> & c" });
    assert.equal(
      sectionText(eventPost(locked(r), names).blocks),
      ":lock: *PRODUCTION* locked by *ci&lt;bot&gt;@example.com* · meta: a &lt;b&gt; &amp; c",
    );
  });

  await t.step("uberlock on: says what it blocks; its button ends the uberlock", () => {
    const r = record({ uberlock: true, user: "bob@example.com", meta: "incident 7" });
    const post = eventPost(locked(r), names);
    assert.equal(
      sectionText(post.blocks),
      ":rotating_light: *PRODUCTION* uberlocked by *<@UBOB>*: nobody else can take a new lock until it is released · meta: incident 7",
    );
    assert.equal(buttonOf(post.blocks).action_id, "release_uberlock");
    assert.equal(JSON.parse(buttonOf(post.blocks).value).kind, "uberlock");
  });

  await t.step("takeover: the new holder, from whom", () => {
    const old = ended({ releasedAt: undefined, releasedBy: undefined, supersededBy: "new" });
    const r = record({ id: "new", user: "bob@example.com", meta: "CLI" });
    const post = eventPost(locked(r, old), names);
    assert.equal(
      sectionText(post.blocks),
      ":lock: *PRODUCTION* locked by *<@UBOB>*, taken over from *<@UALICE>* whose lease ran out · meta: CLI",
    );
    assert.equal(JSON.parse(buttonOf(post.blocks).value).id, "new");
  });

  await t.step("release, forced release, uberlock off: no button", () => {
    const release = eventPost(released(ended({})), names);
    assert.equal(
      sectionText(release.blocks),
      ":unlock: *PRODUCTION* released by *<@UALICE>* after 12m · meta: deploy v1.2.3",
    );
    assert.equal(buttonOf(release.blocks), undefined);
    const forced = eventPost(
      released(ended({ forced: true, releasedBy: "bob@example.com" })),
      names,
    );
    assert.equal(
      sectionText(forced.blocks),
      ":warning: *PRODUCTION* lock of *<@UALICE>* force-released by *<@UBOB>* after 12m · meta: deploy v1.2.3",
    );
    const off = eventPost(released(ended({ uberlock: true, meta: "incident 7" })), names);
    assert.equal(
      sectionText(off.blocks),
      ":white_check_mark: *PRODUCTION* uberlock released by *<@UALICE>* after 12m: the freeze is over · meta: incident 7",
    );
  });

  await t.step("reminders: a direct message to the holder, or a line in the channel", () => {
    const r = record();
    const reminder: Reminder = {
      key: `remind#${r.id}#1`,
      record: r,
      period: 1,
      heldMs: 4 * 3_600_000,
      until: T0 + 8 * 3_600_000,
    };
    const direct = reminderPost(reminder, names, true);
    assert.equal(
      sectionText(direct.blocks),
      `:alarm_clock: You have held the lock on *PRODUCTION* for 4h (since <!date^${
        T0 / 1000
      }^{date_short_pretty} at {time}|2026-01-05T14:03:00Z>) · meta: deploy v1.2.3. Release it when you are done.`,
    );
    assert.equal(
      direct.text,
      "You have held the lock on *PRODUCTION* for 4h (since 2026-01-05T14:03:00Z) · meta: deploy v1.2.3. Release it when you are done.",
    );
    assert.equal(buttonOf(direct.blocks).action_id, "release");
    const ci = { ...reminder, record: record({ user: "ci@example.com" }), period: 2 };
    assert.match(
      sectionText(reminderPost({ ...ci, heldMs: 2 * 4 * 3_600_000 }, names, false).blocks),
      /^:alarm_clock: \*ci@example\.com\* has held the lock on \*PRODUCTION\* for 8h \(since /,
    );
  });

  await t.step("meta is cut to a line, never inside a link or an entity", () => {
    assert.equal(metaMrkdwn("plain & simple", 100), "plain &amp; simple");
    assert.equal(metaMrkdwn("&&&&", 12), "&amp;&amp;…");
    assert.equal(metaMrkdwn("see https://a.example/x and more", 10), "see …");
    assert.equal(
      metaMrkdwn("(https://a.example/x), https://b.example/(y)"),
      "(<https://a.example/x|a.example/x>), <https://b.example/(y)|b.example/(y)>",
    );
    const long = `https://ci.example.com/${"p".repeat(100)}`;
    assert.equal(
      metaMrkdwn(long),
      `<${long}|ci.example.com/${"p".repeat(44)}…>`,
    );
    assert.ok(metaMrkdwn("x".repeat(5000)).length <= 500);
    const post = eventPost(locked(record({ meta: "&".repeat(2048) })), names);
    assert.ok(sectionText(post.blocks).length < 700);
  });
});
