import { parseMeta, parseUser } from "../core/parse.ts";
import type { CliContext } from "./context.ts";

/** Who takes or releases a lock, and where that came from (for `status` and hints). */
export interface Identity {
  user: string;
  source: string;
}

/**
 * `--user`, else DAPLAYA_USER; then in CI the committer email of HEAD, on a terminal the person
 * typing (`git config user.email`); then `$USER@hostname`.
 */
export async function resolveIdentity(
  flag: string | undefined,
  ctx: CliContext,
): Promise<Identity> {
  if (flag !== undefined) return { user: parseUser(flag), source: "--user" };
  const fromEnv = ctx.env("DAPLAYA_USER");
  if (fromEnv) return { user: parseUser(fromEnv), source: "DAPLAYA_USER" };
  const ci = inCi(ctx.env);
  if (ci) {
    const committer = await ctx.git(["log", "-1", "--format=%ce", "HEAD"]);
    if (committer) return { user: parseUser(committer), source: "the committer of HEAD (CI)" };
  }
  const configured = await ctx.git(["config", "user.email"]);
  if (configured) return { user: parseUser(configured), source: "git config user.email" };
  const login = ctx.env("USER") ?? ctx.env("USERNAME") ?? ctx.env("LOGNAME");
  if (login) return { user: parseUser(`${login}@${ctx.hostname()}`), source: "$USER@hostname" };
  return { user: parseUser(undefined), source: "" };
}

export async function resolveUser(flag: string | undefined, ctx: CliContext): Promise<string> {
  return (await resolveIdentity(flag, ctx)).user;
}

/** True under a CI system: the generic CI variable, or one of the systems we know. */
export function inCi(v: CliContext["env"]): boolean {
  const ci = v("CI");
  if (ci !== undefined && !/^(false|0)$/i.test(ci)) return true;
  return [
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "BUILDKITE",
    "JENKINS_URL",
    "BITBUCKET_BUILD_NUMBER",
  ]
    .some((name) => v(name) !== undefined);
}

/** The CI run URL under the CI systems we know, else `CLI`. */
/** The meta of a lock taken without --meta: the CI run's URL, else `CLI`. */
export function defaultMeta(v: CliContext["env"]): string {
  return ciRunUrl(v) ?? "CLI";
}

/** The URL of the CI run this process is part of, when the CI says. */
export function ciRunUrl(v: CliContext["env"]): string | undefined {
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
  return url ? parseMeta(url) : undefined;
}
