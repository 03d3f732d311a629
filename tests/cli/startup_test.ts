/**
 * `--version`, `--help` and `completions` start fast because they never load the AWS SDK: checked
 * at run time with the SDK replaced by a module that throws (method and its limits:
 * scripts/dev/no_sdk.ts).
 */
import assert from "node:assert/strict";
import { daplaya } from "../../scripts/dev/daplaya.ts";
import { daplayaWithoutSdk, loadedPoison, poisonedImportMap } from "../../scripts/dev/no_sdk.ts";

const env = {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: Deno.env.get("HOME") ?? "/tmp",
};

Deno.test("--version, --help and completions do not load the AWS SDK", async (t) => {
  const map = await poisonedImportMap();
  try {
    await t.step("positive control: a command that needs DynamoDB hits the poison", async () => {
      assert.ok(map.poisoned.includes("@aws-sdk/client-dynamodb"), map.poisoned.join(", "));
      const r = await daplayaWithoutSdk(map, ["locks", "--region", "us-east-1"], {
        ...env,
        AWS_ACCESS_KEY_ID: "x",
        AWS_SECRET_ACCESS_KEY: "y",
        DAPLAYA_DYNAMODB_ENDPOINT: "http://127.0.0.1:9",
      });
      assert.ok(loadedPoison(r), `expected the poison, got ${r.code}: ${r.stderr}`);
    });

    await t.step("--version and -V", async () => {
      const plain = await daplaya(["--version"], env);
      assert.equal(plain.code, 0, plain.stderr);
      for (const flag of ["--version", "-V"]) {
        const r = await daplayaWithoutSdk(map, [flag], env);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.equal(r.stdout, plain.stdout);
      }
    });

    await t.step("--help, and a command's --help", async () => {
      for (
        const args of [
          ["--help"],
          ["lock", "--help"],
          ["locks", "--help"],
          ["doctor", "--help"],
          ["check", "--help"],
          ["freeze", "--help"],
          ["freeze", "add", "--help"],
          ["policy", "set", "--help"],
        ]
      ) {
        const r = await daplayaWithoutSdk(map, args, env);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stdout, /^Usage: daplaya/);
      }
    });

    await t.step("completions", async () => {
      for (const shell of ["bash", "zsh", "fish"]) {
        const r = await daplayaWithoutSdk(map, ["completions", shell], env);
        assert.equal(r.code, 0, `${shell}: ${r.stderr}`);
        assert.match(r.stdout, /\bdaplaya\b/);
      }
    });
  } finally {
    await map.remove();
  }
});
