/**
 * The documentation stands alone: every relative link of README.md and docs/*.md points at a
 * file of the repository (and at a heading that exists, for `#anchors` into Markdown), and no
 * page refers to material users do not have.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  anchors,
  type Doc,
  forbiddenMentions,
  linkProblems,
  links,
  type Lookup,
  slug,
} from "./support/docs.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** README.md and every docs/*.md, relative to the root. */
async function docs(): Promise<Doc[]> {
  const paths = ["README.md"];
  for await (const e of Deno.readDir(join(ROOT, "docs"))) {
    if (e.isFile && e.name.endsWith(".md")) paths.push(`docs/${e.name}`);
  }
  paths.sort();
  return await Promise.all(
    paths.map(async (path) => ({ path, text: await Deno.readTextFile(join(ROOT, path)) })),
  );
}

/** Files of the repository on disk. */
const onDisk: Lookup = (path) => {
  try {
    const stat = Deno.statSync(join(ROOT, path));
    return stat.isFile && path.endsWith(".md")
      ? { exists: true, text: Deno.readTextFileSync(join(ROOT, path)) }
      : { exists: true };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { exists: false };
    throw err;
  }
};

/** Files given in memory, for the control cases. */
function inMemory(files: Record<string, string>): Lookup {
  return (path) =>
    path in files
      ? { exists: true, text: files[path] }
      : Object.keys(files).some((f) => f.startsWith(`${path}/`))
      ? { exists: true } // a directory
      : { exists: false };
}

Deno.test("docs: every relative link of README.md and docs/*.md resolves", async () => {
  const all = await docs();
  assert.ok(all.length >= 4, all.map((d) => d.path).join());
  const problems = all.flatMap((doc) => linkProblems(doc, onDisk));
  assert.deepEqual(problems, []);
  // The checker saw the links it is meant to check.
  const readme = all.find((d) => d.path === "README.md")!;
  assert.ok(links(readme.text).some((l) => l.target.startsWith("docs/")), "README links docs/");
});

Deno.test("docs: no page mentions material outside the repository", async () => {
  assert.deepEqual((await docs()).flatMap(forbiddenMentions), []);
});

Deno.test("docs checker: GitHub slugs", () => {
  assert.equal(slug("Install"), "install");
  assert.equal(slug("`init` — create the table"), "init--create-the-table");
  assert.equal(
    slug("`release` (or `unlock`) — release your lock"),
    "release-or-unlock--release-your-lock",
  );
  assert.equal(slug("Leases, fencing and clocks"), "leases-fencing-and-clocks");
  assert.equal(slug("What happens when…"), "what-happens-when");
  assert.equal(slug("Slack: `/daplaya`"), "slack-daplaya");
  assert.equal(slug("DAPLAYA_TABLE and [docs](x.md)"), "daplaya_table-and-docs");
  assert.deepEqual(
    [...anchors('# A\n## A\n```\n# not a heading\n```\n### A ###\n<a id="here"></a>\n')],
    ["a", "a-1", "a-2", "here"],
  );
});

Deno.test("docs checker: reports broken links (control case)", () => {
  const files = {
    "README.md": "# Title\n\n## Install\n",
    "docs/guide.md": "(this page is the one below)",
    "src/main.ts": "",
  };
  const doc: Doc = {
    path: "docs/guide.md",
    text: [
      "# Guide", // 1
      "## Lock rules", // 2
      "[ok](../README.md#install) [ok](#lock-rules)", // 3
      "[ok](../src/main.ts) [ok](../src) [web](https://example.com/x.md)", // 4
      "[missing](../docs/nothing.md)", // 5
      "[bad anchor](../README.md#first-lock)", // 6
      "[outside](../../shared/SPEC.md)", // 7
      "`[in code](nothing.md)`", // 8
      "```", // 9
      "[in a block](nothing.md)", // 10
      "```", // 11
      "[bad local anchor](#nope) [wrapped", // 12
      "text](missing.md)", // 13
      "[ref]: ./gone.md", // 14
      "",
    ].join("\n"),
  };
  assert.deepEqual(linkProblems(doc, inMemory(files)), [
    "docs/guide.md:5: (../docs/nothing.md) docs/nothing.md does not exist",
    "docs/guide.md:6: (../README.md#first-lock) README.md has no heading #first-lock",
    "docs/guide.md:7: (../../shared/SPEC.md) points outside the repository",
    "docs/guide.md:12: (#nope) docs/guide.md has no heading #nope",
    "docs/guide.md:13: (missing.md) docs/missing.md does not exist",
    "docs/guide.md:14: (./gone.md) docs/gone.md does not exist",
  ]);
  // The same page with its broken links removed passes.
  const fixed = doc.text.split("\n").slice(0, 4).join("\n");
  assert.deepEqual(linkProblems({ path: doc.path, text: fixed }, inMemory(files)), []);
});

Deno.test("docs checker: reports mentions of internal material (control case)", () => {
  const doc: Doc = {
    path: "README.md",
    text: "fine\nsee ../shared/SPEC.md\nas in the seed\nwhat the spec says\nalso fine\n",
  };
  assert.deepEqual(forbiddenMentions(doc), [
    "README.md:2: ../shared is not part of the repository",
    "README.md:2: SPEC.md is not part of the repository",
    'README.md:3: "the seed" means nothing to users',
    'README.md:4: "the spec" is not part of the repository',
  ]);
});
