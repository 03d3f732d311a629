import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";

export function runCommand(_ctx: CliContext) {
  return new Command("run").description("run a command under the lock").action(() => {});
}
