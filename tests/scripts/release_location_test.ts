/**
 * The release location (the GitHub repository users download daplaya from) is named in one
 * place, the RELEASE LOCATION line of scripts/install.sh. The README's install commands and
 * the docs follow it, and the release workflow publishes to the repository it runs in.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  foreignReleaseUrls,
  locationOf,
  releaseLocation,
  releaseUrls,
} from "../support/release_location.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (path: string) => Deno.readTextFile(join(ROOT, path));

/** README.md, docs/*.md, scripts/install.sh and the workflows. */
async function filesNamingUrls(): Promise<string[]> {
  const paths = ["README.md", "scripts/install.sh"];
  for (const dir of ["docs", ".github/workflows"]) {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      if (e.isFile && /\.(md|ya?ml)$/.test(e.name)) paths.push(`${dir}/${e.name}`);
    }
  }
  return paths.sort();
}

Deno.test("release location", async (t) => {
  const location = await releaseLocation();
  const installSh = await read("scripts/install.sh");

  await t.step("install.sh names it on its RELEASE LOCATION line, and nowhere else", () => {
    assert.match(location, /^[\w.-]+\/[\w.-]+$/);
    assert.equal(installSh.split(location).length - 1, 1, "other copies in install.sh");
    assert.match(
      installSh,
      /^DEFAULT_DOWNLOAD_URL="https:\/\/github\.com\/\$DAPLAYA_REPO\/releases"$/m,
    );
  });

  await t.step("every install or release URL of the docs and workflows names it", async () => {
    const problems: string[] = [];
    for (const path of await filesNamingUrls()) {
      problems.push(...foreignReleaseUrls(path, await read(path), location));
    }
    assert.deepEqual(problems, []);
    // The README does show them: the install one-liner, the assets by hand, the CI example.
    const readme = releaseUrls(await read("README.md")).map((u) => u.url);
    assert.ok(
      readme.includes(`https://raw.githubusercontent.com/${location}/main/scripts/install.sh`),
      readme.join("\n"),
    );
    assert.ok(
      readme.includes(`https://github.com/${location}/releases/latest/download/SHA256SUMS`),
      readme.join("\n"),
    );
  });

  await t.step("the release workflow publishes where it runs and names no location", async () => {
    const workflow = await read(".github/workflows/release.yml");
    assert.ok(!workflow.includes(location), "release.yml names the location itself");
    const releases = [...workflow.matchAll(/gh release \w+[^\n]*/g)].map((m) => m[0]);
    assert.ok(releases.length >= 3, releases.join("\n"));
    for (const cmd of releases) assert.match(cmd, /--repo "\$GITHUB_REPOSITORY"/, cmd);
    // It warns when install.sh installs from elsewhere, reading the same line.
    assert.match(workflow, /# RELEASE LOCATION\.\*\/\\1\/p' scripts\/install\.sh/);
  });

  await t.step("the README says where it is defined and how to point elsewhere", async () => {
    const readme = await read("README.md");
    const install = readme.slice(
      readme.indexOf("## Install"),
      readme.indexOf("\n## ", 10 + readme.indexOf("## Install")),
    );
    for (
      const word of [
        "RELEASE LOCATION",
        "scripts/install.sh",
        "DAPLAYA_REPO",
        "DAPLAYA_DOWNLOAD_URL",
      ]
    ) {
      assert.ok(install.includes(word), `README "Install" does not mention ${word}`);
    }
  });
});

Deno.test("release location checks: control cases", async (t) => {
  await t.step("a URL naming another repository is reported", () => {
    const text = [
      "curl -fsSL https://raw.githubusercontent.com/me/fork/main/scripts/install.sh | sh",
      "fine: https://github.com/me/fork/releases/latest/download/SHA256SUMS",
      "stale: https://github.com/old/place/releases/latest/download/SHA256SUMS",
      "not a release: https://github.com/awslabs/amazon-dynamodb-lock-client",
      "a placeholder: https://raw.githubusercontent.com/OWNER/NAME/main/scripts/install.sh",
      "[stale](https://raw.githubusercontent.com/old/place/main/scripts/install.sh)",
    ].join("\n");
    assert.deepEqual(foreignReleaseUrls("X.md", text, "me/fork"), [
      "X.md:3: https://github.com/old/place/releases/latest/download/SHA256SUMS names old/place, not me/fork",
      "X.md:6: https://raw.githubusercontent.com/old/place/main/scripts/install.sh names old/place, not me/fork",
    ]);
  });

  await t.step("install.sh must have exactly one RELEASE LOCATION line", () => {
    const line = 'DAPLAYA_REPO="${DAPLAYA_REPO:-me/fork}" # RELEASE LOCATION: GitHub OWNER/NAME';
    assert.equal(locationOf(`set -eu\n${line}\n`), "me/fork");
    assert.throws(() => locationOf("set -eu\nDAPLAYA_REPO=me/fork\n"), /found 0/);
    assert.throws(() => locationOf(`${line}\n${line}\n`), /found 2/);
  });
});
