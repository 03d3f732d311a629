/** `deno task ddb`: DynamoDB Local by hand, with settings that can be pasted as printed. */
import assert from "node:assert/strict";
import { daplaya, ROOT } from "../../scripts/dev/daplaya.ts";

function ddb(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/ddb.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("deno task ddb", async (t) => {
  await t.step("prints settings that work as pasted, and stops on Ctrl-C", async () => {
    const child = ddb(["--port", "0"]);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("Ctrl-C stops it.")) {
      const { value, done } = await lines.read();
      assert.ok(!done, `ddb ended early: ${printed}`);
      printed += value;
    }
    const exported = printed.match(/^ {2}export (.+)$/m)?.[1];
    assert.ok(exported, printed);
    const env: Record<string, string> = Object.fromEntries(
      exported.split(" ").map((pair) => pair.split("=") as [string, string]),
    );
    const endpoint = env.DAPLAYA_DYNAMODB_ENDPOINT;
    assert.match(printed, new RegExp(`listening on ${endpoint} `));
    const cli = (...args: string[]) =>
      daplaya(args, { ...env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: "/tmp" });
    assert.equal((await cli("init")).code, 0);
    const locked = await cli("lock", "--env", "staging", "--user", "you@example.com");
    assert.equal(locked.code, 0, locked.stderr);
    assert.match((await cli("locks")).stdout, /\nSTAGING +you@example\.com +lock /);

    child.kill("SIGINT");
    const { code } = await child.status;
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      printed += value;
    }
    await child.stderr.cancel();
    assert.equal(code, 0);
    assert.match(printed, /DynamoDB Local stopped\n$/);
    await assert.rejects(fetch(endpoint), "nothing listens any more");
  });

  await t.step("a bad --port: exit 2 with the usage", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}scripts/ddb.ts`, "--port", "eighty"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.equal(
      new TextDecoder().decode(out.stderr),
      "usage: deno task ddb [--port N] (default 8000; 0 for any free port)\n",
    );
  });
});
