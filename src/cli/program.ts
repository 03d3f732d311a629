import { Command, CommanderError } from "@commander-js/extra-typings";
import { DaplayaError, UsageError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";
import { checkCommand } from "./check.ts";
import { completionsCommand } from "./completions.ts";
import { refuseUnusedGlobals, withGlobals } from "./global_options.ts";
import { examples, helpConfiguration } from "./help.ts";
import { doctorCommand } from "./doctor.ts";
import { freezeCommand } from "./freeze.ts";
import { initCommand } from "./init.ts";
import { lockCommand } from "./lock.ts";
import { locksCommand } from "./locks.ts";
import { policyCommand } from "./policy.ts";
import { releaseCommand } from "./release.ts";
import { runCommand } from "./run.ts";
import { serveCommand } from "./serve.ts";
import { statusCommand } from "./status.ts";

export interface VersionInfo {
  version: string;
  target: string;
  deno: string;
}

export function buildProgram(ctx: CliContext, info: VersionInfo) {
  const program = withGlobals(
    new Command()
      .name("daplaya")
      .description("A deploy lock per environment, kept in Amazon DynamoDB.")
      .version(`daplaya ${info.version} (${info.target}, deno ${info.deno})`, "-V, --version")
      .helpOption("-h, --help", "show help")
      .helpCommand(false)
      .showHelpAfterError(false)
      .addHelpText(
        "after",
        examples(
          [
            "wait for the production lock, deploy under it, release it",
            "daplaya run --env production -- ./deploy.sh",
          ],
          ["who holds what", "daplaya locks"],
          [
            "inside deploy.sh: migrate only while run's lock still holds the env",
            'daplaya check --env "$DAPLAYA_ENV" --id "$DAPLAYA_LOCK_ID" && ./migrate-database',
          ],
          [
            "take the staging lock by hand, and release it",
            'daplaya lock --env staging --meta "testing #123"',
            "daplaya release --env staging",
          ],
        ) +
          "\n\nA command's options and examples: daplaya <command> --help" +
          "\nShell completions: daplaya completions bash|zsh|fish",
      ),
  );
  for (
    const make of [
      initCommand,
      locksCommand,
      statusCommand,
      checkCommand,
      doctorCommand,
      lockCommand,
      releaseCommand,
      runCommand,
      freezeCommand,
      policyCommand,
      serveCommand,
      completionsCommand,
    ]
  ) {
    program.addCommand(make(ctx) as unknown as Command);
  }
  // A global option given to a command that has no use for it is refused, not ignored.
  program.hook("preAction", (root, action) => refuseUnusedGlobals(root, action));
  // Commander would print and exit by itself; we want one line and our exit codes.
  const quiet = (cmd: Command) => {
    cmd.configureHelp(helpConfiguration).helpOption("-h, --help", "show help");
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.stdout(s),
      writeErr: (s) => ctx.stderr(s),
      outputError: () => {},
    });
    cmd.commands.forEach((c) => quiet(c as Command));
  };
  quiet(program as unknown as Command);
  return program;
}

/** Runs the CLI in-process and returns the exit code; never exits the process. */
export async function runCli(args: string[], ctx: CliContext, info: VersionInfo): Promise<number> {
  try {
    await buildProgram(ctx, info).parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    return report(e, ctx);
  }
}

/** The one place where errors become a line on stderr and an exit code. */
export function report(e: unknown, ctx: Pick<CliContext, "stderr" | "env">): number {
  if (e instanceof CommanderError) {
    if (
      e.exitCode === 0 || e.code === "commander.helpDisplayed" || e.code === "commander.version"
    ) return 0;
    if (e.code === "commander.help") return 2; // help shown because no command was given
    // Commander puts its suggestion on a line of its own: one line, the suggestion in it.
    const message = e.message.replace(/^error: /, "").replace(
      /\n\(Did you mean (\S+)\?\)$/,
      (_, suggestion: string) => `: did you mean ${suggestion}?`,
    );
    e = new UsageError(`${message} (see 'daplaya --help')`);
  }
  const debug = ctx.env("DAPLAYA_DEBUG") === "1";
  if (e instanceof DaplayaError) {
    if (e.message) ctx.stderr(`daplaya: ${e.message}\n`);
    if (debug && e.cause) ctx.stderr(`${(e.cause as Error).stack ?? e.cause}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  ctx.stderr(`daplaya: unexpected error: ${err?.message ?? e} (set DAPLAYA_DEBUG=1 for details)\n`);
  if (debug) ctx.stderr(`${err?.stack ?? e}\n`);
  return 1;
}
