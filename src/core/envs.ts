/** Telling a new env from a typo of a known one (`PRODUCTON` next to `PRODUCTION`). */

/**
 * The known env that `env` looks like a typo of, if any: within one edit (an insertion, a
 * deletion, a substitution or two swapped neighbours) for names of 4 to 7 characters, two for
 * longer ones. Shorter names (`QA`, `DEV`) are too close to everything to tell; names that
 * differ only in numbers (`STAGING-2` next to `STAGING-1` or `STAGING`) are numbered siblings,
 * not typos.
 */
export function typoOf(env: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    if (name === env || onlyDigitsDiffer(name, env)) continue;
    const shorter = Math.min(name.length, env.length);
    const allowed = shorter >= 8 ? 2 : shorter >= 4 ? 1 : 0;
    const distance = editDistance(env, name);
    if (distance > 0 && distance <= allowed && (!best || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** `STAGING`, `STAGING2`, `STAGING-2` and `STAGING-3` are one family of numbered envs. */
function onlyDigitsDiffer(a: string, b: string): boolean {
  const family = (s: string) => s.replace(/[-_.]?\d+/g, "");
  return /\d/.test(a + b) && family(a) === family(b);
}

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a substring). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
