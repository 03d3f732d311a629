/**
 * The import graph of `main.ts` + `src/`, read from `deno info --json` (static, dynamic and
 * type-only imports alike), and the rules it must keep: no cycles, and arrows only downward
 * (see README, "How it is built"). `deno run -A scripts/dev/import_graph.ts` prints a report;
 * tests/imports_test.ts fails on any breach.
 */
import { relative } from "node:path";

export const ROOT = new URL("../../", import.meta.url).pathname;

/** file (relative to the root) -> the project files it imports */
export type ImportGraph = Map<string, string[]>;

/**
 * Which layer may import which: a layer is a folder (or a file at the top). Within a layer any
 * file may import any other; across layers only these arrows exist. `cli` may use `slack` and
 * `web` because `serve` wires the Slack handler and the status page to the server; only
 * `main.ts` opens a store.
 */
export const MAY_IMPORT: Record<string, string[]> = {
  "main.ts": ["src/cli", "src/store", "src/core", "src/version.ts"],
  "src/cli": ["src/slack", "src/web", "src/core"],
  "src/slack": ["src/core"],
  "src/web": ["src/core"],
  "src/store": ["src/core"],
  "src/core": [],
  "src/version.ts": [],
};

/** Reads the graph of every `.ts` file under `dir/src` plus `dir/main.ts`, with one `deno info`. */
export async function importGraph(dir = ROOT): Promise<ImportGraph> {
  const files = [`${dir}/main.ts`, ...await tsFiles(`${dir}/src`)];
  // One root that imports them all, so files that main.ts does not reach are read too.
  const tmp = await Deno.makeTempDir({ prefix: "daplaya-graph-" });
  try {
    const root = `${tmp}/root.ts`;
    await Deno.writeTextFile(
      root,
      files.map((f) => `import ${JSON.stringify(`file://${f}`)};\n`).join(""),
    );
    const config = await exists(`${dir}/deno.json`) ? [`--config=${dir}/deno.json`] : [];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", ...config, root],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`deno info failed: ${new TextDecoder().decode(out.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
    const local = (specifier: string | undefined) => {
      if (!specifier?.startsWith("file://")) return undefined;
      const path = relative(dir, new URL(specifier).pathname);
      return path.startsWith("..") ? undefined : path;
    };
    const graph: ImportGraph = new Map();
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (!from) continue;
      const to = (module.dependencies ?? []).flatMap((d) =>
        [d.code?.specifier, d.type?.specifier].flatMap((s) => local(s) ?? [])
      );
      graph.set(from, [...new Set(to)].sort());
    }
    return graph;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Every import cycle, as the files of each strongly connected component (Tarjan). */
export function cycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The layer a file belongs to: the longest MAY_IMPORT key that is it or contains it. */
export function layerOf(file: string): string | undefined {
  return Object.keys(MAY_IMPORT)
    .filter((layer) => file === layer || file.startsWith(`${layer}/`))
    .sort((a, b) => b.length - a.length)[0];
}

/** Imports that go against MAY_IMPORT (sideways or upward), as `from -> to`. */
export function wrongArrows(graph: ImportGraph): string[] {
  const wrong: string[] = [];
  for (const [from, tos] of graph) {
    const a = layerOf(from);
    for (const to of tos) {
      const b = layerOf(to);
      if (a === undefined || b === undefined) continue;
      if (a !== b && !MAY_IMPORT[a].includes(b)) wrong.push(`${from} -> ${to}`);
    }
  }
  return wrong.sort();
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await tsFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
  }[];
}

if (import.meta.main) {
  const graph = await importGraph();
  const lines = await Promise.all([...graph.keys()].map(async (file) => ({
    file,
    lines: (await Deno.readTextFile(`${ROOT}${file}`)).split("\n").length - 1,
  })));
  const found = cycles(graph);
  const wrong = wrongArrows(graph);
  console.log(`${graph.size} files, ${[...graph.values()].flat().length} imports`);
  console.log(`cycles: ${found.length}`);
  for (const c of found) console.log(`  ${c.join(" <-> ")}`);
  console.log(`arrows against the layers: ${wrong.length}`);
  for (const w of wrong) console.log(`  ${w}`);
  console.log("largest files:");
  for (const f of lines.sort((a, b) => b.lines - a.lines).slice(0, 6)) {
    console.log(`  ${String(f.lines).padStart(4)} ${f.file}`);
  }
}
