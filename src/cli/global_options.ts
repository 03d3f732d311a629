/**
 * The options every command takes, before or after its name: defined once, on the program (as
 * Cliffy's `globalOption` would), and read back typed in any command with `globals`. Commands
 * import this module, never the program that assembles them.
 */
import type { Command } from "@commander-js/extra-typings";

/** Options every command accepts, before or after its name. */
export interface GlobalOptions {
  table?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  json?: boolean;
}

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
