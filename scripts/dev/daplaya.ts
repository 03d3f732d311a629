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
  const [program, ...before] = [...wrapper, Deno.execPath()];
  return new Deno.Command(program, {
    args: [
      ...before,
      "run",
      "-q",
      "--no-prompt",
      `--config=${ROOT}deno.json`,
      ...flags,
      "-P=daplaya",
      file,
      ...args,
    ],
    env,
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: output,
    stderr: output,
  });
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
