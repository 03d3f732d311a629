// Tests for scripts/compile.ts: its pure helpers, plus runs of the script on a tiny
// throwaway project (via the test-only --entry option), so that neither main.ts nor
// src/version.ts of this repository is touched.
import assert from "node:assert/strict";
import {
  assetName,
  binaryTarget,
  isRuntimeDownloadFailure,
  parseArgs,
  planTargets,
  resolveVersion,
  runtimeDownloadMessage,
  sha256Hex,
  sha256sumsText,
  type Target,
  TARGETS,
  UsageError,
  versionModule,
} from "../../scripts/compile.ts";

const SCRIPT = new URL("../../scripts/compile.ts", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("assetName", () => {
  assert.deepEqual(TARGETS.map(assetName), [
    "daplaya-x86_64-unknown-linux-gnu",
    "daplaya-aarch64-unknown-linux-gnu",
    "daplaya-x86_64-apple-darwin",
    "daplaya-aarch64-apple-darwin",
    "daplaya-x86_64-pc-windows-msvc.exe",
  ]);
});

Deno.test("parseArgs", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(parseArgs([]), { targets: [], help: false });
  });
  await t.step("--target, both spellings, deduplicated", () => {
    assert.deepEqual(
      parseArgs([
        "--target",
        "aarch64-apple-darwin",
        "--target=x86_64-pc-windows-msvc",
        "--target",
        "aarch64-apple-darwin",
      ]).targets,
      ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"],
    );
  });
  await t.step("--entry and --help", () => {
    assert.deepEqual(parseArgs(["--entry", "x/main.ts", "-h"]), {
      targets: [],
      entry: "x/main.ts",
      help: true,
    });
    assert.equal(parseArgs(["--help"]).help, true);
  });
  await t.step("errors", () => {
    assert.throws(() => parseArgs(["--target", "riscv64-unknown-linux-gnu"]), {
      name: "Error",
      message: /unknown target 'riscv64-unknown-linux-gnu' \(expected one of: x86_64-unknown/,
    });
    assert.throws(() => parseArgs(["--target"]), UsageError);
    assert.throws(() => parseArgs(["--target="]), /--target needs a value/);
    assert.throws(() => parseArgs(["--entry"]), /--entry needs a value/);
    assert.throws(() => parseArgs(["--frobnicate"]), /unknown argument '--frobnicate'/);
    assert.throws(() => parseArgs(["main.ts"]), /unknown argument 'main.ts'/);
  });
});

Deno.test("resolveVersion", async (t) => {
  await t.step("DAPLAYA_VERSION wins, without its v", () => {
    assert.deepEqual(
      resolveVersion({ env: "v2.3.4", headTags: ["v9.9.9"], denoJson: "0.1.0" }),
      { version: "2.3.4", from: "DAPLAYA_VERSION" },
    );
    assert.equal(resolveVersion({ env: "2.3.4-rc.1", headTags: [] }).version, "2.3.4-rc.1");
  });
  await t.step("empty DAPLAYA_VERSION is ignored", () => {
    assert.equal(resolveVersion({ env: "", headTags: [], denoJson: "0.1.0" }).version, "0.1.0");
  });
  await t.step("a vX.Y.Z tag on HEAD beats deno.json", () => {
    assert.deepEqual(
      resolveVersion({ headTags: ["latest", "v1.2.3", "1.5.0", "v1.10.0"], denoJson: "0.1.0" }),
      { version: "1.10.0", from: "git tag v1.10.0" },
    );
  });
  await t.step("deno.json otherwise", () => {
    assert.deepEqual(resolveVersion({ headTags: ["nightly"], denoJson: "0.1.0" }), {
      version: "0.1.0",
      from: "deno.json",
    });
  });
  await t.step("bad or missing versions", () => {
    assert.throws(() => resolveVersion({ env: "latest", headTags: [] }), UsageError);
    assert.throws(() => resolveVersion({ headTags: [], denoJson: "one" }), UsageError);
    assert.throws(() => resolveVersion({ headTags: [] }), /no version/);
  });
});

Deno.test("versionModule", () => {
  assert.equal(versionModule("1.2.3"), 'export const VERSION = "1.2.3";\n');
});

Deno.test("sha256Hex and sha256sumsText", async () => {
  assert.equal(
    await sha256Hex(enc.encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256sumsText([
      { name: "daplaya-x86_64-unknown-linux-gnu", sha256: "bb" },
      { name: "daplaya-aarch64-apple-darwin", sha256: "aa" },
    ]),
    "aa  daplaya-aarch64-apple-darwin\nbb  daplaya-x86_64-unknown-linux-gnu\n",
  );
  assert.equal(sha256sumsText([]), "");
});

Deno.test("binaryTarget", async (t) => {
  const bytes = (n: number, set: (v: DataView) => void) => {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    return b;
  };
  const elf = (machine: number) =>
    bytes(64, (v) => {
      v.setUint32(0, 0x464c457f, true); // \x7fELF
      v.setUint16(18, machine, true);
    });
  const macho = (cpu: number) =>
    bytes(32, (v) => {
      v.setUint32(0, 0xfeedfacf, true);
      v.setUint32(4, cpu, true);
    });
  const pe = (machine: number) =>
    bytes(256, (v) => {
      v.setUint16(0, 0x5a4d, true); // MZ
      v.setUint32(0x3c, 0x80, true);
      v.setUint32(0x80, 0x00004550, true); // PE\0\0
      v.setUint16(0x84, machine, true);
    });
  await t.step("headers", () => {
    assert.equal(binaryTarget(elf(62)), "x86_64-unknown-linux-gnu");
    assert.equal(binaryTarget(elf(183)), "aarch64-unknown-linux-gnu");
    assert.equal(binaryTarget(elf(243)), null); // riscv
    assert.equal(binaryTarget(macho(0x01000007)), "x86_64-apple-darwin");
    assert.equal(binaryTarget(macho(0x0100000c)), "aarch64-apple-darwin");
    assert.equal(binaryTarget(pe(0x8664)), "x86_64-pc-windows-msvc");
    assert.equal(binaryTarget(pe(0xaa64)), null);
    assert.equal(binaryTarget(enc.encode("#!/bin/sh\n")), null);
    assert.equal(binaryTarget(new Uint8Array([0x4d, 0x5a])), null); // truncated PE
    assert.equal(binaryTarget(new Uint8Array()), null);
  });
  await t.step("the running deno binary is for the host target", async () => {
    using f = await Deno.open(Deno.execPath());
    const head = new Uint8Array(4096);
    const n = (await f.read(head)) ?? 0;
    const host = (TARGETS as readonly string[]).includes(Deno.build.target)
      ? Deno.build.target
      : null;
    assert.equal(binaryTarget(head.subarray(0, n)), host);
  });
});

Deno.test("planTargets", async (t) => {
  const linux: Target = "x86_64-unknown-linux-gnu";
  const mac: Target = "aarch64-apple-darwin";
  await t.step("without DENORT_BIN: requested, else all", () => {
    assert.deepEqual(planTargets([], { target: null }, linux), [...TARGETS]);
    assert.deepEqual(planTargets([mac, linux], { target: null }, linux), [mac, linux]);
  });
  await t.step("with DENORT_BIN: only its own target", () => {
    assert.deepEqual(planTargets([], { bin: "/d", target: mac }, linux), [mac]);
    assert.deepEqual(planTargets([mac], { bin: "/d", target: mac }, linux), [mac]);
  });
  await t.step("with an unrecognised DENORT_BIN: host, or the one --target", () => {
    assert.deepEqual(planTargets([], { bin: "/d", target: null }, linux), [linux]);
    assert.deepEqual(planTargets([mac], { bin: "/d", target: null }, linux), [mac]);
    assert.throws(
      () => planTargets([], { bin: "/d", target: null }, "riscv64gc-unknown-linux-gnu"),
      /pass --target/,
    );
  });
  await t.step("with DENORT_BIN: several or mismatched targets are errors", () => {
    assert.throws(
      () => planTargets([linux, mac], { bin: "/d", target: linux }, linux),
      /DENORT_BIN serves a single target: pass one --target/,
    );
    assert.throws(
      () => planTargets([mac], { bin: "/d", target: linux }, linux),
      /DENORT_BIN \(\/d\) is a runtime for x86_64-unknown-linux-gnu, not aarch64-apple-darwin/,
    );
  });
});

Deno.test("isRuntimeDownloadFailure", () => {
  // What deno 2.9 prints when it cannot fetch denort.
  const offline = `Check main.ts
Compile main.ts to dist/daplaya-x86_64-unknown-linux-gnu
Download https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip
error: Writing deno compile executable to temporary file 'dist/x.tmp-dc7b84986f6177a1'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): tcp connect error: Connection refused (os error 111)
`;
  assert.equal(isRuntimeDownloadFailure(offline), true);
  assert.equal(
    isRuntimeDownloadFailure(
      "Check main.ts\nTS2322 [ERROR]: Type 'string' is not assignable to type 'number'.\n",
    ),
    false,
  );
  assert.equal(
    runtimeDownloadMessage("aarch64-apple-darwin"),
    "cannot download the Deno runtime for aarch64-apple-darwin (no network?): " +
      "set DENORT_BIN to a local denort binary for that target",
  );
});

// --- runs of the script -----------------------------------------------------------

/** A throwaway project: deno.json with the daplaya permission set, main.ts, src/. */
async function makeProject(versionTs: string | null): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "daplaya-compile-test-" });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ version: "0.0.7", permissions: { daplaya: { env: true } } }),
  );
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    'import { VERSION } from "./src/version.ts";\nconsole.log(`daplaya ${VERSION}`);\n',
  );
  await Deno.mkdir(`${dir}/src`);
  if (versionTs !== null) await Deno.writeTextFile(`${dir}/src/version.ts`, versionTs);
  return dir;
}

async function runCompile(
  project: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Deno.env.toObject();
  for (const k of ["DENORT_BIN", "DAPLAYA_VERSION", "NO_PROXY", "no_proxy", "NO_COLOR"]) {
    delete base[k];
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", SCRIPT, "--entry", `${project}/main.ts`, ...args],
    cwd: project,
    clearEnv: true,
    env: { ...base, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = hay.indexOf(needle[0]); i !== -1; i = hay.indexOf(needle[0], i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("compile.ts without DENORT_BIN and no network: one clear line, exit 1", async () => {
  // No src/version.ts at first: the generated one must be removed again afterwards.
  const project = await makeProject(null);
  const denoDir = await Deno.makeTempDir({ prefix: "daplaya-compile-denodir-" });
  const unreachable = "http://127.0.0.1:1";
  try {
    await Deno.mkdir(`${project}/dist`);
    // A stale binary and SHA256SUMS from an earlier build must not survive a failure.
    await Deno.writeTextFile(`${project}/dist/daplaya-x86_64-unknown-linux-gnu`, "stale");
    await Deno.writeTextFile(`${project}/dist/SHA256SUMS`, "stale");
    const r = await runCompile(project, ["--target", "x86_64-unknown-linux-gnu"], {
      // An empty DENO_DIR has no cached denort, and every proxy refuses connections,
      // so deno's download of denort fails fast whether or not there is a network.
      DENO_DIR: denoDir,
      HTTPS_PROXY: unreachable,
      https_proxy: unreachable,
      HTTP_PROXY: unreachable,
      http_proxy: unreachable,
      ALL_PROXY: unreachable,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(r.stderr.split("\n").filter((l) => l.trim() !== ""), [
      "compile: cannot download the Deno runtime for x86_64-unknown-linux-gnu (no network?): " +
      "set DENORT_BIN to a local denort binary for that target",
    ]);
    assert.deepEqual(await listDir(`${project}/dist`), [], "nothing left in dist");
    assert.deepEqual(await listDir(`${project}/src`), [], "generated version.ts removed");
  } finally {
    await Deno.remove(project, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("compile.ts rejects a --target that DENORT_BIN cannot serve", async () => {
  const project = await makeProject('export const VERSION = "dev";\n');
  try {
    const other = Deno.build.os === "darwin" ? "x86_64-unknown-linux-gnu" : "aarch64-apple-darwin";
    const r = await runCompile(project, ["--target", other], { DENORT_BIN: Deno.execPath() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`is a runtime for .*, not ${other}`));
    assert.deepEqual(await listDir(`${project}/dist`), []);
    assert.equal(
      await Deno.readTextFile(`${project}/src/version.ts`),
      'export const VERSION = "dev";\n',
    );
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});

// The real runtime (denort) cannot be downloaded here, so the `deno` binary itself stands
// in as DENORT_BIN: deno compile accepts it, and the result is a copy of deno carrying the
// embedded program (it does not run that program). Enough to check the script's success
// path: output name, stamped version, SHA256SUMS, version.ts restored.
Deno.test({
  name: "compile.ts with DENORT_BIN: builds its target, stamps the version, writes SHA256SUMS",
  ignore: !(TARGETS as readonly string[]).includes(Deno.build.target),
  fn: async () => {
    const original = 'export const VERSION = "0.0.0-dev";\n';
    const project = await makeProject(original);
    try {
      const r = await runCompile(project, [], {
        DENORT_BIN: Deno.execPath(),
        DAPLAYA_VERSION: "v9.8.7",
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const asset = assetName(Deno.build.target as Target);
      assert.match(r.stdout, /daplaya 9\.8\.7 \(from DAPLAYA_VERSION\)/);
      assert.deepEqual(await listDir(`${project}/dist`), ["SHA256SUMS", asset].sort());

      const bin = await Deno.readFile(`${project}/dist/${asset}`);
      assert.equal(
        await Deno.readTextFile(`${project}/dist/SHA256SUMS`),
        `${await sha256Hex(bin)}  ${asset}\n`,
      );
      assert.notEqual(
        indexOfBytes(bin, enc.encode('export const VERSION = "9.8.7";')),
        -1,
        "the stamped src/version.ts is embedded",
      );
      assert.equal(await Deno.readTextFile(`${project}/src/version.ts`), original);

      // Cross-check the file format with sha256sum itself, where it exists.
      try {
        const check = await new Deno.Command("sha256sum", {
          args: ["-c", "SHA256SUMS"],
          cwd: `${project}/dist`,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(check.code, 0, dec.decode(check.stdout) + dec.decode(check.stderr));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    } finally {
      await Deno.remove(project, { recursive: true });
    }
  },
});
