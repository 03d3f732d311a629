/**
 * The only impure entry: reads args and environment, builds the real adapters (the store,
 * processes, signals, the HTTP server), runs the command, and exits with its code.
 * Everything below it is testable in-process.
 */
import { realSleep, systemClock } from "./src/core/clock.ts";
import type { Child, CliContext, SpawnOptions } from "./src/cli/context.ts";
import { runCli } from "./src/cli/program.ts";
import { openStore } from "./src/store/open.ts";
import { VERSION } from "./src/version.ts";

const encoder = new TextEncoder();

/** The signals that ask a process to stop; Windows has no SIGTERM to listen to. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];

export function realContext(): CliContext {
  const stderr = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  return {
    env: (name) => Deno.env.get(name) || undefined,
    stdout: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
    stderr,
    openStore: (config) =>
      openStore(config, { onWarning: (line) => stderr(`daplaya: warning: ${line}\n`) }),
    clock: systemClock,
    sleep: realSleep,
    git,
    hostname: () => Deno.hostname(),
    cwd: Deno.cwd(),
    programExists,
    spawn,
    onStopSignal(listener) {
      const listeners = STOP_SIGNALS.map((signal) => [signal, () => listener(signal)] as const);
      for (const [signal, fn] of listeners) Deno.addSignalListener(signal, fn);
      return () => listeners.forEach(([signal, fn]) => Deno.removeSignalListener(signal, fn));
    },
    serve: (options, handler) => Deno.serve(options, handler),
  };
}

function spawn(
  program: string,
  args: string[],
  o: SpawnOptions,
): Child {
  const child = new Deno.Command(program, {
    args,
    cwd: o.cwd,
    env: o.env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return {
    status: child.status,
    kill(signal) {
      try {
        child.kill(signal);
      } catch { /* it has already ended */ }
    },
  };
}

/** A path (relative ones from this process's cwd, where `run` starts it), or a name in PATH. */
async function programExists(program: string): Promise<boolean> {
  const windows = Deno.build.os === "windows";
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  if (program.includes("/") || (windows && program.includes("\\"))) return await exists(program);
  const dirs = (Deno.env.get("PATH") ?? "").split(windows ? ";" : ":");
  const extensions = windows
    ? ["", ...(Deno.env.get("PATHEXT") ?? ".COM;.EXE;.BAT;.CMD").split(";")]
    : [""];
  for (const dir of dirs) {
    for (const extension of extensions) {
      // An empty entry in PATH is the current directory.
      if (await exists(`${dir || "."}/${program}${extension}`)) return true;
    }
  }
  return false;
}

async function git(args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text ? text : undefined;
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
