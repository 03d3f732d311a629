import { Command } from "@commander-js/extra-typings";
import { FailureError } from "../core/errors.ts";
import type { Check, StoreConfig } from "../core/store.ts";
import { regionSetting, storeConfig } from "./config.ts";
import type { CliContext } from "./context.ts";
import { json } from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";

/**
 * Short limits, so that a hung or unreachable endpoint costs seconds, not the 20 s of the other
 * commands: one retry, for a throttled or lost request.
 */
const LIMITS: Pick<StoreConfig, "connectTimeoutMs" | "requestTimeoutMs" | "maxAttempts"> = {
  connectTimeoutMs: 2000,
  requestTimeoutMs: 3000,
  maxAttempts: 2,
};

const MARK: Record<Check["status"], string> = { ok: "✓", warn: "!", fail: "✗", skip: "-" };
/** The longest check name, "write permissions", so that the details line up. */
const NAME_WIDTH = 17;

/** One line for people: mark, name, what was found and, for a failure or warning, what to do. */
export function checkLine(c: Check): string {
  return `${MARK[c.status]} ${c.name.padEnd(NAME_WIDTH)} ${c.detail}${c.fix ? `: ${c.fix}` : ""}\n`;
}

export function doctorCommand(ctx: CliContext) {
  return (new Command("doctor"))
    .summary("check credentials, table, permissions and clock")
    .description(
      "check credentials, region, endpoint, table, permissions and clock, changing nothing; exit 1 when one fails",
    )
    .addHelpText(
      "after",
      examples(
        ["check that this host can take locks", "daplaya doctor"],
        ["the same for a profile, as JSON", "daplaya doctor --profile deploy --json"],
      ),
    )
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const config = storeConfig(g, ctx);
      const checks: Check[] = [];
      const store = await ctx.openStore({ ...config, ...LIMITS });
      try {
        for await (const c of store.diagnose({ regionFrom: regionSetting(g, ctx)?.from })) {
          checks.push(c);
          if (!g.json) ctx.stdout(checkLine(c));
        }
      } finally {
        store.close();
      }
      // A skipped check was not proven, but only a failure (which it follows) fails the run.
      const holds = (c: Check) => c.status === "ok" || c.status === "warn";
      const ok = !checks.some((c) => c.status === "fail");
      if (g.json) {
        ctx.stdout(json({
          ok,
          checks: checks.map(({ name, status, detail, fix }) => ({
            name,
            ok: holds({ name, status, detail }),
            status,
            detail,
            ...(fix === undefined ? {} : { fix }),
          })),
        }));
      }
      if (!ok) {
        const failed = checks.filter((c) => c.status === "fail").length;
        throw new FailureError(
          `${failed} of ${checks.length} checks failed: ${
            g.json ? 'see the checks with "ok": false' : "see the lines marked ✗"
          }`,
        );
      }
    });
}
