import assert from "node:assert/strict";
import { shellLine } from "../../../scripts/dev/daplaya.ts";

Deno.test("shellLine: what the demo prints pastes into a shell as the same arguments", async () => {
  const args = ["lock", "--meta", "deploy v1.2.3", "it's", 'a"b', "$HOME", "", "--env", "x"];
  const line = shellLine(args);
  assert.equal(line, `lock --meta 'deploy v1.2.3' 'it'\\''s' 'a"b' '$HOME' '' --env x`);
  const out = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\n' ${line}`],
    stdout: "piped",
  }).output();
  assert.deepEqual(new TextDecoder().decode(out.stdout).split("\n").slice(0, -1), args);
});
