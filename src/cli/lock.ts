import { Command } from "@commander-js/extra-typings";
import { NotAcquiredError, UsageError } from "../core/errors.ts";
import type { AcquireOptions, Waiting } from "../core/locker.ts";
import { recordOf, waitersOf } from "../core/model.ts";
import { freezeText, FrozenError } from "../core/policy.ts";
import { parseEnv, parseMeta } from "../core/parse.ts";
import { formatAge, formatDuration } from "../core/text.ts";
import type { CliContext } from "./context.ts";
import { ciRunUrl, resolveUser } from "./defaults.ts";
import { json, lockLine } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { durationOption, withLocker } from "./shared.ts";

export const DEFAULT_INTERVAL_MS = 5000;
/** A lease longer than a week is a lock without one: leave --ttl out for that. */
export const MAX_TTL_MS = 7 * 86_400_000;
const MAX_INTERVAL_MS = 3_600_000;

interface LockFlags {
  env?: string;
  user?: string;
  meta?: string;
  uberlock?: true;
  timeout?: string;
  wait: boolean;
  interval?: string;
  ttl?: string;
  newEnv?: true;
  overrideFreeze?: true;
}

/** The lock options shared by `lock` and `run`; `ttlDefault` says what no --ttl means. */
export function commandWithLockOptions(
  name: string,
  ttlDefault = "none: the lock stays until released",
) {
  return new Command(name)
    .option("--env <env>", "(required) environment, e.g. production (case-insensitive)")
    .option(
      "--user <user>",
      "who takes it (env DAPLAYA_USER; in CI HEAD's committer, else git config user.email, else $USER@host)",
    )
    .option("--meta <text>", "free text, e.g. a CI run URL (default: the CI run URL, else CLI)")
    .option("--uberlock", "break-glass freeze: blocks everyone else's new locks")
    .option(
      "--timeout <duration>",
      "give up after waiting this long, e.g. 10m (default: wait indefinitely)",
    )
    .option("--no-wait", "a single attempt: exit 3 at once if held")
    .option(
      "--interval <duration>",
      `time between attempts while waiting (default ${formatDuration(DEFAULT_INTERVAL_MS)})`,
    )
    .option(
      "--ttl <duration>",
      `lease: the lock ends by itself unless renewed within this time, 3s to 7d (default ${ttlDefault})`,
    )
    .option(
      "--new-env",
      "lock an env never locked before even if its name is close to a known one",
    )
    .option(
      "--override-freeze",
      "lock even while a freeze window is in force (needs --meta saying why; recorded)",
    );
}

/** Validates lock flags into engine options; nothing is read or written before this passes. */
export async function lockOptions(flags: LockFlags, ctx: CliContext): Promise<AcquireOptions> {
  const env = parseEnv(flags.env);
  if (!flags.wait && flags.timeout !== undefined) {
    throw new UsageError("use either --timeout or --no-wait");
  }
  const timeoutMs = flags.wait ? durationOption(flags.timeout, "--timeout", 0) : 0;
  const intervalMs = durationOption(flags.interval, "--interval", 500, MAX_INTERVAL_MS) ??
    DEFAULT_INTERVAL_MS;
  const leaseMs = durationOption(flags.ttl, "--ttl", 3000, MAX_TTL_MS);
  if (flags.overrideFreeze && flags.uberlock) {
    throw new UsageError(
      "--override-freeze is for regular locks: an uberlock is not stopped by a freeze",
    );
  }
  if (flags.overrideFreeze && !flags.meta?.trim()) {
    throw new UsageError(
      '--override-freeze needs --meta saying why the freeze is overridden, e.g. --meta "hotfix for INC-123"',
    );
  }
  const user = await resolveUser(flags.user, ctx);
  const ciUrl = ciRunUrl(ctx.env);
  const meta = flags.meta !== undefined ? parseMeta(flags.meta) : ciUrl ?? "CLI";
  const kind = flags.uberlock ? "uberlock" : "regular";
  return {
    env,
    user,
    kind,
    meta,
    metaExplicit: flags.meta !== undefined,
    ...(flags.meta === undefined && ciUrl !== undefined ? { metaFromCi: true } : {}),
    ...(flags.overrideFreeze ? { overrideFreeze: true } : {}),
    intervalMs,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(leaseMs !== undefined ? { leaseMs } : {}),
    ...(flags.newEnv ? { newEnv: true } : {}),
    onWait: (waiting) => ctx.stderr(`${stillLocked(env, waiting)}\n`),
    onNote: (text) => ctx.stderr(`daplaya: ${text}\n`),
    onRetry: (e) =>
      ctx.stderr(
        `daplaya: ${e.message.replace(/: try again later$/, "")}; trying again in ${
          formatDuration(intervalMs)
        }\n`,
      ),
  };
}

/**
 * The seed's words, then our place in the env's line, how long the holder has had it and how
 * long we have waited: `Still locked at env PRODUCTION by alice@example.com (you are #2 in
 * line, held for 4m12s; waited 30s)`. A lease that ran out says so, and when we take over.
 * With nobody holding it we wait for those ahead of us: `Still waiting at env PRODUCTION:
 * bob@example.com is next (you are #2 in line; waited 3s)`.
 */
export function stillLocked(env: string, w: Waiting): string {
  const place = w.position !== undefined ? `you are #${w.position} in line` : undefined;
  const waited = `waited ${formatAge(w.waitedMs)}`;
  if (w.frozen && !w.holder) {
    return `Still frozen at env ${env}: ${freezeText(w.frozen)} (${
      [place, waited].filter(Boolean).join("; ")
    })`;
  }
  if (!w.holder) {
    const next = w.ahead[0]?.user || "(no user)";
    return `Still waiting at env ${env}: ${next} is next (${
      [place, waited].filter(Boolean).join("; ")
    })`;
  }
  const uber = w.kind === "uberlock" ? "an uberlock, " : "";
  const state = w.lapsed
    ? `its lease ran out ${formatAge(w.lapsed.agoMs)} ago; taking over in ${
      formatAge(w.lapsed.takeoverInMs)
    } once it is safe`
    : `${uber}held for ${formatAge(w.heldForMs ?? 0)}`;
  return `Still locked at env ${env} by ${w.holder.user} (${
    [place, state].filter(Boolean).join(", ")
  }; ${waited})`;
}

/** A shell's exit code for a process a signal stopped: 128 + its number. */
export function signalExitCode(signal: Deno.Signal): number {
  return 128 + (signal === "SIGTERM" ? 15 : signal === "SIGBREAK" ? 21 : 2);
}

/**
 * `lock --json` refused: who holds the env (null: nobody), who waits in line before us, and
 * the freeze window in force, if that was why.
 */
export function refusal(env: string, e: NotAcquiredError) {
  return {
    acquired: false,
    heldBy: e.holder ? recordOf(env, e.holder.kind, e.holder.slot) : null,
    ...(e instanceof FrozenError
      ? {
        frozen: {
          id: e.frozen[0].freeze.id,
          reason: e.frozen[0].freeze.reason,
          until: e.frozen[0].end,
          tz: e.frozen[0].freeze.tz,
        },
      }
      : {}),
    waiting: waitersOf(env, e.line),
  };
}

export function lockCommand(ctx: CliContext) {
  return commandWithLockOptions("lock")
    .summary("take the lock on an env, waiting while it is held")
    .description("take the lock on an env, waiting while someone else holds it")
    .option("--verbose", "also print the lock's fence and id")
    .addHelpText(
      "after",
      examples(
        [
          "take the production lock, waiting while someone else holds it",
          'daplaya lock --env production --meta "deploy v1.2.3"',
        ],
        ["wait at most 15 minutes, then exit 3", "daplaya lock --env production --timeout 15m"],
        ["a single attempt: exit 3 at once if held", "daplaya lock --env production --no-wait"],
        ["a lock that ends by itself after 30 minutes", "daplaya lock --env staging --ttl 30m"],
        [
          "lock during a freeze window, saying why (the record keeps it)",
          'daplaya lock --env production --override-freeze --meta "hotfix INC-123"',
        ],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const options = await lockOptions(flags, ctx);
      let held;
      // A stop signal while waiting leaves the line, then exits as a shell would for it.
      const waiting = new AbortController();
      const unlisten = ctx.onStopSignal((signal) => waiting.abort(signalExitCode(signal)));
      try {
        held = await withLocker(ctx, g, (l) => l.acquire({ ...options, signal: waiting.signal }));
      } catch (e) {
        // A refusal is a result too: scripts read who holds the env from stdout.
        if (g.json && e instanceof NotAcquiredError) {
          ctx.stdout(json(refusal(options.env, e)));
        }
        throw e;
      } finally {
        unlisten();
      }
      if (g.json) {
        return ctx.stdout(json({ acquired: true, refreshed: held.refreshed, lock: held.record }));
      }
      ctx.stdout(`${lockLine(held, flags.verbose === true)}\n`);
    });
}
