import { type Guard, type LockKind, type LockRecord, slotOf } from "../core/model.ts";
import type {
  GrantRequest,
  GrantResult,
  LockStore,
  ReleaseRequest,
  ReleaseResult,
  RenewRequest,
  RenewResult,
} from "./port.ts";

/** In-memory fake of the store; trustworthy only while it passes tests/store/contract_test.ts. */
export class MemoryStore implements LockStore {
  #guards = new Map<string, Guard>();
  #records = new Map<string, LockRecord>();
  #tokens = new Set<string>();
  requests = 0;

  init(): Promise<boolean> {
    this.requests++;
    return Promise.resolve(false);
  }

  grant(req: GrantRequest): Promise<GrantResult> {
    this.requests++;
    const guard = this.#guards.get(req.env);
    if (this.#tokens.has(req.token)) return ok({ granted: true });
    const current = guard ?? { env: req.env, fence: 0 };
    const supersedes = (kind: LockKind) => req.supersede.find((s) => s.kind === kind);
    const own = current[req.kind];
    const ownSup = supersedes(req.kind);
    const ownOk = ownSup ? own?.rvn === ownSup.rvn : own === undefined;
    let uberOk = true;
    const uberSup = req.kind === "regular" ? supersedes("uberlock") : undefined;
    if (req.kind === "regular") {
      const uber = current.uberlock;
      uberOk = uberSup
        ? uber?.rvn === uberSup.rvn
        : uber === undefined || uber.user === req.record.user;
    }
    if (!ownOk || !uberOk || !(current.fence < req.record.fence)) {
      return ok({ granted: false, guard: guard ? structuredClone(guard) : null });
    }
    const r = req.record;
    const next: Guard = structuredClone(current);
    for (const sup of req.supersede) {
      delete next[sup.kind];
      const old = this.#records.get(sup.id);
      if (old) {
        Object.assign(old, { active: false, updatedAt: r.createdAt, supersededBy: r.id });
      }
    }
    next.fence = r.fence;
    next[req.kind] = slotOf(r, req.rvn);
    this.#guards.set(req.env, next);
    this.#records.set(r.id, structuredClone(r));
    this.#tokens.add(req.token);
    return ok({ granted: true });
  }

  renew(req: RenewRequest): Promise<RenewResult> {
    this.requests++;
    if (this.#tokens.has(req.token)) return ok({ renewed: true });
    const guard = this.#guards.get(req.env);
    const slot = guard?.[req.kind];
    const record = this.#records.get(req.id);
    if (!slot || slot.id !== req.id || !record?.active) {
      return ok({ renewed: false, guard: guard ? structuredClone(guard) : null });
    }
    slot.rvn = req.rvn;
    slot.renewedAt = req.now;
    record.updatedAt = req.now;
    if (req.leaseMs !== undefined) {
      slot.leaseMs = record.leaseMs = req.leaseMs;
      record.expiresAt = req.now + req.leaseMs;
    }
    if (req.meta !== undefined) slot.meta = record.meta = req.meta;
    this.#tokens.add(req.token);
    return ok({ renewed: true });
  }

  release(req: ReleaseRequest): Promise<ReleaseResult> {
    this.requests++;
    if (this.#tokens.has(req.token)) return ok({ released: true });
    const guard = this.#guards.get(req.env);
    const holds = req.targets.every((t) => guard?.[t.kind]?.id === t.id);
    if (!guard || !holds) {
      return ok({ released: false, guard: guard ? structuredClone(guard) : null });
    }
    for (const t of req.targets) {
      delete guard[t.kind];
      const record = this.#records.get(t.id)!;
      Object.assign(record, {
        active: false,
        updatedAt: req.now,
        releasedAt: req.now,
        releasedBy: req.by,
        ...(req.forced ? { forced: true } : {}),
      });
    }
    this.#tokens.add(req.token);
    return ok({ released: true });
  }

  guard(env: string): Promise<Guard | null> {
    this.requests++;
    const guard = this.#guards.get(env);
    return ok(guard ? structuredClone(guard) : null);
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

  close(): void {}
}

function ok<T>(value: T): Promise<T> {
  return Promise.resolve(value);
}
