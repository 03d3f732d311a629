import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";
import { historyTable, json, locksTable } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { parseEnv } from "../core/parse.ts";
import { readLocks } from "../core/report.ts";
import { withLocker } from "./shared.ts";

export function locksCommand(ctx: CliContext) {
  return (new Command("locks"))
    .summary("list locks and who waits, or one env's history")
    .description(
      "list active locks and, under each env's holder, who waits in line; or with --history the records of one env, newest first",
    )
    .option("--env <env>", "only this environment")
    .option("--history", "released and expired records too (needs --env)")
    .option("--limit <n>", "at most this many history records, 1 to 1000 (default 20)")
    .option("--verbose", "also show each lock's fence and id, and meta uncut")
    .addHelpText(
      "after",
      examples(
        ["active locks and their lines, all envs", "daplaya locks"],
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
      if (opts.history) {
        const records = await withLocker(ctx, g, (l) => l.history(env!, limit));
        if (g.json) return ctx.stdout(json({ locks: records }));
        if (records.length === 0) {
          return ctx.stdout(`No locks recorded${env ? ` on env ${env}` : ""}\n`);
        }
        return ctx.stdout(historyTable(records, ctx.clock.now(), opts.verbose === true));
      }
      const document = await withLocker(ctx, g, (l) => readLocks(l, env));
      if (g.json) return ctx.stdout(json(document));
      const { locks, waiting } = document;
      if (locks.length === 0 && waiting.length === 0) {
        return ctx.stdout(`No active locks${env ? ` on env ${env}` : ""}\n`);
      }
      ctx.stdout(locksTable(locks, ctx.clock.now(), opts.verbose === true, waiting));
    });
}
