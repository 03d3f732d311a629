import { Command } from "@commander-js/extra-typings";
import { checkEnv, checkLock } from "../core/check.ts";
import { EnvHeldError, LockLostError } from "../core/errors.ts";
import { parseEnv, parseLockId } from "../core/parse.ts";
import type { CliContext } from "./context.ts";
import { envCheckLine, holdsLine, json, lostLine } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { withLocker } from "./shared.ts";

export function checkCommand(ctx: CliContext) {
  return (new Command("check"))
    .summary("whether an env is held, or a lock still holds it")
    .description(
      "say who holds an env (exit 0 when free, 3 when held); with --id, exit 0 only while that lock still holds it, else 5",
    )
    .option("--env <env>", "(required) environment")
    .option(
      "--id <id>",
      "the lock that must still hold the env (its lease not run out), e.g. \"$DAPLAYA_LOCK_ID\" in a command of 'daplaya run'",
    )
    .addHelpText(
      "after",
      examples(
        ["who holds production: exit 0 when free, 3 when held", "daplaya check --env production"],
        [
          "in a script run by 'daplaya run': go on only while its lock still holds the env",
          'daplaya check --env "$DAPLAYA_ENV" --id "$DAPLAYA_LOCK_ID" && ./migrate-database',
        ],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const id = flags.id === undefined ? undefined : parseLockId(flags.id);
      // One strongly consistent read of the env's guard decides; the clock is read after it.
      const guard = await withLocker(ctx, g, (_, store) => store.guard(env));
      const now = ctx.clock.now();
      if (id === undefined) {
        const result = checkEnv(env, guard);
        ctx.stdout(g.json ? json(result) : `${envCheckLine(result, now)}\n`);
        if (result.held) throw new EnvHeldError(env);
        return;
      }
      const result = checkLock(env, id, guard, now);
      if (g.json) ctx.stdout(json(result));
      if (!result.holds) throw new LockLostError(lostLine(result, now));
      if (!g.json) ctx.stdout(`${holdsLine(result, now)}\n`);
    });
}
