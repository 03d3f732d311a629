import { FailureError } from "../core/errors.ts";
import { type Guard, type LockKind, type LockRecord, sameUser, slotOf } from "../core/model.ts";
import type {
  Check,
  GrantRequest,
  GrantResult,
  JoinRequest,
  LeaveRequest,
  LineResult,
  LockStore,
  PolicyResult,
  RefreshRequest,
  ReleaseRequest,
  ReleaseResult,
  RenewPlaceRequest,
  RenewRequest,
  RenewResult,
  SetPolicyRequest,
} from "../core/store.ts";

/** In-memory fake of the store; trustworthy only while it passes tests/store/contract_test.ts. */
export class MemoryStore implements LockStore {
  #guards = new Map<string, Guard>();
  #records = new Map<string, LockRecord>();
  /** Tokens of the writes that succeeded, with their parameters, as DynamoDB keeps them. */
  #tokens = new Map<string, string>();
  /** The envs granted with `envIs: "new"`, as the DynamoDB table's list item keeps them. */
  #envNames = new Set<string>();
  /** The keys claimed so far, as the DynamoDB table's claim items keep them. */
  #claims = new Set<string>();
  requests = 0;

  init(): Promise<boolean> {
    this.requests++;
    return Promise.resolve(false);
  }

  grant(req: GrantRequest): Promise<GrantResult> {
    return this.#write<GrantResult>(
      req,
      { granted: true },
      (guard) => ({ granted: false, guard }),
      () => {
        if (req.envIs === "existing" && !this.#guards.has(req.env)) return false;
        const current = this.#guards.get(req.env) ?? { env: req.env, fence: 0 };
        const supersedes = (kind: LockKind) => req.supersede.find((s) => s.kind === kind);
        const own = current[req.kind];
        const ownSup = supersedes(req.kind);
        const ownOk = ownSup ? own?.rvn === ownSup.rvn : own === undefined;
        let uberOk = true;
        if (req.kind === "regular") {
          const uber = current.uberlock;
          const uberSup = supersedes("uberlock");
          uberOk = uberSup
            ? uber?.rvn === uberSup.rvn
            : uber === undefined || sameUser(uber.user, req.record.user);
        }
        const line = current.line ?? [];
        const ownUber = current.uberlock !== undefined &&
          sameUser(current.uberlock.user, req.record.user);
        const lineOk = req.kind === "uberlock" ||
          (req.place === undefined ? line.length === 0 || ownUber : line[0]?.pid === req.place);
        const policyOk = (current.policy?.version ?? 0) === (req.policyVersion ?? 0);
        if (!ownOk || !uberOk || !lineOk || !policyOk || !(current.fence < req.record.fence)) {
          return false;
        }
        const r = req.record;
        const next: Guard = structuredClone(current);
        if (req.kind === "regular" && req.place !== undefined) next.line = line.slice(1);
        for (const sup of req.supersede) {
          delete next[sup.kind];
          this.#end(sup.id, r.createdAt, { supersededBy: r.id });
        }
        next.fence = r.fence;
        next[req.kind] = slotOf(r, req.rvn, req.owner);
        this.#guards.set(req.env, next);
        this.#records.set(r.id, structuredClone(r));
        if (req.envIs === "new") this.#envNames.add(req.env);
        return true;
      },
    );
  }

  renew(req: RenewRequest): Promise<RenewResult> {
    return this.#write<RenewResult>(
      req,
      { renewed: true },
      (guard) => ({ renewed: false, guard }),
      () => {
        const slot = this.#guards.get(req.env)?.[req.kind];
        const record = this.#records.get(req.id);
        if (!slot || slot.id !== req.id || slot.owner !== req.owner || !record?.active) {
          return false;
        }
        Object.assign(slot, { rvn: req.rvn, renewedAt: req.now });
        record.updatedAt = req.now;
        if (req.leaseMs !== undefined) record.expiresAt = req.now + req.leaseMs;
        return true;
      },
    );
  }

  refresh(req: RefreshRequest): Promise<RenewResult> {
    return this.#write<RenewResult>(
      req,
      { renewed: true },
      (guard) => ({ renewed: false, guard }),
      () => {
        const guard = this.#guards.get(req.env);
        const slot = guard?.[req.kind];
        const record = this.#records.get(req.id);
        if (!guard || slot?.rvn !== req.seenRvn || !(guard.fence < req.fence) || !record?.active) {
          return false;
        }
        Object.assign(slot, { rvn: req.rvn, renewedAt: req.now, fence: req.fence });
        guard.fence = req.fence;
        Object.assign(record, { updatedAt: req.now, fence: req.fence });
        if (req.leaseMs !== undefined) {
          slot.leaseMs = record.leaseMs = req.leaseMs;
          record.expiresAt = req.now + req.leaseMs;
        }
        if (req.meta !== undefined) slot.meta = record.meta = req.meta;
        if (req.owner !== undefined) slot.owner = req.owner;
        return true;
      },
    );
  }

  release(req: ReleaseRequest): Promise<ReleaseResult> {
    return this.#write<ReleaseResult>(
      req,
      { released: true },
      (guard) => ({ released: false, guard }),
      () => {
        const guard = this.#guards.get(req.env);
        if (!guard || !req.targets.every((t) => guard[t.kind]?.id === t.id)) return false;
        for (const t of req.targets) {
          delete guard[t.kind];
          this.#end(t.id, req.now, {
            releasedAt: req.now,
            releasedBy: req.by,
            ...(req.forced ? { forced: true } : {}),
          });
        }
        return true;
      },
    );
  }

  join(req: JoinRequest): Promise<LineResult> {
    this.requests++;
    const guard = this.#guards.get(req.env);
    const line = guard?.line ?? [];
    if (!guard || line.some((p) => p.pid === req.place.pid)) {
      return ok({ ok: false, guard: this.#current(req.env) });
    }
    guard.line = [...line, structuredClone(req.place)];
    return ok({ ok: true, guard: this.#current(req.env) });
  }

  renewPlace(req: RenewPlaceRequest): Promise<LineResult> {
    this.requests++;
    const place = this.#guards.get(req.env)?.line?.[req.index];
    if (place?.pid !== req.pid) return ok({ ok: false, guard: this.#current(req.env) });
    Object.assign(place, { rvn: req.rvn, renewedAt: req.now });
    return ok({ ok: true, guard: this.#current(req.env) });
  }

  leave(req: LeaveRequest): Promise<LineResult> {
    this.requests++;
    const guard = this.#guards.get(req.env);
    const line = guard?.line ?? [];
    const found = req.places.every(({ pid, index, rvn }) =>
      line[index]?.pid === pid && (rvn === undefined || line[index].rvn === rvn)
    );
    if (!guard || !found) return ok({ ok: false, guard: this.#current(req.env) });
    const gone = new Set(req.places.map((p) => p.index));
    guard.line = line.filter((_, i) => !gone.has(i));
    return ok({ ok: true, guard: this.#current(req.env) });
  }

  setPolicy(req: SetPolicyRequest): Promise<PolicyResult> {
    return this.#write<PolicyResult>(
      req,
      { ok: true },
      (guard) => ({ ok: false, guard }),
      () => {
        const guard = this.#guards.get(req.env) ?? { env: req.env, fence: 0 };
        if ((guard.policy?.version ?? 0) !== req.seenVersion) return false;
        guard.policy = structuredClone({
          version: req.seenVersion + 1,
          rules: req.rules,
          freezes: req.freezes,
        });
        this.#guards.set(req.env, guard);
        this.#envNames.add(req.env);
        return true;
      },
    );
  }

  guard(env: string): Promise<Guard | null> {
    this.requests++;
    return ok(this.#current(env));
  }

  guards(envs: string[]): Promise<Guard[]> {
    this.requests++;
    return ok(envs.flatMap((env) => this.#current(env) ?? []));
  }

  record(id: string): Promise<LockRecord | null> {
    this.requests++;
    const record = this.#records.get(id);
    return ok(record ? structuredClone(record) : null);
  }

  active(env?: string): Promise<LockRecord[]> {
    this.requests++;
    const all = [...this.#records.values()].filter((r) =>
      r.active && (env === undefined || r.env === env)
    );
    return ok(structuredClone(all));
  }

  history(env: string, limit: number): Promise<LockRecord[]> {
    this.requests++;
    const all = [...this.#records.values()].filter((r) => r.env === env);
    return ok(structuredClone(all.sort((a, b) => b.createdAt - a.createdAt).slice(0, limit)));
  }

  envs(): Promise<string[]> {
    this.requests++;
    const names = new Set(this.#envNames);
    for (const r of this.#records.values()) if (r.active) names.add(r.env);
    return ok([...names].sort());
  }

  claim(key: string, _now: number): Promise<boolean> {
    this.requests++;
    if (this.#claims.has(key)) return ok(false);
    this.#claims.add(key);
    return ok(true);
  }

  /** Nothing to reach or configure: one check that says so. */
  async *diagnose(): AsyncIterable<Check> {
    yield { name: "store", status: "ok", detail: "in memory (a test double): nothing to check" };
  }

  close(): void {}

  /** Ends a lock record (released, or superseded), with `fields` saying how it ended. */
  #end(id: string, now: number, fields: Partial<LockRecord>): void {
    const record = this.#records.get(id);
    if (record) Object.assign(record, { active: false, updatedAt: now, ...fields });
  }

  /** The guard as a failed condition returns it. */
  #current(env: string): Guard | null {
    const guard = this.#guards.get(env);
    return guard ? structuredClone(guard) : null;
  }

  /**
   * One conditional write, as DynamoDB applies a transaction: `apply` changes the state and says
   * true, or says false (changing nothing) when its condition fails. A token of a write that
   * succeeded answers the same request again as done, without a change, and refuses other
   * parameters under it.
   */
  #write<T>(
    req: { env: string; token: string },
    done: T,
    failed: (guard: Guard | null) => T,
    apply: () => boolean,
  ): Promise<T> {
    this.requests++;
    const seen = this.#tokens.get(req.token);
    if (seen !== undefined && seen !== params(req)) {
      return Promise.reject(
        new FailureError(
          "DynamoDB TransactWriteItems failed: IdempotentParameterMismatchException: the token was used with other parameters",
        ),
      );
    }
    if (seen === undefined && !apply()) return ok(failed(this.#current(req.env)));
    this.#tokens.set(req.token, params(req));
    return ok(done);
  }
}

function params(req: { token: string }): string {
  const { token: _, ...rest } = req;
  return JSON.stringify(rest);
}

function ok<T>(value: T): Promise<T> {
  return Promise.resolve(value);
}
