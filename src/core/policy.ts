/**
 * An env's policy: its rules for new locks and its freeze windows, kept in the env's guard item
 * so that a grant is conditioned on the very policy it was decided on (see `GrantRequest`).
 * This module decides what a lock request gets under a policy, and edits policies.
 */
import type { Clock } from "./clock.ts";
import { typoOf } from "./envs.ts";
import { formatInstant, inForce } from "./freeze.ts";
import { NewEnvError, NotAcquiredError, UnavailableError, UsageError } from "./errors.ts";
import type { Freeze, Guard, LockKind, Place, Policy, Rules } from "./model.ts";
import type { LockStore } from "./store.ts";
import { formatDuration } from "./text.ts";

/** An env without a policy: version 0, no rules, no windows. */
const NO_POLICY: Policy = { version: 0, rules: {}, freezes: [] };

/** How often a policy change is tried again when others change the same env meanwhile. */
const MAX_CHANGE_TRIES = 10;

export function policyOf(guard: Guard | null): Policy {
  return guard?.policy ?? NO_POLICY;
}

/** A freeze window in force, with the occurrence that is. */
export interface FreezeInForce {
  freeze: Freeze;
  start: number;
  end: number;
}

/** What a new lock asks for, as far as rules go. */
export interface LockAsk {
  env: string;
  kind: LockKind;
  /** --ttl as given, or the command's own default (`leaseIsDefault`). */
  leaseMs?: number;
  /** The lease is the command's default (`run`), not a --ttl: a rule may shorten it. */
  leaseIsDefault?: boolean;
  /** --meta given. */
  metaExplicit: boolean;
  /** The meta is the CI run's URL (not given, but explicit enough for --require-meta). */
  metaFromCi?: boolean;
  /** The meta the lock would get: a blank one says nothing, given or not. */
  meta?: string;
}

/**
 * The lease a new lock gets under the env's rules, or a UsageError when a rule refuses it:
 * --require-meta without a meta, a --ttl over --max-ttl. Without --ttl the lock gets the
 * default ttl, else the max ttl (so that no lock outlives it), else none.
 */
export function leaseUnder(rules: Rules, ask: LockAsk): number | undefined {
  const see = `(see 'daplaya policy show --env ${ask.env}')`;
  const blank = ask.meta !== undefined && ask.meta.trim() === "";
  if (rules.requireMeta && (blank || (!ask.metaExplicit && !ask.metaFromCi))) {
    throw new UsageError(
      `env ${ask.env} requires a meta saying why: add --meta "…" ${see}; nothing was locked`,
    );
  }
  const max = rules.maxTtlMs;
  if (ask.leaseMs === undefined) return rules.defaultTtlMs ?? max;
  if (max !== undefined && ask.leaseMs > max) {
    if (ask.leaseIsDefault) return max;
    throw new UsageError(
      `--ttl ${formatDuration(ask.leaseMs)} is longer than env ${ask.env} allows (max ttl ${
        formatDuration(max)
      }) ${see}; nothing was locked`,
    );
  }
  return ask.leaseMs;
}

/** The windows that stop a regular lock at `now`, the one ending last first. */
export function freezesAt(policy: Policy, kind: LockKind, now: number): FreezeInForce[] {
  return kind === "regular" ? inForce(policy.freezes, now) : [];
}

/** `holidays (window k3x9qa, until 2026-12-27 00:00 UTC (01:00 Europe/Berlin))` */
export function freezeText(f: FreezeInForce): string {
  return `${f.freeze.reason || "(no reason)"} (window ${f.freeze.id}, until ${
    formatInstant(f.end, f.freeze.tz)
  })`;
}

/** Exit 3: a freeze window is in force on the env, and we may not wait (longer). */
export class FrozenError extends NotAcquiredError {
  override name = "FrozenError";
  constructor(
    readonly env: string,
    readonly frozen: FreezeInForce[],
    suffix = "",
    holder?: ConstructorParameters<typeof NotAcquiredError>[1],
    line?: Place[],
  ) {
    super(
      `env ${env} is frozen: ${
        freezeText(frozen[0])
      }; to lock anyway give --override-freeze with --meta saying why${suffix}`,
      holder,
      line,
    );
  }
}

/** Reads and changes policies. Each change is one conditional write on the env's guard. */
export class Policies {
  constructor(private readonly store: LockStore, private readonly clock: Clock) {}

  /** One env's policy, strongly consistent (version 0: none). */
  async of(env: string): Promise<Policy> {
    return policyOf(await this.store.guard(env));
  }

  /** Every env's policy that has rules or windows, by env. */
  async all(): Promise<{ env: string; policy: Policy }[]> {
    const guards = await this.store.guards(await this.store.envs());
    return guards
      .flatMap((g) => g.policy ? [{ env: g.env, policy: g.policy }] : [])
      .filter(({ policy }) => policy.freezes.length > 0 || Object.keys(policy.rules).length > 0)
      .sort((a, b) => a.env.localeCompare(b.env));
  }

  /**
   * Changes one env's policy: `edit` gets it as stored and returns the rules and windows to
   * keep, or undefined when there is nothing to change (also when an earlier attempt whose
   * answer was lost did it already). An env never seen before is refused with NewEnvError when
   * its name looks like a typo of a known one, unless `newEnv`; `mustExist` refuses it always.
   */
  async change(
    env: string,
    edit: (policy: Policy, tried: boolean) => { rules: Rules; freezes: Freeze[] } | undefined,
    { newEnv = false, mustExist = false }: { newEnv?: boolean; mustExist?: boolean } = {},
  ): Promise<Policy> {
    let guard = await this.store.guard(env);
    if (guard === null) {
      if (mustExist) {
        throw new UsageError(`unknown env ${env}: it has never been locked and has no policy`);
      }
      const suggestion = newEnv ? undefined : typoOf(env, await this.store.envs());
      if (suggestion !== undefined) throw new NewEnvError(env, suggestion);
    }
    let tried = false;
    for (let attempt = 0; attempt < MAX_CHANGE_TRIES; attempt++) {
      const current = policyOf(guard);
      const next = edit(current, tried);
      if (next === undefined) return current;
      tried = true;
      const token = crypto.randomUUID();
      let result;
      try {
        result = await this.store.setPolicy({ env, seenVersion: current.version, ...next, token });
      } catch (e) {
        // Lost answer: read back and decide again; the edit sees `tried` and what is stored.
        if (!(e instanceof UnavailableError) || !e.outcomeUnknown) throw e;
        guard = await this.store.guard(env);
        continue;
      }
      if (result.ok) return { version: current.version + 1, ...next };
      guard = result.guard;
    }
    throw new UnavailableError(`the policy of env ${env} kept changing; try again`);
  }

  /** Adds a window (its id new); returns the policy with it. */
  addFreeze(env: string, freeze: Freeze, newEnv = false): Promise<Policy> {
    return this.change(env, (p) => {
      if (p.freezes.some((f) => f.id === freeze.id)) return undefined;
      return { rules: p.rules, freezes: [...p.freezes, freeze] };
    }, { newEnv });
  }

  /** Removes a window; UsageError when the env has none with this id. Returns the removed one. */
  async removeFreeze(env: string, id: string): Promise<Freeze> {
    let removed: Freeze | undefined;
    await this.change(env, (p, tried) => {
      const found = p.freezes.find((f) => f.id === id);
      if (!found) {
        // Gone after we sent its removal: ours was applied and its answer lost.
        if (tried && removed) return undefined;
        const ids = p.freezes.map((f) => f.id).join(", ");
        throw new UsageError(
          `env ${env} has no freeze window ${id}${
            ids ? ` (its windows: ${ids})` : " (it has none)"
          }: see 'daplaya freeze list --env ${env}'`,
        );
      }
      removed = found;
      return { rules: p.rules, freezes: p.freezes.filter((f) => f.id !== id) };
    }, { mustExist: true });
    return removed!;
  }

  /**
   * Replaces the env's rules (windows stay); `{}` drops them. Returns the policy with them and
   * the rules they replaced.
   */
  async setRules(
    env: string,
    rules: Rules,
    newEnv = false,
  ): Promise<{ policy: Policy; before: Rules }> {
    let before: Rules = {};
    const policy = await this.change(env, (p, tried) => {
      if (sameRules(p.rules, rules)) {
        // Once ours was sent, these may be ours (its answer lost): keep what it replaced.
        if (!tried) before = p.rules;
        return undefined;
      }
      before = p.rules;
      return { rules, freezes: p.freezes };
    }, { newEnv: newEnv || Object.keys(rules).length === 0 });
    return { policy, before };
  }

  /** Now by this host's clock: windows are judged by it, like leases' wall-clock times. */
  now(): number {
    return this.clock.now();
  }
}

function sameRules(a: Rules, b: Rules): boolean {
  return (a.requireMeta ?? false) === (b.requireMeta ?? false) && a.maxTtlMs === b.maxTtlMs &&
    a.defaultTtlMs === b.defaultTtlMs;
}
