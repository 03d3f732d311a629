import { CommandExit, LockLostError, UsageError } from "../core/errors.ts";
import { formatDuration } from "../core/text.ts";
import type { Child, CliContext } from "./context.ts";
import { lockLine } from "./format.ts";
import { commandWithLockOptions, lockOptions, signalExitCode } from "./lock.ts";
import { globals, STORE_GLOBALS, usesGlobals } from "./global_options.ts";
import { examples } from "./help.ts";
import { durationOption, withLocker } from "./shared.ts";

export const DEFAULT_RUN_LEASE_MS = 2 * 60_000;
export const DEFAULT_GRACE_MS = 10_000;

export function runCommand(ctx: CliContext) {
  return usesGlobals(
    commandWithLockOptions(
      "run",
      `${formatDuration(DEFAULT_RUN_LEASE_MS)}, renewed every third of it`,
    ),
    STORE_GLOBALS,
  )
    .summary("run a command while holding the lock")
    .description(
      "take the lock, run a command under it (renewing its lease), release, exit with its code",
    )
    .argument("<command...>", "the command and its arguments, after --")
    .option(
      "--grace <duration>",
      `after SIGTERM, wait this long before SIGKILL when the lock is lost (default ${
        formatDuration(DEFAULT_GRACE_MS)
      }, at most a quarter of the lease)`,
    )
    .addHelpText(
      "after",
      examples(
        [
          "wait for the lock, deploy under it, release it; exit with the command's code",
          "daplaya run --env production -- ./deploy.sh --fast",
        ],
        [
          "wait at most 30 minutes for the lock; a 5-minute lease",
          "daplaya run --env production --timeout 30m --ttl 5m -- make deploy",
        ],
      ),
    )
    .action(async (argv, flags, cmd) => {
      const g = globals(cmd);
      const options = await lockOptions(flags, ctx);
      if (options.leaseMs === undefined) {
        // Kept alive by this process, so never the env's default ttl; its max ttl shortens it.
        Object.assign(options, { leaseMs: DEFAULT_RUN_LEASE_MS, leaseIsDefault: true });
      }
      // This process keeps the lock: no other process joins it, whatever --user it gives.
      options.owner = crypto.randomUUID();
      // SIGTERM must be followed by SIGKILL before the lease can run out: the grace period
      // is capped at a quarter of the lease.
      const graceFlagMs = durationOption(flags.grace, "--grace", 0) ?? DEFAULT_GRACE_MS;
      const [program, ...args] = argv;
      if (!program) {
        throw new UsageError("missing command: daplaya run [options] -- COMMAND [ARGS...]");
      }

      // Like a shell, 127 for a command that does not exist; and no lock taken for nothing.
      if (!await ctx.programExists(program)) {
        throw new CommandExit(
          127,
          `cannot run ${program}: no such command (looked in PATH); the lock was not taken`,
        );
      }

      await withLocker(ctx, g, async (locker) => {
        // One listener from the first wait to the end: while waiting a stop signal leaves the
        // line; once the lock is ours it goes to the command, also as the command starts.
        const waiting = new AbortController();
        let acquired = false;
        let child: Child | undefined;
        const pending: Deno.Signal[] = [];
        const unlisten = ctx.onStopSignal((signal) => {
          if (!acquired) waiting.abort(signalExitCode(signal));
          else if (child) child.kill(signal);
          else pending.push(signal);
        });
        let held;
        try {
          held = await locker.acquire({ ...options, signal: waiting.signal });
        } catch (e) {
          unlisten();
          throw e;
        }
        acquired = true;
        // An adopted lock keeps a longer lease it had; SIGKILL must still come before it ends.
        const leaseMs = held.record.leaseMs!;
        const graceMs = Math.min(graceFlagMs, leaseMs / 4);
        ctx.stderr(`daplaya: ${lockLine(held, false)}\n`);
        try {
          child = ctx.spawn(program, args, {
            cwd: ctx.cwd,
            env: {
              DAPLAYA_ENV: held.record.env,
              DAPLAYA_LOCK_ID: held.record.id,
              DAPLAYA_FENCE: String(held.record.fence),
            },
          });
        } catch (e) {
          unlisten();
          await locker.releaseHeld(held);
          // Like a shell: 127 when the command does not exist, 126 when it cannot be run.
          const notFound = e instanceof Deno.errors.NotFound;
          throw new CommandExit(
            notFound ? 127 : 126,
            `cannot run ${program}: ${(e as Error).message}; released the lock`,
          );
        }
        for (const signal of pending) child.kill(signal);
        const running = child;

        const { LeaseKeeper } = await import("../core/lease.ts");
        const keeper = new LeaseKeeper(locker, held, ctx.clock, ctx.sleep, {
          stopMarginMs: graceMs + leaseMs / 10,
          onRetry: (e) =>
            ctx.stderr(`daplaya: lease renewal failed, retrying: ${(e as Error).message}\n`),
          onWake: (ms) =>
            ctx.stderr(
              `daplaya: this machine was asleep for ${
                formatDuration(Math.round(ms / 1000) * 1000)
              }; checking the lock is still ours\n`,
            ),
        });
        try {
          keeper.start();
          const outcome = await Promise.race([
            running.status.then((status) => ({ status, lost: undefined })),
            keeper.lost.then((lost) => ({ status: undefined, lost })),
          ]);
          await keeper.stop();
          if (outcome.lost !== undefined) {
            ctx.stderr(
              `daplaya: ${outcome.lost}: stopping the command (SIGTERM, SIGKILL after ${
                formatDuration(graceMs)
              })\n`,
            );
            await stop(running, graceMs, ctx);
            throw new LockLostError(
              `lost the lock on env ${held.record.env} while the command ran: ${outcome.lost}`,
            );
          }
          const released = await locker.releaseHeld(held);
          if (!released) {
            ctx.stderr(
              `daplaya: the lock on env ${held.record.env} was no longer ours to release\n`,
            );
          } else ctx.stderr(`daplaya: released env ${held.record.env}\n`);
          const code = outcome.status.code;
          if (code !== 0) throw new CommandExit(code);
        } finally {
          unlisten();
        }
      });
    });
}

/** SIGTERM, then SIGKILL if the command has not exited within the grace period. */
async function stop(child: Child, graceMs: number, ctx: CliContext): Promise<void> {
  child.kill("SIGTERM");
  const timer = new AbortController();
  const exited = await Promise.race([
    child.status.then(() => true),
    ctx.sleep(graceMs, timer.signal).then(() => false),
  ]);
  timer.abort();
  if (!exited) {
    child.kill("SIGKILL");
    await child.status;
  }
}
