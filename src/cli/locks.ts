import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";
import { historyTable, json, locksTable } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { parseEnv } from "../core/parse.ts";
import { withLocker } from "./shared.ts";

export function locksCommand(ctx: CliContext) {
  return (new Command("locks"))
    .summary("list active locks, or one env's history")
    .description("list active locks, or with --history the records of one env, newest first")
    .option("--env <env>", "only this environment")
    .option("--history", "released and expired records too (needs --env)")
    .option("--limit <n>", "at most this many history records, 1 to 1000 (default 20)")
    .option("--verbose", "also show each lock's fence and id, and meta uncut")
    .addHelpText(
      "after",
      examples(
        ["active locks, all envs", "daplaya locks"],
        [
          "the last 50 records of production, newest first",
          "daplaya locks --env production --history --limit 50",
        ],
        ["active locks as one JSON document", "daplaya locks --json"],
      ),
    )
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const env = opts.env === undefined ? undefined : parseEnv(opts.env);
      if (opts.history && env === undefined) throw new UsageError("--history needs --env");
      if (opts.limit !== undefined && !opts.history) {
        throw new UsageError("--limit goes with --history");
      }
      const limit = opts.limit === undefined ? 20 : Number(opts.limit);
      if (!/^\d+$/.test(opts.limit ?? "20") || limit < 1 || limit > 1000) {
        throw new UsageError(`invalid --limit ${opts.limit}: a whole number from 1 to 1000`);
      }
      const locks = await withLocker(
        ctx,
        g,
        (l) => opts.history ? l.history(env!, limit) : l.list(env),
      );
      if (g.json) return ctx.stdout(json({ locks }));
      if (locks.length === 0) {
        const where = env ? ` on env ${env}` : "";
        return ctx.stdout(
          opts.history ? `No locks recorded${where}\n` : `No active locks${where}\n`,
        );
      }
      const now = ctx.clock.now();
      const verbose = opts.verbose === true;
      ctx.stdout(
        opts.history ? historyTable(locks, now, verbose) : locksTable(locks, now, verbose),
      );
    });
}
