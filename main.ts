/**
 * The only impure entry: reads args and environment, builds the real adapters, runs the
 * command, and exits with its code. Everything below it is testable in-process.
 */
import { realSleep, systemClock } from "./src/core/clock.ts";
import type { CliContext, StoreConfig } from "./src/cli/context.ts";
import { runCli } from "./src/cli/program.ts";
import type { LockStore } from "./src/store/port.ts";
import { VERSION } from "./src/version.ts";

const encoder = new TextEncoder();

export function realContext(): CliContext {
  const stderr = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  return {
    env: (name) => Deno.env.get(name) || undefined,
    stdout: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
    stderr,
    // Loaded on demand so that --help and --version never import the AWS SDK.
    openStore: async (config: StoreConfig): Promise<LockStore> => {
      const { DynamoStore } = await import("./src/store/dynamodb.ts");
      return new DynamoStore({
        ...config,
        onWarning: (line) => stderr(`daplaya: warning: ${line}\n`),
      });
    },
    clock: systemClock,
    sleep: realSleep,
    gitEmail,
    cwd: Deno.cwd(),
  };
}

async function gitEmail(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["log", "-1", "--format=%ce", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const email = new TextDecoder().decode(out.stdout).trim();
    return out.success && email ? email : undefined;
  } catch {
    return undefined; // no git on this host
  }
}

if (import.meta.main) {
  const code = await runCli(Deno.args, realContext(), {
    version: VERSION,
    target: Deno.build.target,
    deno: Deno.version.deno,
  });
  Deno.exit(code);
}
