import { Command } from "@commander-js/extra-typings";
import { readLocks } from "../core/report.ts";
import { sameUser } from "../core/model.ts";
import { parseEnv } from "../core/parse.ts";
import type { CliContext } from "./context.ts";
import { resolveIdentity } from "./defaults.ts";
import { json, locksTable } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { withLocker } from "./shared.ts";

export function statusCommand(ctx: CliContext) {
  return (new Command("status"))
    .summary("who you are and what is held, yours first")
    .description(
      "say whom you lock as (and where that comes from) and list what is held, your locks first",
    )
    .option("--env <env>", "only this environment")
    .option("--user <user>", "who you are (env DAPLAYA_USER, else git; see 'Who you are')")
    .option("--verbose", "also show each lock's fence and id, and meta uncut")
    .addHelpText(
      "after",
      examples(
        ["who you are and what is held, yours first", "daplaya status"],
        ["the same for one env, as JSON", "daplaya status --env production --json"],
      ),
    )
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const env = opts.env === undefined ? undefined : parseEnv(opts.env);
      const me = await resolveIdentity(opts.user, ctx);
      const { locks, waiting } = await withLocker(ctx, g, (l) => readLocks(l, env));
      const mine = locks.filter((r) => sameUser(r.user, me.user));
      const others = locks.filter((r) => !sameUser(r.user, me.user));
      if (g.json) return ctx.stdout(json({ user: me.user, mine, others, waiting }));
      const where = env ? ` on env ${env}` : "";
      const lines = [`You are ${me.user} (from ${me.source}).`];
      lines.push(
        mine.length === 0
          ? `You hold no locks${where}.`
          : `You hold ${list(mine.map((r) => r.uberlock ? `${r.env} (uberlock)` : r.env))}.`,
      );
      if (others.length > 0) {
        lines.push(
          `Others hold ${list([...new Set(others.map((r) => r.env))])}.`,
        );
      } else if (mine.length === 0) lines.push(`Nothing is locked${where}.`);
      ctx.stdout(lines.join("\n") + "\n");
      if (locks.length > 0 || waiting.length > 0) {
        const rows = [...mine, ...others];
        ctx.stdout("\n" + locksTable(rows, ctx.clock.now(), opts.verbose === true, waiting));
      }
    });
}

/** `A`, `A and B`, `A, B and C`. */
function list(items: string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
