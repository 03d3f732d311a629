/** What every `--help` has besides commander's own lists: examples under the options. */

/**
 * An "Examples:" section for `addHelpText("after", …)`: each example is what it does, then one
 * or more command lines, e.g. `["wait for the lock, then take it", "daplaya lock --env production"]`.
 */
export function examples(...items: [what: string, ...commands: string[]][]): string {
  const lines = items.flatMap(([what, ...commands]) => [
    `  # ${what}`,
    ...commands.map((c) => `  $ ${c}`),
  ]);
  return `\nExamples:\n${lines.join("\n")}`;
}
