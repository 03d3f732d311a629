import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { resolveUser } from "./defaults.ts";
import { describe, json } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { parseEnv } from "../core/parse.ts";
import { withLocker } from "./shared.ts";

export function releaseCommand(ctx: CliContext) {
  return (new Command("release"))
    .alias("unlock")
    .summary("release your lock on an env")
    .description("release your lock(s) on an env; the record stays as history")
    .option("--env <env>", "(required) environment")
    .option("--user <user>", "whose lock (env DAPLAYA_USER, else git's committer email)")
    .option("--uberlock", "release only the uberlock")
    .option("--force", "release whoever holds it; the record keeps who forced it")
    .addHelpText(
      "after",
      examples(
        ["release your production lock", "daplaya release --env production"],
        ["the same, as alice", "daplaya unlock --env production --user alice@example.com"],
        [
          "end whoever holds it; the record says you forced it",
          "daplaya release --env production --force",
        ],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const user = await resolveUser(flags.user, ctx);
      const released = await withLocker(
        ctx,
        g,
        (l) =>
          l.release({
            env,
            user,
            onlyUberlock: flags.uberlock === true,
            force: flags.force === true,
          }),
      );
      if (g.json) return ctx.stdout(json({ released }));
      const now = ctx.clock.now();
      ctx.stdout(released.map((r) => `Released ${describe(r, now)}\n`).join(""));
    });
}
