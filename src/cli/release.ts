import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { resolveUser } from "./defaults.ts";
import { NotHeldError } from "../core/errors.ts";
import { json, releasedLine } from "./format.ts";
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
    .option(
      "--user <user>",
      "whose lock (env DAPLAYA_USER; in CI HEAD's committer, else git config user.email, else $USER@host)",
    )
    .option("--uberlock", "release only the uberlock (with --force: whoever's uberlock)")
    .option("--force", "end whoever's regular lock; the record keeps who forced it")
    .option("--verbose", "also print the fence and id of what was released")
    .addHelpText(
      "after",
      examples(
        ["release your production lock", "daplaya release --env production"],
        ["the same, as alice", "daplaya unlock --env production --user alice@example.com"],
        [
          "end whoever's regular lock; the record says you forced it",
          "daplaya release --env production --force",
        ],
        ["end whoever's uberlock", "daplaya release --env production --force --uberlock"],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const user = await resolveUser(flags.user, ctx);
      const onlyUberlock = flags.uberlock === true;
      const force = flags.force === true;
      const released = await withLocker(
        ctx,
        g,
        (l) => l.release({ env, user, onlyUberlock, force }),
      ).catch((e) => {
        throw e instanceof NotHeldError ? withHint(e, env, onlyUberlock, force) : e;
      });
      if (g.json) return ctx.stdout(json({ released }));
      ctx.stdout(released.map((r) => `${releasedLine(r, flags.verbose === true)}\n`).join(""));
    });
}

/** Says which flags would end what is there: `--force`, or `--force --uberlock`. */
function withHint(e: NotHeldError, env: string, onlyUberlock: boolean, force: boolean) {
  const kinds = new Set(e.holders.map((h) => h.kind));
  const hints: string[] = [];
  // A kept lock's line already says how to end it.
  if (kinds.has("regular") && !onlyUberlock && !force && !e.kept) {
    hints.push(`to end it anyway: daplaya release --env ${env} --force`);
  }
  if (kinds.has("uberlock") && !(onlyUberlock && force)) {
    hints.push(`to end the uberlock: daplaya release --env ${env} --force --uberlock`);
  }
  if (hints.length === 0) return e;
  const hinted = new NotHeldError(`${e.message}; ${hints.join("; ")}`, e.holders, e.kept);
  hinted.cause = e;
  return hinted;
}
