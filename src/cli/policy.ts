/**
 * `daplaya policy set|show`: an env's rules for new locks (a required meta, a max and a default
 * ttl) and, in `show`, its freeze windows. The rules are applied by the core (`leaseUnder`).
 */
import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../core/errors.ts";
import type { Rules } from "../core/model.ts";
import { parseEnv } from "../core/parse.ts";
import { formatDuration } from "../core/text.ts";
import type { CliContext } from "./context.ts";
import {
  freezeJson,
  freezeStatus,
  freezeSummary,
  json,
  rulesJson,
  rulesText,
  sortFreezes,
} from "./format.ts";
import { globals } from "./global_options.ts";
import { examples } from "./help.ts";
import { MAX_TTL_MS } from "./lock.ts";
import { durationOption, withPolicies } from "./shared.ts";

/** A ttl rule has the bounds of `lock --ttl`. */
const MIN_TTL_MS = 3000;

export function policyCommand(ctx: CliContext) {
  return new Command("policy")
    .summary("an env's rules for new locks: meta and ttl")
    .description(
      "an env's rules for every new lock: a required --meta, a max and a default ttl; and its freeze windows",
    )
    .helpCommand(false)
    .addCommand(policySetCommand(ctx))
    .addCommand(policyShowCommand(ctx))
    .addHelpText(
      "after",
      examples(
        [
          "every production lock says why, and lasts at most 2h (30m without --ttl)",
          "daplaya policy set --env production --require-meta --max-ttl 2h --default-ttl 30m",
        ],
        ["the rules and freeze windows of production", "daplaya policy show --env production"],
        ["drop production's rules", "daplaya policy set --env production --clear"],
      ),
    );
}

function policySetCommand(ctx: CliContext) {
  return new Command("set")
    .summary("replace an env's rules with those given")
    .description(
      "replace an env's rules with those given (a rule left out is dropped; freeze windows stay)",
    )
    .option("--env <env>", "(required) environment, e.g. production (case-insensitive)")
    .option("--require-meta", "a new lock needs --meta saying why (a CI run's URL counts)")
    .option(
      "--max-ttl <duration>",
      "no lease longer than this, 3s to 7d; a lock without --ttl gets at most this",
    )
    .option(
      "--default-ttl <duration>",
      "the lease of a lock taken without --ttl (not run's: it keeps its own), 3s to 7d",
    )
    .option("--clear", "drop the env's rules")
    .option(
      "--new-env",
      "set rules on an env never locked before even if its name is close to a known one",
    )
    .addHelpText(
      "after",
      examples(
        [
          "every production lock needs a meta, lasts at most 2h, and 30m without --ttl",
          "daplaya policy set --env production --require-meta --max-ttl 2h --default-ttl 30m",
        ],
        ["drop them", "daplaya policy set --env production --clear"],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const given = flags.requireMeta !== undefined || flags.maxTtl !== undefined ||
        flags.defaultTtl !== undefined;
      if (!given && !flags.clear) {
        throw new UsageError(
          "nothing to set: give --require-meta, --max-ttl, --default-ttl, or --clear",
        );
      }
      if (given && flags.clear) {
        throw new UsageError("--clear drops every rule: give it alone, or only the rules to keep");
      }
      const maxTtlMs = durationOption(flags.maxTtl, "--max-ttl", MIN_TTL_MS, MAX_TTL_MS);
      const defaultTtlMs = durationOption(
        flags.defaultTtl,
        "--default-ttl",
        MIN_TTL_MS,
        MAX_TTL_MS,
      );
      if (maxTtlMs !== undefined && defaultTtlMs !== undefined && defaultTtlMs > maxTtlMs) {
        throw new UsageError(
          `--default-ttl ${formatDuration(defaultTtlMs)} is longer than --max-ttl ${
            formatDuration(maxTtlMs)
          }: a lock taken without --ttl would break the env's own max`,
        );
      }
      const rules: Rules = {
        ...(flags.requireMeta ? { requireMeta: true } : {}),
        ...(maxTtlMs !== undefined ? { maxTtlMs } : {}),
        ...(defaultTtlMs !== undefined ? { defaultTtlMs } : {}),
      };
      const { policy, before } = await withPolicies(
        ctx,
        g,
        (p) => p.setRules(env, rules, flags.newEnv === true),
      );
      if (g.json) {
        return ctx.stdout(json({
          env,
          version: policy.version,
          rules: rulesJson(policy.rules),
          before: rulesJson(before),
        }));
      }
      const now = rulesText(policy.rules);
      const was = rulesText(before);
      ctx.stdout(
        `Rules of env ${env}: ${now} (${was === now ? "unchanged" : `were: ${was}`})\n`,
      );
    });
}

function policyShowCommand(ctx: CliContext) {
  return new Command("show")
    .summary("show an env's rules and freeze windows")
    .description("show an env's rules and its freeze windows, with whether each is in force now")
    .option("--env <env>", "(required) environment")
    .addHelpText(
      "after",
      examples(
        ["production's rules and windows", "daplaya policy show --env production"],
        ["as one JSON document", "daplaya policy show --env production --json"],
      ),
    )
    .action(async (flags, cmd) => {
      const g = globals(cmd);
      const env = parseEnv(flags.env);
      const policy = await withPolicies(ctx, g, (p) => p.of(env));
      const now = ctx.clock.now();
      const items = sortFreezes(policy.freezes.map((freeze) => ({ env, freeze })), now);
      if (g.json) {
        return ctx.stdout(json({
          env,
          version: policy.version,
          rules: rulesJson(policy.rules),
          freezes: items.map((i) => freezeJson(i, now)),
        }));
      }
      const lines = [`Rules of env ${env}: ${rulesText(policy.rules)}`];
      if (items.length === 0) lines.push(`No freeze windows on env ${env}`);
      for (const { freeze: f } of items) {
        lines.push(
          `Freeze window ${f.id}: ${freezeSummary(f)}, added by ${f.addedBy || "(no user)"}; ${
            freezeStatus(f, now)
          }`,
        );
      }
      ctx.stdout(lines.map((l) => `${l}\n`).join(""));
    });
}
