/**
 * What every `--help` has besides commander's own lists: examples under the options, and only
 * the global options the command uses (see `usesGlobals` in global_options.ts).
 */
import { type CommandUnknownOpts, Help } from "@commander-js/extra-typings";
import { appliesTo } from "./global_options.ts";

/**
 * An "Examples:" section for `addHelpText("after", …)`: each example is what it does, then one
 * or more command lines, e.g.
 * `["wait for the lock, then take it", "daplaya lock --env production"]`.
 */
export function examples(...items: [what: string, ...commands: string[]][]): string {
  const lines = items.flatMap(([what, ...commands]) => [
    `  # ${what}`,
    ...commands.map((c) => `  $ ${c}`),
  ]);
  return `\nExamples:\n${lines.join("\n")}`;
}

/** For `configureHelp` on every command. */
export const helpConfiguration = {
  showGlobalOptions: true,
  /**
   * The program's options that apply to `cmd`: the global options it has no use for are left
   * out.
   */
  visibleGlobalOptions(this: Help, cmd: CommandUnknownOpts) {
    return Help.prototype.visibleGlobalOptions.call(this, cmd)
      .filter((option) => appliesTo(cmd, option.attributeName()));
  },
};
