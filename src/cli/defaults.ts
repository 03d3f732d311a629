import { parseMeta, parseUser } from "../core/parse.ts";
import type { CliContext } from "./context.ts";

/** `--user`, else DAPLAYA_USER, else the committer email of HEAD in the current git repository. */
export async function resolveUser(flag: string | undefined, ctx: CliContext): Promise<string> {
  if (flag !== undefined) return parseUser(flag);
  const fromEnv = ctx.env("DAPLAYA_USER");
  if (fromEnv) return parseUser(fromEnv);
  return parseUser(await ctx.gitEmail());
}

/** The CI run URL under the CI systems we know, else `CLI`. */
export function defaultMeta(v: CliContext["env"]): string {
  if (v("GITHUB_ACTIONS") && v("GITHUB_RUN_ID")) {
    const server = v("GITHUB_SERVER_URL") ?? "https://github.com";
    return `${server}/${v("GITHUB_REPOSITORY")}/actions/runs/${v("GITHUB_RUN_ID")}`;
  }
  if (v("BITBUCKET_BUILD_NUMBER") && v("BITBUCKET_REPO_FULL_NAME")) {
    return `https://bitbucket.org/${v("BITBUCKET_REPO_FULL_NAME")}/pipelines/results/${
      v("BITBUCKET_BUILD_NUMBER")
    }`;
  }
  const url = v("CI_JOB_URL") ?? v("CIRCLE_BUILD_URL") ?? v("BUILDKITE_BUILD_URL") ??
    v("BUILD_URL");
  return url ? parseMeta(url) : "CLI";
}
