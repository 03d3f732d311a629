/** Runs the CLI as a real subprocess with exactly the permissions the compiled binary gets. */
const ROOT = new URL("../../", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno run -P=daplaya main.ts`: the permission set in deno.json is the one `deno compile` uses. */
export function daplayaCommand(
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
  output: "piped" | "inherit" = "piped",
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", `--config=${ROOT}deno.json`, "-P=daplaya", `${ROOT}main.ts`, ...args],
    env,
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: output,
    stderr: output,
  });
}

export async function daplaya(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<CliResult> {
  const out = await daplayaCommand(args, env, cwd).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
