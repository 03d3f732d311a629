/** Runs the CLI as a real subprocess with exactly the permissions the compiled binary gets. */
export const ROOT = new URL("../../", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DenoRunOptions {
  cwd?: string;
  output?: "piped" | "inherit";
  /** Extra `deno run` flags, e.g. an import map; never permissions. */
  flags?: string[];
  /** A command that runs deno, e.g. `["faketime", "-f", "-13m"]` for a clock behind. */
  wrapper?: string[];
}

/** `deno run -P=daplaya FILE`: the permission set in deno.json is the one `deno compile` uses. */
export function denoRun(
  file: string,
  args: string[],
  env: Record<string, string>,
  { cwd = ROOT, output = "piped", flags = [], wrapper = [] }: DenoRunOptions = {},
): Deno.Command {
  const [program, ...before] = [...wrapper, ...denoRunArgv(file, flags)];
  return new Deno.Command(program, {
    args: [...before, ...args],
    env,
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: output,
    stderr: output,
  });
}

/** `deno run` with the binary's permissions and `flags`, up to `file`: its arguments follow. */
function denoRunArgv(file: string, flags: string[] = []): string[] {
  return [
    Deno.execPath(),
    "run",
    "-q",
    "--no-prompt",
    `--config=${ROOT}deno.json`,
    ...flags,
    "-P=daplaya",
    file,
  ];
}

/**
 * Writes `dir/daplaya`, a shell script that runs the CLI from source as `daplaya` does, for
 * commands that call `daplaya` themselves (a script under `daplaya run`): put `dir` first in their
 * PATH.
 */
export async function installDaplaya(dir: string): Promise<void> {
  const path = `${dir}/daplaya`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec ${shellLine(denoRunArgv(`${ROOT}main.ts`))} "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
}

export function daplayaCommand(
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
  output: "piped" | "inherit" = "piped",
): Deno.Command {
  return denoRun(`${ROOT}main.ts`, args, env, { cwd, output });
}

export async function outputOf(command: Deno.Command): Promise<CliResult> {
  const out = await command.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

export function daplaya(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<CliResult> {
  return outputOf(daplayaCommand(args, env, cwd));
}

/** `args` as a shell command line that can be pasted: arguments with spaces or quotes quoted. */
export function shellLine(args: string[]): string {
  return args.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}
