import assert from "node:assert/strict";
import { UsageError } from "../../src/core/errors.ts";
import {
  currentOrNext,
  describeSchedule,
  formatInstant,
  inForce,
  newFreezeId,
  occurrenceAt,
  oneOff,
  parseInstant,
  parseTimeZone,
  parseWeekly,
} from "../../src/core/freeze.ts";
import type { Freeze, FreezeSchedule } from "../../src/core/model.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (iso: string) => Date.parse(iso);

function freeze(schedule: FreezeSchedule, tz = "UTC", id = "abc234"): Freeze {
  return { id, reason: "test", tz, schedule, addedBy: "alice@example.com", addedAt: 0 };
}

function weekly(spec: string, tz: string, id?: string): Freeze {
  return freeze({ weekly: parseWeekly(spec) }, tz, id);
}

/** Asserts `f` is in force one minute after `start` and before `end`, and not one minute outside. */
function assertBoundaries(f: Freeze, start: string, end: string) {
  const s = at(start);
  const e = at(end);
  assert.equal(occurrenceAt(f, s - MIN), undefined, `not in force 1 min before ${start}`);
  assert.deepEqual(occurrenceAt(f, s), { start: s, end: e }, `in force at ${start}`);
  assert.deepEqual(occurrenceAt(f, s + MIN), { start: s, end: e }, `in force 1 min after ${start}`);
  assert.deepEqual(occurrenceAt(f, e - MIN), { start: s, end: e }, `in force 1 min before ${end}`);
  assert.equal(occurrenceAt(f, e), undefined, `not in force at ${end} (end excluded)`);
  assert.equal(occurrenceAt(f, e + MIN), undefined, `not in force 1 min after ${end}`);
}

Deno.test("weekly windows across daylight-saving changes (Europe/Berlin)", async (t) => {
  const f = weekly("Fri 15:00-Mon 09:00", "Europe/Berlin");

  await t.step("spring forward (29 March 2026): 65 hours, not 66", () => {
    assertBoundaries(f, "2026-03-27T14:00:00Z", "2026-03-30T07:00:00Z");
    const o = occurrenceAt(f, at("2026-03-28T12:00:00Z"))!;
    assert.equal(o.end - o.start, 65 * HOUR);
  });

  await t.step("fall back (25 October 2026): 67 hours, not 66", () => {
    assertBoundaries(f, "2026-10-23T13:00:00Z", "2026-10-26T08:00:00Z");
    const o = occurrenceAt(f, at("2026-10-25T12:00:00Z"))!;
    assert.equal(o.end - o.start, 67 * HOUR);
  });

  await t.step("plain weeks either side: 66 hours at a fixed offset", () => {
    // Winter (CET, +01:00) and summer (CEST, +02:00).
    assertBoundaries(f, "2026-03-20T14:00:00Z", "2026-03-23T08:00:00Z");
    assertBoundaries(f, "2026-07-03T13:00:00Z", "2026-07-06T07:00:00Z");
  });

  await t.step("midweek: not in force, and the next occurrence is that Friday", () => {
    const tuesday = at("2026-03-24T10:00:00Z");
    assert.equal(occurrenceAt(f, tuesday), undefined);
    assert.deepEqual(currentOrNext(f, tuesday), {
      start: at("2026-03-27T14:00:00Z"),
      end: at("2026-03-30T07:00:00Z"),
    });
    // During an occurrence, currentOrNext gives that occurrence.
    assert.deepEqual(currentOrNext(f, at("2026-10-24T00:00:00Z")), {
      start: at("2026-10-23T13:00:00Z"),
      end: at("2026-10-26T08:00:00Z"),
    });
    // Right at its end, the next week's.
    assert.deepEqual(currentOrNext(f, at("2026-10-26T08:00:00Z")), {
      start: at("2026-10-30T14:00:00Z"),
      end: at("2026-11-02T08:00:00Z"),
    });
  });

  await t.step("a window inside one day, and one wrapping the whole week", () => {
    const day = weekly("Wed 09:00-Wed 17:00", "Europe/Berlin");
    assertBoundaries(day, "2026-03-25T08:00:00Z", "2026-03-25T16:00:00Z");
    assertBoundaries(day, "2026-04-01T07:00:00Z", "2026-04-01T15:00:00Z");
    // End before start on the same day: almost a week long.
    const long = weekly("Wed 17:00-Wed 09:00", "Europe/Berlin");
    assertBoundaries(long, "2026-03-25T16:00:00Z", "2026-04-01T07:00:00Z");
    assert.equal(occurrenceAt(long, at("2026-03-25T12:00:00Z")), undefined);
  });
});

Deno.test("weekly boundaries in a gap or a fold", async (t) => {
  await t.step("gap: Sun 02:30 on 29 March 2026 is reached at 03:00 CEST (01:00Z)", () => {
    // The clock jumps from 02:00 CET to 03:00 CEST: it is past 02:30 from 01:00Z on.
    const ending = weekly("Sat 12:00-Sun 02:30", "Europe/Berlin");
    assertBoundaries(ending, "2026-03-28T11:00:00Z", "2026-03-29T01:00:00Z");
    const starting = weekly("Sun 02:30-Sun 05:00", "Europe/Berlin");
    assertBoundaries(starting, "2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z");
    // The weeks either side are at a fixed offset again.
    assertBoundaries(starting, "2026-03-22T01:30:00Z", "2026-03-22T04:00:00Z");
    assertBoundaries(starting, "2026-04-05T00:30:00Z", "2026-04-05T03:00:00Z");
  });

  await t.step("gap: both ends in it leave an empty occurrence that week", () => {
    const f = weekly("Sun 02:10-Sun 02:50", "Europe/Berlin");
    for (const iso of ["2026-03-29T00:59:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]) {
      assert.equal(occurrenceAt(f, at(iso)), undefined, iso);
    }
    assertBoundaries(f, "2026-03-22T01:10:00Z", "2026-03-22T01:50:00Z");
    assert.deepEqual(currentOrNext(f, at("2026-03-28T00:00:00Z")), {
      start: at("2026-04-05T00:10:00Z"),
      end: at("2026-04-05T00:50:00Z"),
    });
  });

  await t.step(
    "fold: Sun 02:30 on 25 Oct 2026 is its first occurrence (02:30 CEST, 00:30Z)",
    () => {
      // 03:00 CEST becomes 02:00 CET: 02:30 local is 00:30Z and again 01:30Z.
      const starting = weekly("Sun 02:30-Sun 04:00", "Europe/Berlin");
      assertBoundaries(starting, "2026-10-25T00:30:00Z", "2026-10-25T03:00:00Z");
      assert.ok(occurrenceAt(starting, at("2026-10-25T01:30:00Z")), "still in force at 02:30 CET");
      const ending = weekly("Sat 12:00-Sun 02:30", "Europe/Berlin");
      assertBoundaries(ending, "2026-10-24T10:00:00Z", "2026-10-25T00:30:00Z");
      // The clock reads 02:15 and 02:30 again an hour later; the window has ended all the same.
      assert.equal(occurrenceAt(ending, at("2026-10-25T01:15:00Z")), undefined);
      assert.equal(occurrenceAt(ending, at("2026-10-25T01:30:00Z")), undefined);
    },
  );
});

Deno.test("weekly windows in zones far from UTC", async (t) => {
  await t.step("Pacific/Kiritimati (UTC+14): local Monday while UTC is still Sunday", () => {
    const f = weekly("Mon 00:00-Mon 12:00", "Pacific/Kiritimati");
    // Sunday 7 June 2026 12:00Z is Monday 8 June 02:00 in Kiritimati.
    const now = at("2026-06-07T12:00:00Z");
    assert.equal(new Date(now).getUTCDay(), 0, "a Sunday in UTC");
    assert.deepEqual(occurrenceAt(f, now), {
      start: at("2026-06-07T10:00:00Z"),
      end: at("2026-06-07T22:00:00Z"),
    });
    assertBoundaries(f, "2026-06-07T10:00:00Z", "2026-06-07T22:00:00Z");
    // Read in UTC, the same spec would not be in force then.
    assert.equal(occurrenceAt(weekly("Mon 00:00-Mon 12:00", "UTC"), now), undefined);
  });

  await t.step("Pacific/Pago_Pago (UTC-11): local Sunday while UTC is already Monday", () => {
    const f = weekly("Sun 18:00-Mon 06:00", "Pacific/Pago_Pago");
    assert.equal(occurrenceAt(f, at("2026-06-08T03:00:00Z")), undefined, "Sunday 16:00 local");
    assert.deepEqual(occurrenceAt(f, at("2026-06-08T06:00:00Z")), {
      start: at("2026-06-08T05:00:00Z"),
      end: at("2026-06-08T17:00:00Z"),
    });
    assertBoundaries(f, "2026-06-08T05:00:00Z", "2026-06-08T17:00:00Z");
    const sunday = weekly("Sat 20:00-Sun 23:00", "Pacific/Pago_Pago");
    const monday = at("2026-06-08T09:00:00Z"); // Sunday 22:00 local
    assert.equal(new Date(monday).getUTCDay(), 1, "a Monday in UTC");
    assert.deepEqual(occurrenceAt(sunday, monday), {
      start: at("2026-06-07T07:00:00Z"),
      end: at("2026-06-08T10:00:00Z"),
    });
  });
});

Deno.test("parseTimeZone", async (t) => {
  await t.step("canonical names, any case", () => {
    assert.equal(parseTimeZone("europe/berlin"), "Europe/Berlin");
    assert.equal(parseTimeZone("UTC"), "UTC");
    assert.equal(parseTimeZone("utc"), "UTC");
    assert.equal(parseTimeZone(" Pacific/Kiritimati "), "Pacific/Kiritimati");
  });
  await t.step("unknown zones, offsets and empty: one line each", () => {
    for (const bad of ["Mars/Olympus", "Europe/Berlinn", "+01:00", "CET+1", "Z"]) {
      assert.throws(
        () => parseTimeZone(bad),
        (e: unknown) =>
          e instanceof UsageError &&
          /^unknown time zone \S+: use an IANA name such as Europe\/Berlin or UTC$/.test(
            e.message,
          ),
        bad,
      );
    }
    assert.throws(() => parseTimeZone(""), {
      name: "UsageError",
      message: /^missing time zone: use an IANA name/,
    });
  });
});

Deno.test("parseWeekly", async (t) => {
  await t.step("normalizes days, spacing, case and hours", () => {
    assert.equal(parseWeekly("fri 15:00 - mon 9:00"), "Fri 15:00-Mon 09:00");
    assert.equal(parseWeekly("Friday 15:00-Monday 09:00"), "Fri 15:00-Mon 09:00");
    assert.equal(parseWeekly("  SAT 0:05-sun 23:59 "), "Sat 00:05-Sun 23:59");
    assert.equal(parseWeekly("Wed 17:00-Wed 09:00"), "Wed 17:00-Wed 09:00");
    assert.equal(parseWeekly("Tue 10:00-Thursday 10:00"), "Tue 10:00-Thu 10:00");
  });
  await t.step("bad specs: one line with the expected form", () => {
    for (
      const bad of [
        "Fri 25:00-Mon 09:00",
        "Fri 15:60-Mon 09:00",
        "Funday 10:00-Mon 09:00",
        "Fr 15:00-Mon 09:00",
        "Fri 15:00",
        "Fri 3pm-Mon 9am",
        "Fri 15:00-Mon 09:00-Tue 10:00",
        "",
      ]
    ) {
      assert.throws(
        () => parseWeekly(bad),
        (e: unknown) =>
          e instanceof UsageError && !e.message.includes("\n") &&
          e.message.startsWith(`invalid --weekly ${JSON.stringify(bad)}: `) &&
          e.message.endsWith(
            `expected e.g. "Fri 15:00-Mon 09:00" (day HH:MM-day HH:MM, local time in --tz)`,
          ),
        JSON.stringify(bad),
      );
    }
  });
  await t.step("start equal to end is refused", () => {
    assert.throws(() => parseWeekly("mon 9:00-Monday 09:00"), {
      name: "UsageError",
      message: /^invalid --weekly "mon 9:00-Monday 09:00": the window starts and ends at the same/,
    });
  });
});

Deno.test("one-off windows", async (t) => {
  await t.step("local date-times are read in --tz, offsets as given", () => {
    assert.equal(parseInstant("2026-12-24T00:00", "UTC", "--from"), at("2026-12-24T00:00:00Z"));
    assert.equal(
      parseInstant("2026-12-24T00:00", "Europe/Berlin", "--from"),
      at("2026-12-23T23:00:00Z"),
    );
    assert.equal(
      parseInstant("2026-07-01T12:30", "europe/berlin", "--from"),
      at("2026-07-01T10:30:00Z"),
    );
    assert.equal(
      parseInstant("2026-12-24 08:15:30", "Pacific/Kiritimati", "--from"),
      at("2026-12-23T18:15:30Z"),
    );
    // An offset wins over --tz.
    assert.equal(
      parseInstant("2026-12-24T00:00Z", "Europe/Berlin", "--from"),
      at("2026-12-24T00:00:00Z"),
    );
    assert.equal(
      parseInstant("2026-12-24T00:00+05:30", "Europe/Berlin", "--until"),
      at("2026-12-23T18:30:00Z"),
    );
    assert.equal(
      parseInstant("2026-12-24T00:00-0800", "UTC", "--until"),
      at("2026-12-24T08:00:00Z"),
    );
  });
  await t.step("a date alone is 00:00 that day in --tz", () => {
    assert.equal(parseInstant("2026-12-24", "UTC", "--from"), at("2026-12-24T00:00:00Z"));
    assert.equal(parseInstant("2026-12-24", "Europe/Berlin", "--from"), at("2026-12-23T23:00:00Z"));
  });
  await t.step("gap and fold: the first instant the wall clock reaches it", () => {
    assert.equal(
      parseInstant("2026-03-29T02:30", "Europe/Berlin", "--from"),
      at("2026-03-29T01:00:00Z"),
    );
    assert.equal(
      parseInstant("2026-10-25T02:30", "Europe/Berlin", "--from"),
      at("2026-10-25T00:30:00Z"),
    );
  });
  await t.step("bad values name the flag, one line each", () => {
    for (
      const bad of [
        "",
        "tomorrow",
        "2026-12-24T25:00",
        "2026-02-30",
        "2026-12-24T00:00[Europe/Berlin]",
        "2026-12-24Z",
        "24.12.2026 10:00",
        "1798070400000",
      ]
    ) {
      assert.throws(
        () => parseInstant(bad, "Europe/Berlin", "--until"),
        (e: unknown) =>
          e instanceof UsageError && !e.message.includes("\n") &&
          e.message.startsWith(`invalid --until ${JSON.stringify(bad)}: expected e.g. `),
        JSON.stringify(bad),
      );
    }
    assert.throws(() => parseInstant("2026-12-24", "Europe/Nowhere", "--from"), {
      name: "UsageError",
      message: /^unknown time zone Europe\/Nowhere: /,
    });
  });
  await t.step("oneOff: from before until, or a UsageError", () => {
    assert.deepEqual(oneOff("2026-12-24T00:00", "2026-12-27T00:00", "Europe/Berlin"), {
      from: at("2026-12-23T23:00:00Z"),
      until: at("2026-12-26T23:00:00Z"),
    });
    assert.throws(() => oneOff("2026-12-27", "2026-12-24", "UTC"), {
      name: "UsageError",
      message: /^--until 2026-12-24 is not after --from 2026-12-27/,
    });
    assert.throws(() => oneOff("2026-12-24T10:00", "2026-12-24T10:00", "UTC"), {
      name: "UsageError",
      message: /^--until 2026-12-24T10:00 is not after --from 2026-12-24T10:00/,
    });
    // Equal instants written differently are refused too.
    assert.throws(() => oneOff("2026-12-24T01:00", "2026-12-24T00:00Z", "Europe/Berlin"), {
      name: "UsageError",
      message: /is not after --from/,
    });
    assert.throws(() => oneOff("2026-12-24", "soon", "UTC"), {
      name: "UsageError",
      message: /^invalid --until "soon"/,
    });
  });
  await t.step("in force from start to end, end excluded", () => {
    const f = freeze(oneOff("2026-12-24", "2026-12-27", "UTC"));
    assertBoundaries(f, "2026-12-24T00:00:00Z", "2026-12-27T00:00:00Z");
  });
  await t.step("currentOrNext: a future, a current and a past window", () => {
    const f = freeze({ from: at("2026-12-24T00:00:00Z"), until: at("2026-12-27T00:00:00Z") });
    const expected = { start: at("2026-12-24T00:00:00Z"), end: at("2026-12-27T00:00:00Z") };
    assert.deepEqual(currentOrNext(f, at("2026-12-01T00:00:00Z")), expected);
    assert.deepEqual(currentOrNext(f, at("2026-12-25T00:00:00Z")), expected);
    assert.equal(currentOrNext(f, at("2026-12-27T00:00:00Z")), undefined);
    assert.equal(currentOrNext(f, at("2027-01-01T00:00:00Z")), undefined);
  });
});

Deno.test("inForce: the windows in force, the one ending last first", () => {
  const now = at("2026-12-25T12:00:00Z"); // a Friday
  const short = freeze({ from: at("2026-12-25T00:00:00Z"), until: at("2026-12-26T00:00:00Z") });
  const long = freeze(
    { from: at("2026-12-20T00:00:00Z"), until: at("2027-01-04T00:00:00Z") },
    "UTC",
    "long22",
  );
  const past = freeze(
    { from: at("2026-12-01T00:00:00Z"), until: at("2026-12-02T00:00:00Z") },
    "UTC",
    "past22",
  );
  const weekend = weekly("Fri 10:00-Mon 09:00", "Europe/Berlin", "wknd22");
  const midweek = weekly("Tue 10:00-Wed 09:00", "Europe/Berlin", "midw22");
  const got = inForce([short, past, weekend, midweek, long], now);
  assert.deepEqual(got.map((g) => g.freeze.id), ["long22", "wknd22", "abc234"]);
  assert.deepEqual(got[1], {
    freeze: weekend,
    start: at("2026-12-25T09:00:00Z"),
    end: at("2026-12-28T08:00:00Z"),
  });
  assert.deepEqual(inForce([past, midweek], now), []);
  assert.deepEqual(inForce([], now), []);
});

Deno.test("text for people", async (t) => {
  await t.step("formatInstant: UTC, and the local time when the zone is not UTC", () => {
    assert.equal(formatInstant(at("2026-12-27T00:00:00Z"), "UTC"), "2026-12-27 00:00 UTC");
    assert.equal(formatInstant(at("2026-12-27T00:00:59.999Z"), "Etc/UTC"), "2026-12-27 00:00 UTC");
    assert.equal(
      formatInstant(at("2026-12-27T00:00:00Z"), "Europe/Berlin"),
      "2026-12-27 00:00 UTC (01:00 Europe/Berlin)",
    );
    assert.equal(
      formatInstant(at("2026-12-26T23:30:00Z"), "Europe/Berlin"),
      "2026-12-26 23:30 UTC (2026-12-27 00:30 Europe/Berlin)",
    );
    assert.equal(
      formatInstant(at("2026-07-01T12:00:00Z"), "Europe/Berlin"),
      "2026-07-01 12:00 UTC (14:00 Europe/Berlin)",
    );
    assert.equal(
      formatInstant(at("2026-06-08T03:00:00Z"), "Pacific/Pago_Pago"),
      "2026-06-08 03:00 UTC (2026-06-07 16:00 Pacific/Pago_Pago)",
    );
  });
  await t.step("describeSchedule: in the window's zone, naming it", () => {
    assert.equal(
      describeSchedule(freeze(oneOff("2026-12-24", "2026-12-27", "UTC"))),
      "2026-12-24 00:00 to 2026-12-27 00:00 UTC",
    );
    assert.equal(
      describeSchedule(
        freeze(oneOff("2026-12-24T00:00", "2026-12-27T00:00Z", "Europe/Berlin"), "Europe/Berlin"),
      ),
      "2026-12-24 00:00 to 2026-12-27 01:00 Europe/Berlin",
    );
    assert.equal(
      describeSchedule(weekly("fri 15:00 - mon 9:00", "Europe/Berlin")),
      "every Fri 15:00-Mon 09:00 Europe/Berlin",
    );
  });
});

Deno.test("newFreezeId: 6 lower-case letters and digits without look-alikes, random", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const id = newFreezeId();
    assert.match(id, /^[a-hjkmnp-z2-9]{6}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 200);
});
