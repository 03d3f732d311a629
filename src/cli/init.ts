import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { json } from "./format.ts";
import { globals } from "./global_options.ts";
import { withLocker } from "./shared.ts";
import { storeConfig } from "./config.ts";

export function initCommand(ctx: CliContext) {
  return (new Command("init"))
    .description("create the table and its indexes (idempotent); waits until it is ACTIVE")
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const { table } = storeConfig(g, ctx);
      const created = await withLocker(ctx, g, (_locker, store) => store.init());
      if (g.json) ctx.stdout(json({ table, created }));
      else ctx.stdout(created ? `Created table ${table}\n` : `Table ${table} already exists\n`);
    });
}
