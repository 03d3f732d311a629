/**
 * Where daplaya is released. One line of scripts/install.sh names it (marked RELEASE LOCATION);
 * everything else that shows an install or release URL must name the same repository.
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** The marked line: `DAPLAYA_REPO="${DAPLAYA_REPO:-OWNER/NAME}" # RELEASE LOCATION…`. */
const LOCATION_LINE = /^DAPLAYA_REPO="\$\{DAPLAYA_REPO:-([^}"]*)\}"\s+# RELEASE LOCATION\b/gm;

/** The OWNER/NAME on the RELEASE LOCATION line of an install.sh text; throws unless one. */
export function locationOf(installSh: string): string {
  const found = [...installSh.matchAll(LOCATION_LINE)].map((m) => m[1]);
  if (found.length !== 1) {
    throw new Error(`expected one RELEASE LOCATION line in install.sh, found ${found.length}`);
  }
  return found[0];
}

/** The release location of this repository, from scripts/install.sh. */
export async function releaseLocation(): Promise<string> {
  return locationOf(await Deno.readTextFile(`${ROOT}scripts/install.sh`));
}

/** An install or release URL found in a text, with the repository it names. */
export interface ReleaseUrl {
  url: string;
  repo: string;
  line: number;
}

/**
 * The URLs in `text` that download daplaya: GitHub release pages and assets
 * (`github.com/O/N/releases…`) and the install script (`raw.githubusercontent.com/O/N/…`).
 */
export function releaseUrls(text: string): ReleaseUrl[] {
  const re = new RegExp(
    String.raw`https://(?:github\.com/([\w.-]+/[\w.-]+)/releases|` +
      String.raw`raw\.githubusercontent\.com/([\w.-]+/[\w.-]+)/)[^\s)"'\x60>]*`,
    "g",
  );
  return [...text.matchAll(re)].map((m) => ({
    url: m[0],
    repo: m[1] ?? m[2],
    line: text.slice(0, m.index).split("\n").length,
  }));
}

/** The placeholder the docs use for "your fork": `OWNER/NAME`. */
export const PLACEHOLDER = "OWNER/NAME";

/** One line per URL of `text` that names another repository than `location` (or PLACEHOLDER). */
export function foreignReleaseUrls(path: string, text: string, location: string): string[] {
  return releaseUrls(text)
    .filter((u) => u.repo !== location && u.repo !== PLACEHOLDER)
    .map((u) => `${path}:${u.line}: ${u.url} names ${u.repo}, not ${location}`);
}
