/** Stamped by scripts/compile.ts in a release; kept equal to deno.json's version (tested). */
export const VERSION = "0.1.0";
