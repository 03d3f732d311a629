/**
 * `daplaya freeze add|list|remove`: an env's freeze windows, during which regular locks are
 * refused (src/core/policy.ts decides; src/core/freeze.ts reads schedules and zones).
 */
import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import { formatInstant, newFreezeId, oneOff, parseTimeZone, parseWeekly } from "../core/freeze.ts";
import type { Freeze, FreezeSchedule } from "../core/model.ts";
import { parseEnv, parseMeta } from "../core/parse.ts";
import { truncate } from "../core/text.ts";
import type { CliContext } from "./context.ts";
import { resolveUser } from "./defaults.ts";
import {
  type EnvFreeze,
  freezeJson,
  freezeStatus,
  freezeSummary,
  freezeTable,
  json,
  sortFreezes,
} from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { withPolicies } from "./shared.ts";

export function freezeCommand(ctx: CliContext) {
  return new Command("freeze")
    .summary("freeze windows: no regular lock while one is on")
    .description(
      "freeze windows of an env: while one is in force, regular locks and runs on the env are refused (exit 3) or wait, unless --override-freeze",
    )
    .helpCommand(false)
    .addCommand(freezeAddCommand(ctx))
    .addCommand(freezeListCommand(ctx))
    .addCommand(freezeRemoveCommand(ctx))
    .addHelpText(
      "after",
      examples(
        [
          "no deploys over the holidays (times in --tz, default UTC)",
          'daplaya freeze add --env production --from 2026-12-24T00:00 --until 2026-12-27T00:00 --reason "holidays"',
        ],
        [
          "no deploys over any weekend, Berlin time",
          'daplaya freeze add --env production --weekly "Fri 15:00-Mon 09:00" --tz Europe/Berlin --reason "weekend"',
        ],
        ["every env's windows, and whether each is in force", "daplaya freeze list"],
        ["drop a window", "daplaya freeze remove --env production --id k3x9qa"],
      ),
    );
}

interface AddFlags {
  env?: string;
  reason?: string;
  from?: string;
  until?: string;
  weekly?: string;
  tz?: string;
  user?: string;
  newEnv?: true;
}

/** A reason is shown to everyone refused: required, not blank, with the limits of a meta. */
function parseReason(raw: string | undefined): string {
  if (raw === undefined || raw.trim() === "") {
    throw new UsageError('missing --reason: say why, e.g. --reason "holidays"');
  }
  try {
    return parseMeta(raw);
  } catch (e) {
    throw e instanceof UsageError ? new UsageError(e.message.replace(/meta/, "--reason")) : e;
  }
}

/** Exactly one of --from with --until (once) or --weekly (every week). */
function scheduleOf(flags: AddFlags, tz: string): FreezeSchedule {
  const once = flags.from !== undefined || flags.until !== undefined;
  if (flags.weekly !== undefined && once) {
    throw new UsageError(
      "give either --from and --until (once) or --weekly (every week), not both",
    );
  }
  if (flags.weekly !== undefined) return { weekly: parseWeekly(flags.weekly) };
  if (!once) {
    throw new UsageError(
      'missing schedule: give --from and --until (once), or --weekly "Fri 15:00-Mon 09:00" (every week)',
    );
  }
  if (flags.from === undefined) {
    throw new UsageError("--until needs --from: when the window starts");
  }
  if (flags.until === undefined) throw new UsageError("--from needs --until: when the window ends");
  return oneOff(flags.from, flags.until, tz);
}

function freezeAddCommand(ctx: CliContext) {
  return new Command("add")
    .summary("add a freeze window to an env")
    .description(
      "add a freeze window to an env, once (--from/--until) or every week (--weekly); while it is in force regular locks are refused",
    )
    .option("--env <env>", "(required) environment, e.g. production (case-insensitive)")
    .option("--reason <text>", '(required) why, shown to everyone refused, e.g. "holidays"')
    .option(
      "--from <time>",
      "start of a one-off window, e.g. 2026-12-24T00:00 (in --tz) or 2026-12-24T00:00+01:00",
    )
    .option("--until <time>", "end of a one-off window (excluded), e.g. 2026-12-27T00:00")
    .option(
      "--weekly <spec>",
      'a window every week, local time in --tz, e.g. "Fri 15:00-Mon 09:00"',
    )
    .option(
      "--tz <zone>",
      "IANA time zone of --weekly and of times without offset, e.g. Europe/Berlin (default UTC)",
    )
    .option(
      "--user <user>",
      "who adds it (env DAPLAYA_USER; in CI HEAD's committer, else git config user.email, else $USER@host)",
    )
    .option(
      "--new-env",
      "add it to an env never locked before even if its name is close to a known one",
    )
    .addHelpText(
      "after",
      examples(
        [
          "once: from Christmas Eve to the 27th, Berlin time",
          'daplaya freeze add --env production --from 2026-12-24T00:00 --until 2026-12-27T00:00 --tz Europe/Berlin --reason "holidays"',
        ],
        [
          "every weekend, Berlin time (daylight saving included)",
          'daplaya freeze add --env production --weekly "Fri 15:00-Mon 09:00" --tz Europe/Berlin --reason "weekend"',
        ],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const reason = parseReason(flags.reason);
      const tz = parseTimeZone(flags.tz ?? "UTC");
      const schedule = scheduleOf(flags, tz);
      const user = await resolveUser(flags.user, ctx);
      const now = ctx.clock.now();
      if ("until" in schedule && schedule.until <= now) {
        throw new UsageError(
          `the window ended already: --until ${truncate(flags.until!.trim())} is ${
            formatInstant(schedule.until, tz)
          }, before now (${formatInstant(now, tz)}); nothing was added`,
        );
      }
      const freeze: Freeze = {
        id: newFreezeId(),
        reason,
        tz,
        schedule,
        addedBy: user,
        addedAt: now,
      };
      await withPolicies(ctx, g, (p) => p.addFreeze(env, freeze, flags.newEnv === true));
      const added = { env, freeze };
      if (g.json) return ctx.stdout(json({ freeze: freezeJson(added, ctx.clock.now()) }));
      ctx.stdout(
        `Added freeze window ${freeze.id} on env ${env}: ${freezeSummary(freeze)}; ${
          freezeStatus(freeze, ctx.clock.now())
        }\n`,
      );
    });
}

function freezeListCommand(ctx: CliContext) {
  return new Command("list")
    .summary("list freeze windows and whether each is in force")
    .description(
      "list the freeze windows of every env (or of one), by env then start, with whether each is in force now",
    )
    .option("--env <env>", "only this environment")
    .option("--verbose", "show reasons uncut")
    .addHelpText(
      "after",
      examples(
        ["every env's windows", "daplaya freeze list"],
        ["production's, as one JSON document", "daplaya freeze list --env production --json"],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = flags.env === undefined ? undefined : parseEnv(flags.env);
      const found = await withPolicies(
        ctx,
        g,
        async (p): Promise<EnvFreeze[]> =>
          env !== undefined
            ? (await p.of(env)).freezes.map((freeze) => ({ env, freeze }))
            : (await p.all()).flatMap(({ env, policy }) =>
              policy.freezes.map((freeze) => ({ env, freeze }))
            ),
      );
      const now = ctx.clock.now();
      const items = sortFreezes(found, now);
      if (g.json) return ctx.stdout(json({ freezes: items.map((i) => freezeJson(i, now)) }));
      if (items.length === 0) {
        return ctx.stdout(`No freeze windows${env ? ` on env ${env}` : ""}\n`);
      }
      ctx.stdout(freezeTable(items, now, flags.verbose === true));
    });
}

function freezeRemoveCommand(ctx: CliContext) {
  return new Command("remove")
    .summary("remove a freeze window from an env")
    .description("remove a freeze window from an env, by its id (see 'daplaya freeze list')")
    .option("--env <env>", "(required) environment")
    .option("--id <id>", "(required) the window's id, e.g. k3x9qa")
    .addHelpText(
      "after",
      examples(["end the window k3x9qa now", "daplaya freeze remove --env production --id k3x9qa"]),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const id = parseFreezeId(flags.id);
      const removed = await withPolicies(ctx, g, (p) => p.removeFreeze(env, id));
      if (g.json) {
        return ctx.stdout(json({ removed: freezeJson({ env, freeze: removed }, ctx.clock.now()) }));
      }
      ctx.stdout(`Removed freeze window ${id} from env ${env}: ${freezeSummary(removed)}\n`);
    });
}

function parseFreezeId(raw: string | undefined): string {
  if (raw === undefined || raw === "") {
    throw new UsageError("missing --id: the window's id, as 'daplaya freeze list' shows it");
  }
  if (!/^[A-Za-z0-9]{1,32}$/.test(raw)) {
    throw new UsageError(
      `invalid --id ${
        JSON.stringify(truncate(raw))
      }: a window's id, e.g. k3x9qa (see 'daplaya freeze list')`,
    );
  }
  return raw.toLowerCase();
}
