import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { json } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { withLocker } from "./shared.ts";
import { storeConfig } from "./config.ts";

export function initCommand(ctx: CliContext) {
  return (new Command("init"))
    .summary("create the table (again: a no-op)")
    .description("create the table and its indexes (idempotent); waits until it is ACTIVE")
    .addHelpText(
      "after",
      examples(
        ["create DaPlayaLocks in eu-west-1", "daplaya init --region eu-west-1"],
        [
          "another table, on DynamoDB Local",
          "daplaya init --table DeployLocks --endpoint http://localhost:8000",
        ],
      ),
    )
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const { table } = storeConfig(g, ctx);
      const created = await withLocker(ctx, g, (_locker, store) => store.init());
      if (g.json) ctx.stdout(json({ table, created }));
      else ctx.stdout(created ? `Created table ${table}\n` : `Table ${table} already exists\n`);
    });
}
