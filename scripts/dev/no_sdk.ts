/**
 * Checks at run time that a CLI invocation never loads the AWS SDK (used by
 * tests/cli/startup_test.ts and scripts/bench.ts).
 *
 * Method: run main.ts the way scripts/dev/daplaya.ts does (`deno run -q --config deno.json
 * -P=daplaya main.ts`), plus `--import-map` pointing at a copy of deno.json's imports in which
 * every AWS SDK entry resolves to a "poison" module instead. The poison exports none of the
 * SDK's names and throws when evaluated, so an invocation that imports the SDK on its path, by a
 * static import or by the lazy `import()` in main.ts, cannot succeed. A positive control (a
 * command that does need DynamoDB) must fail with the poison's error, proving that the map is
 * in effect.
 *
 * Both the bare names (`@aws-sdk/client-dynamodb`, the project's way to import) and their exact
 * `npm:` specifiers from deno.json are poisoned. Deno does not apply import-map *prefix* keys to
 * `npm:` specifiers, so a source file importing some other `npm:@aws-sdk/...@version` directly
 * would escape this check; keep dependencies in deno.json's import map.
 *
 * Methods that do not work: `deno info` lists the static graph, where the lazy `import()` shows
 * whether or not it runs; `--deny-read=node_modules` does not stop Deno's module loader (tried:
 * `locks` still works under it); timing alone cannot tell an SDK import from noise.
 */
import { type CliResult, denoRun, outputOf, ROOT } from "./daplaya.ts";
export const POISON_MESSAGE = "daplaya-no-sdk: the AWS SDK was loaded";
const SDK_PACKAGES = /^npm:\/?@(aws-sdk|smithy|aws-crypto)\//;

export interface PoisonedMap {
  /** Path of the import map to pass with `--import-map`. */
  path: string;
  /** The specifiers that resolve to the poison. */
  poisoned: string[];
  remove(): Promise<void>;
}

/** Writes the poisoned import map and its poison module into a new temp directory. */
export async function poisonedImportMap(): Promise<PoisonedMap> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const imports: Record<string, string> = { ...config.imports };
  const dir = await Deno.makeTempDir({ prefix: "daplaya-no-sdk-" });
  const poison = `${dir}/poison.js`;
  await Deno.writeTextFile(poison, `throw new Error(${JSON.stringify(POISON_MESSAGE)});\n`);
  const poisoned: string[] = [];
  for (const [key, target] of Object.entries(config.imports as Record<string, string>)) {
    if (!SDK_PACKAGES.test(target)) continue;
    imports[key] = imports[target] = `file://${poison}`;
    poisoned.push(key, target);
  }
  if (poisoned.length === 0) throw new Error("deno.json imports no AWS SDK package");
  const path = `${dir}/import_map.json`;
  await Deno.writeTextFile(path, JSON.stringify({ imports }, null, 2));
  return { path, poisoned, remove: () => Deno.remove(dir, { recursive: true }) };
}

/** The CLI as scripts/dev/daplaya.ts runs it (same flags, clean env), with the AWS SDK replaced by the poison. */
export async function daplayaWithoutSdk(
  map: PoisonedMap,
  args: string[],
  env: Record<string, string>,
): Promise<CliResult> {
  return await outputOf(
    denoRun(`${ROOT}main.ts`, args, env, { flags: [`--import-map=${map.path}`] }),
  );
}

/** Whether a failed run failed because something imported the poisoned SDK. */
export function loadedPoison(r: CliResult): boolean {
  return r.code !== 0 &&
    (r.stderr.includes(POISON_MESSAGE) || /@aws-sdk\/|npm:@aws-sdk/.test(r.stderr));
}
