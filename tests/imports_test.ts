/**
 * The code reads the way the README says it is built: no import cycles in `main.ts` + `src/`,
 * and arrows only downward (main.ts -> cli -> slack, web -> core; store -> core), read from
 * `deno info --json` by scripts/dev/import_graph.ts.
 */
import assert from "node:assert/strict";
import {
  cycles,
  importGraph,
  layerOf,
  MAY_IMPORT,
  wrongArrows,
} from "../scripts/dev/import_graph.ts";

Deno.test("imports", async (t) => {
  const graph = await importGraph();

  await t.step("every file of src/ is in the graph and in a layer", () => {
    assert.ok(graph.has("main.ts") && graph.has("src/core/locker.ts"), [...graph.keys()].join());
    assert.ok(graph.size >= 30, `only ${graph.size} files`);
    for (const file of graph.keys()) assert.ok(layerOf(file), `${file} is in no layer`);
  });

  await t.step("no import cycles", () => {
    assert.deepEqual(cycles(graph).map((c) => c.join(" <-> ")), []);
  });

  await t.step("arrows only downward", () => {
    assert.deepEqual(wrongArrows(graph), []);
  });

  await t.step("only main.ts opens a store: nothing else reaches into src/store/", () => {
    const intoStore = [...graph].flatMap(([from, tos]) =>
      tos.filter((to) => to.startsWith("src/store/")).map((to) => `${from} -> ${to}`)
    ).filter((arrow) => !arrow.startsWith("main.ts ") && !arrow.startsWith("src/store/"));
    assert.deepEqual(intoStore, []);
    assert.deepEqual(MAY_IMPORT["src/cli"].includes("src/store"), false);
  });

  await t.step("the checker sees a cycle and an upward arrow (control)", async () => {
    const dir = await Deno.makeTempDir({ prefix: "daplaya-cycle-" });
    try {
      await Deno.mkdir(`${dir}/src/core`, { recursive: true });
      await Deno.mkdir(`${dir}/src/cli`, { recursive: true });
      await Deno.writeTextFile(`${dir}/main.ts`, 'import "./src/cli/a.ts";\n');
      await Deno.writeTextFile(`${dir}/src/cli/a.ts`, 'import type { B } from "./b.ts";\n');
      await Deno.writeTextFile(
        `${dir}/src/cli/b.ts`,
        'import "./a.ts";\nimport "../core/c.ts";\nexport type B = 1;\n',
      );
      await Deno.writeTextFile(`${dir}/src/core/c.ts`, 'import "../cli/b.ts";\n');
      const sample = await importGraph(dir);
      assert.deepEqual(cycles(sample), [["src/cli/a.ts", "src/cli/b.ts", "src/core/c.ts"]]);
      assert.deepEqual(wrongArrows(sample), ["src/core/c.ts -> src/cli/b.ts"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
