import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";

export function serveCommand(_ctx: CliContext) {
  return new Command("serve").description("serve the Slack slash command").action(() => {});
}
