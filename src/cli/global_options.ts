/**
 * The options every command takes, before or after its name: defined once, on the program (as
 * Cliffy's `globalOption` would), and read back typed in any command with `globals`. Commands
 * import this module, never the program that assembles them.
 *
 * A command with no use for some of them says which ones it uses (`usesGlobals`): the others are
 * left out of its `--help` and its shell completions, and refused when given (one line, exit 2),
 * so that `daplaya serve --json` does not silently print no JSON.
 */
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";

/** Options every command accepts, before or after its name. */
export interface GlobalOptions {
  table?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  json?: boolean;
}

export type GlobalName = keyof GlobalOptions;

const GLOBAL_NAMES: readonly string[] = ["table", "region", "endpoint", "profile", "json"];

/** Where the table is: what a command that opens the store but prints no JSON uses. */
export const STORE_GLOBALS: readonly GlobalName[] = ["table", "region", "endpoint", "profile"];

/** Adds the global options to the program; commander reads them after a command's name too. */
export function withGlobals<
  C extends Command<[], Record<string, unknown>, Record<string, unknown>>,
>(cmd: C) {
  return cmd
    .option("--table <name>", "DynamoDB table (env DAPLAYA_TABLE, default DaPlayaLocks)")
    .option("--region <region>", "AWS region of the table (env DAPLAYA_AWS_REGION, AWS_REGION)")
    .option(
      "--endpoint <url>",
      "DynamoDB endpoint URL, e.g. DynamoDB Local (env DAPLAYA_DYNAMODB_ENDPOINT)",
    )
    .option("--profile <name>", "AWS profile (env AWS_PROFILE)")
    .option("--json", "print one JSON document on stdout");
}

/** The global options, wherever they stood on the command line. */
export function globals(cmd: { optsWithGlobals(): Record<string, unknown> }): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

const used = new WeakMap<object, readonly GlobalName[]>();

/**
 * Declares the only global options `cmd` uses (a command that does not call this uses them
 * all). Returns `cmd`, to go on building it.
 */
export function usesGlobals<C extends object>(cmd: C, names: readonly GlobalName[]): C {
  used.set(cmd, names);
  return cmd;
}

/**
 * Whether the program option named `name` (its attribute name, e.g. `json`) applies to `cmd`:
 * true for options that are not global options of ours (`--version`).
 */
export function appliesTo(cmd: object, name: string): boolean {
  const names: readonly string[] | undefined = used.get(cmd);
  return names === undefined || !GLOBAL_NAMES.includes(name) || names.includes(name);
}

/** Refuses, as a usage error, a global option given to a command that has no use for it. */
export function refuseUnusedGlobals(program: CommandUnknownOpts, cmd: CommandUnknownOpts): void {
  for (const name of GLOBAL_NAMES) {
    if (!appliesTo(cmd, name) && program.getOptionValueSource(name) === "cli") {
      throw new UsageError(
        `--${name} does not apply to ${cmd.name()} (see 'daplaya ${cmd.name()} --help')`,
      );
    }
  }
}
