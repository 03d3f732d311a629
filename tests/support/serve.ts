import { daplayaCommand } from "../../scripts/dev/daplaya.ts";

/** A running `daplaya serve`: its URL, its stderr so far, and a way to stop it. */
export async function startServe(env: Record<string, string>) {
  const child = daplayaCommand(["serve", "--port", "0", "--hostname", "127.0.0.1"], env).spawn();
  let stderr = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const stdoutDone = new Response(child.stdout).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 120_000; // a hang bound: a loaded machine starts slowly
  let url: string | undefined;
  while (!(url = stderr.match(/^Listening on (http:\/\/127\.0\.0\.1:\d+)\/$/m)?.[1])) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await Promise.all([status, stderrDone, stdoutDone]);
      throw new Error(`serve did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url,
    stderr: () => stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) child.kill(signal);
      const s = await status;
      await stderrDone;
      return { code: s.code, stdout: await stdoutDone, stderr };
    },
  };
}
