// Tests for scripts/install.sh against fake releases served from 127.0.0.1.
import assert from "node:assert/strict";
import type { CliResult } from "../../scripts/dev/daplaya.ts";
import { releaseLocation } from "../support/release_location.ts";

const SCRIPT = new URL("../../scripts/install.sh", import.meta.url).pathname;
const LATEST = "2.0.0";
const PINNED = "1.2.3";
const ASSETS = [
  "daplaya-x86_64-unknown-linux-gnu",
  "daplaya-aarch64-unknown-linux-gnu",
  "daplaya-x86_64-apple-darwin",
  "daplaya-aarch64-apple-darwin",
];

const enc = new TextEncoder();

/** A stand-in release binary: a shell script that prints its version and asset. */
function fakeBinary(version: string, asset: string): string {
  return `#!/bin/sh\necho "daplaya ${version} (${asset})"\n`;
}

async function sha256Hex(data: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", enc.encode(data));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds the files of one fake release tree (path -> body) under `prefix`:
 * `<prefix>/latest/download/*` and `<prefix>/download/v1.2.3/*`.
 * `mutate` may alter the assets after their checksums were computed, or drop entries.
 */
async function releaseTree(
  prefix: string,
  mutate: (assets: Map<string, string>, sums: Map<string, string>) => void = () => {},
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const [dir, version] of [["latest/download", LATEST], [`download/v${PINNED}`, PINNED]]) {
    const assets = new Map<string, string>();
    const sums = new Map<string, string>();
    for (const asset of ASSETS) {
      const body = fakeBinary(version, asset);
      assets.set(asset, body);
      sums.set(asset, await sha256Hex(body));
    }
    mutate(assets, sums);
    for (const [asset, body] of assets) files.set(`${prefix}/${dir}/${asset}`, body);
    const sumsText = [...sums].map(([name, hex]) => `${hex}  ${name}\n`).join("");
    files.set(`${prefix}/${dir}/SHA256SUMS`, sumsText);
  }
  return files;
}

async function runInstaller(
  env: Record<string, string>,
  opts: { stdinScript?: boolean } = {},
): Promise<CliResult> {
  const cmd = new Deno.Command("sh", {
    // `curl ... | sh` feeds the script on stdin; otherwise run the file.
    args: opts.stdinScript ? [] : [SCRIPT],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    stdin: opts.stdinScript ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (opts.stdinScript) {
    const writer = child.stdin.getWriter();
    await writer.write(await Deno.readFile(SCRIPT));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

function nonEmptyLines(s: string): string[] {
  return s.split("\n").filter((l) => l.trim() !== "");
}

Deno.test("scripts/install.sh", async (t) => {
  const files = new Map<string, string>([
    ...await releaseTree("/good"),
    // Every asset's bytes differ from what SHA256SUMS lists.
    ...await releaseTree("/tampered", (assets) => {
      for (const [name, body] of assets) assets.set(name, body + "echo pwned\n");
    }),
    // SHA256SUMS lacks the linux x86_64 entry.
    ...await releaseTree("/missing", (_assets, sums) => {
      sums.delete("daplaya-x86_64-unknown-linux-gnu");
    }),
  ]);
  const requested: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      requested.push(path);
      const body = files.get(path);
      return body === undefined
        ? new Response("not found\n", { status: 404 })
        : new Response(body, { headers: { "content-type": "application/octet-stream" } });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const tmp = await Deno.makeTempDir({ prefix: "daplaya-install-test-" });
  let n = 0;
  const freshDir = async () => {
    const dir = `${tmp}/case-${n++}`;
    await Deno.mkdir(dir);
    return dir;
  };
  /** The installer on a Linux x86_64 glibc host, from the good release; `env` says what differs. */
  const install = (env: Record<string, string>, opts?: { stdinScript?: boolean }) =>
    runInstaller({
      DAPLAYA_OS: "Linux",
      DAPLAYA_ARCH: "x86_64",
      DAPLAYA_LIBC: "gnu",
      DAPLAYA_DOWNLOAD_URL: `${base}/good`,
      HOME: tmp,
      ...env,
    }, opts);

  try {
    await t.step("installs the linux x86_64 asset and prints its version", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const asset = "daplaya-x86_64-unknown-linux-gnu";
      assert.equal(await Deno.readTextFile(`${dir}/daplaya`), fakeBinary(LATEST, asset));
      assert.deepEqual(await listDir(dir), ["daplaya"], "temp files were cleaned up");
      assert.ok(((await Deno.stat(`${dir}/daplaya`)).mode! & 0o111) !== 0, "executable");
      assert.match(r.stdout, new RegExp(`daplaya ${LATEST} \\(${asset}\\)`));
      assert.ok(requested.includes(`/good/latest/download/${asset}`));
      assert.ok(requested.includes("/good/latest/download/SHA256SUMS"));
    });

    await t.step("installs the darwin arm64 asset", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_OS: "Darwin",
        DAPLAYA_ARCH: "arm64",
        DAPLAYA_INSTALL_DIR: dir,
        DAPLAYA_DOWNLOAD_URL: `${base}/good/`, // trailing slash tolerated
      });
      assert.equal(r.code, 0, r.stderr);
      const asset = "daplaya-aarch64-apple-darwin";
      assert.equal(await Deno.readTextFile(`${dir}/daplaya`), fakeBinary(LATEST, asset));
      assert.match(r.stdout, new RegExp(`daplaya ${LATEST} \\(${asset}\\)`));
    });

    await t.step("maps linux aarch64 and darwin x86_64 too", async () => {
      for (
        const [os, arch, asset] of [
          ["Linux", "aarch64", "daplaya-aarch64-unknown-linux-gnu"],
          ["Linux", "arm64", "daplaya-aarch64-unknown-linux-gnu"],
          ["Darwin", "x86_64", "daplaya-x86_64-apple-darwin"],
        ]
      ) {
        const dir = await freshDir();
        const r = await install({
          DAPLAYA_OS: os,
          DAPLAYA_ARCH: arch,
          DAPLAYA_INSTALL_DIR: dir,
        });
        assert.equal(r.code, 0, `${os}/${arch}: ${r.stderr}`);
        assert.equal(await Deno.readTextFile(`${dir}/daplaya`), fakeBinary(LATEST, asset));
      }
    });

    await t.step("DAPLAYA_VERSION pins the release under /download/v1.2.3/", async () => {
      const dir = await freshDir();
      requested.length = 0;
      const r = await install({
        DAPLAYA_VERSION: PINNED,
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const asset = "daplaya-x86_64-unknown-linux-gnu";
      assert.equal(await Deno.readTextFile(`${dir}/daplaya`), fakeBinary(PINNED, asset));
      assert.match(r.stdout, /daplaya 1\.2\.3 /);
      assert.deepEqual(requested.sort(), [
        `/good/download/v${PINNED}/SHA256SUMS`,
        `/good/download/v${PINNED}/${asset}`,
      ]);
    });

    await t.step("a leading v in DAPLAYA_VERSION is accepted", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_VERSION: `v${PINNED}`,
        DAPLAYA_OS: "Darwin",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /daplaya 1\.2\.3 \(daplaya-x86_64-apple-darwin\)/);
    });

    await t.step("checksum mismatch: refused, nothing installed", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
        DAPLAYA_DOWNLOAD_URL: `${base}/tampered`,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /checksum mismatch for daplaya-x86_64-unknown-linux-gnu/);
      assert.match(r.stderr, /refusing to install/);
      assert.deepEqual(await listDir(dir), [], "install dir stays empty");
    });

    await t.step("checksum mismatch keeps an existing install untouched", async () => {
      const dir = await freshDir();
      await Deno.writeTextFile(`${dir}/daplaya`, "old\n");
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
        DAPLAYA_DOWNLOAD_URL: `${base}/tampered`,
      });
      assert.notEqual(r.code, 0);
      assert.deepEqual(await listDir(dir), ["daplaya"]);
      assert.equal(await Deno.readTextFile(`${dir}/daplaya`), "old\n");
    });

    await t.step("asset missing from SHA256SUMS: refused, nothing installed", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
        DAPLAYA_DOWNLOAD_URL: `${base}/missing`,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /SHA256SUMS has no entry for daplaya-x86_64-unknown-linux-gnu/);
      assert.deepEqual(await listDir(dir), []);
    });

    await t.step("missing release (404): fails, nothing installed", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_VERSION: "9.9.9",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /download failed: .*\/download\/v9\.9\.9\//);
      assert.deepEqual(await listDir(dir), []);
    });

    await t.step("unsupported OS: one clear line, non-zero exit", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_OS: "FreeBSD",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.notEqual(r.code, 0);
      assert.deepEqual(nonEmptyLines(r.stderr), [
        "daplaya-install: error: unsupported operating system 'FreeBSD': " +
        "daplaya ships binaries for Linux (glibc) and macOS",
      ]);
      assert.deepEqual(await listDir(dir), []);
    });

    await t.step("unsupported arch: one clear line, non-zero exit", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_ARCH: "mips",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.notEqual(r.code, 0);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /unsupported architecture 'mips' on Linux/);
      assert.deepEqual(await listDir(dir), []);
    });

    await t.step("Windows shells are pointed at the .exe", async () => {
      const r = await install({
        DAPLAYA_OS: "MINGW64_NT-10.0",
        DAPLAYA_INSTALL_DIR: await freshDir(),
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /daplaya-x86_64-pc-windows-msvc\.exe/);
    });

    await t.step("downloads from the RELEASE LOCATION, or from DAPLAYA_REPO", async () => {
      // A curl that only says what it was asked for: nothing leaves the machine.
      const bin = await freshDir();
      await Deno.writeTextFile(`${bin}/curl`, '#!/bin/sh\necho "fake curl $*" >&2\nexit 22\n');
      await Deno.chmod(`${bin}/curl`, 0o755);
      const PATH = `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
      const asset = "daplaya-x86_64-unknown-linux-gnu";
      for (
        const [repo, url] of [
          [undefined, `https://github.com/${await releaseLocation()}/releases`],
          ["someone/daplaya-fork", "https://github.com/someone/daplaya-fork/releases"],
        ]
      ) {
        const dir = await freshDir();
        const r = await install({
          PATH,
          DAPLAYA_DOWNLOAD_URL: "", // empty: the default
          ...(repo ? { DAPLAYA_REPO: repo } : {}),
          DAPLAYA_INSTALL_DIR: dir,
        });
        assert.notEqual(r.code, 0);
        assert.ok(r.stderr.includes(`fake curl -fsSL -o `), r.stderr);
        assert.ok(r.stderr.includes(` ${url}/latest/download/${asset}\n`), r.stderr);
        assert.deepEqual(await listDir(dir), []);
        // The Windows hint names the same place.
        const win = await install({
          PATH,
          DAPLAYA_OS: "Windows_NT",
          DAPLAYA_DOWNLOAD_URL: "",
          ...(repo ? { DAPLAYA_REPO: repo } : {}),
          DAPLAYA_INSTALL_DIR: dir,
        });
        assert.ok(win.stderr.includes(`msvc.exe from ${url}\n`), win.stderr);
      }
    });

    await t.step("a DAPLAYA_REPO that is not OWNER/NAME: one clear line", async () => {
      for (const repo of ["daplaya", "a/b/c", "/b", "a/", "a b/c", "a/b;rm"]) {
        const dir = await freshDir();
        const r = await install({
          DAPLAYA_REPO: repo,
          DAPLAYA_DOWNLOAD_URL: "",
          DAPLAYA_INSTALL_DIR: dir,
        });
        assert.notEqual(r.code, 0, repo);
        assert.deepEqual(nonEmptyLines(r.stderr), [
          `daplaya-install: error: DAPLAYA_REPO '${repo}' is not a GitHub repository OWNER/NAME`,
        ]);
        assert.deepEqual(await listDir(dir), []);
      }
    });

    await t.step("musl (Alpine) Linux: refused with a glibc hint", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_LIBC: "musl",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.notEqual(r.code, 0);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /needs glibc/);
      assert.match(lines[0], /Debian\/Ubuntu/);
      assert.match(lines[0], /gcr\.io\/distroless\/cc/);
      assert.deepEqual(await listDir(dir), []);
    });

    await t.step("defaults to $HOME/.local/bin and hints when it is not in PATH", async () => {
      const home = await freshDir();
      const r = await install({
        HOME: home,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await Deno.stat(`${home}/.local/bin/daplaya`)).isFile);
      assert.match(r.stderr, new RegExp(`${home}/\\.local/bin is not in your PATH`));
      assert.ok(r.stderr.includes(`export PATH="${home}/.local/bin:$PATH"`), r.stderr);
    });

    await t.step("no PATH hint when the install dir is in PATH", async () => {
      const dir = await freshDir();
      const r = await install({
        PATH: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        DAPLAYA_INSTALL_DIR: `${dir}/`,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /not in your PATH/);
    });

    await t.step("replaces an existing install", async () => {
      const dir = await freshDir();
      await Deno.writeTextFile(`${dir}/daplaya`, "old\n");
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await listDir(dir), ["daplaya"]);
      assert.equal(
        await Deno.readTextFile(`${dir}/daplaya`),
        fakeBinary(LATEST, "daplaya-x86_64-unknown-linux-gnu"),
      );
    });

    await t.step("a failing --version is tolerated", async () => {
      const dir = await freshDir();
      const asset = "daplaya-x86_64-unknown-linux-gnu";
      const body = "#!/bin/sh\nexit 3\n";
      files.set(`/broken/latest/download/${asset}`, body);
      files.set(`/broken/latest/download/SHA256SUMS`, `${await sha256Hex(body)}  ${asset}\n`);
      const r = await install({
        DAPLAYA_INSTALL_DIR: dir,
        DAPLAYA_DOWNLOAD_URL: `${base}/broken`,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: .*--version' failed/);
      assert.equal(await Deno.readTextFile(`${dir}/daplaya`), body);
    });

    await t.step("works when piped into sh (curl ... | sh)", async () => {
      const dir = await freshDir();
      const r = await install({
        DAPLAYA_OS: "Darwin",
        DAPLAYA_ARCH: "arm64",
        DAPLAYA_INSTALL_DIR: dir,
      }, { stdinScript: true });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /daplaya 2\.0\.0 \(daplaya-aarch64-apple-darwin\)/);
    });

    await t.step("falls back to wget and shasum when curl and sha256sum are absent", async () => {
      // A PATH of symlinks to every system tool except curl and sha256sum.
      const bin = await freshDir();
      const hidden = new Set(["curl", "sha256sum"]);
      const seen = new Set<string>();
      for (const sysDir of ["/usr/local/bin", "/usr/bin", "/bin"]) {
        try {
          for await (const e of Deno.readDir(sysDir)) {
            if (hidden.has(e.name) || seen.has(e.name)) continue;
            seen.add(e.name);
            await Deno.symlink(`${sysDir}/${e.name}`, `${bin}/${e.name}`);
          }
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
      if (!seen.has("wget") || !seen.has("shasum")) {
        console.log("  wget or shasum not installed: fallback check skipped");
        return;
      }
      const dir = await freshDir();
      requested.length = 0;
      const r = await install({
        PATH: bin,
        DAPLAYA_ARCH: "aarch64",
        DAPLAYA_INSTALL_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        await Deno.readTextFile(`${dir}/daplaya`),
        fakeBinary(LATEST, "daplaya-aarch64-unknown-linux-gnu"),
      );
      assert.equal(requested.length, 2);

      // And wget + shasum still refuse a tampered asset.
      const dir2 = await freshDir();
      const bad = await install({
        PATH: bin,
        DAPLAYA_ARCH: "aarch64",
        DAPLAYA_INSTALL_DIR: dir2,
        DAPLAYA_DOWNLOAD_URL: `${base}/tampered`,
      });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /checksum mismatch/);
      assert.deepEqual(await listDir(dir2), []);
    });

    await t.step("shellcheck -s sh is clean", async () => {
      let out: Deno.CommandOutput;
      try {
        out = await new Deno.Command("shellcheck", {
          args: ["-s", "sh", SCRIPT],
          stdout: "piped",
          stderr: "piped",
        }).output();
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          console.log("  shellcheck is not installed: lint check skipped");
          return;
        }
        throw err;
      }
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stdout) + dec.decode(out.stderr));
    });
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});
