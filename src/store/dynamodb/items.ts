/**
 * The table's shape and the mapping between its items and the core's records: the eight seed
 * attributes keep their names and types; an env's guard item is `guard#<ENV>`.
 */
import type { AttributeValue, CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import type { Freeze, Guard, LockRecord, Place, Policy, Rules, Slot } from "../../core/model.ts";

/** History of one env, newest first: `env` + `createdAt`. Guard items have no `env`. */
export const HISTORY_INDEX = "env-createdAt";
/** Sparse: only active lock records carry `activeEnv`, so reading it never reads history. */
export const ACTIVE_INDEX = "activeEnv-createdAt";

const GUARD_PREFIX = "guard#";

/** The table as `init` creates it, and as `doctor` expects to find it. */
export function tableDefinition(table: string) {
  return {
    TableName: table,
    BillingMode: "PAY_PER_REQUEST",
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    AttributeDefinitions: [
      { AttributeName: "id", AttributeType: "S" },
      { AttributeName: "env", AttributeType: "S" },
      { AttributeName: "activeEnv", AttributeType: "S" },
      { AttributeName: "createdAt", AttributeType: "N" },
    ],
    GlobalSecondaryIndexes: [HISTORY_INDEX, ACTIVE_INDEX].map((name) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: name.split("-")[0], KeyType: "HASH" },
        { AttributeName: "createdAt", KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    })),
  } satisfies CreateTableCommandInput;
}

export type Item = Record<string, AttributeValue>;

export const s = (v: string): AttributeValue => ({ S: v });
export const n = (v: number): AttributeValue => ({ N: String(v) });

/**
 * The envs ever created by a grant (`envNames`, a string set), for telling a new env from a
 * typo. Like guard items it has no `env` or `activeEnv`, so no index holds it.
 */
export const ENV_LIST_KEY: Item = { id: { S: "envs#list" } };

/** Claim items (`claim#<key>`, see `claimItem`) are deleted by a TTL on this attribute, if enabled. */
export const CLAIM_TTL_ATTRIBUTE = "ttl";
/** How long a claim item is kept: far longer than any event it stands for is posted. */
const CLAIM_KEEP_S = 30 * 86_400;

/**
 * The item that claims `key` (one Slack post by `serve`): `claimer` is a random token of the
 * request, so that the SDK's retry of a claim whose answer was lost is the same claim. Like
 * guard items it has no `env` or `activeEnv`, so no index holds it; `ttl` (epoch seconds) lets
 * DynamoDB delete it once TTL is enabled on the table.
 */
export function claimItem(key: string, now: number, claimer: string): Item {
  return {
    id: s(`claim#${key}`),
    itemType: s("claim"),
    claimedAt: n(now),
    claimer: s(claimer),
    [CLAIM_TTL_ATTRIBUTE]: n(Math.floor(now / 1000) + CLAIM_KEEP_S),
  };
}

export function guardKey(env: string): Item {
  return { id: s(GUARD_PREFIX + env) };
}

export function recordItem(r: LockRecord): Item {
  const item: Item = {
    id: s(r.id),
    user: s(r.user),
    env: s(r.env),
    createdAt: n(r.createdAt),
    updatedAt: n(r.updatedAt),
    active: { BOOL: r.active },
    uberlock: { BOOL: r.uberlock },
    meta: s(r.meta),
    fence: n(r.fence),
  };
  if (r.leaseMs !== undefined) item.leaseMs = n(r.leaseMs);
  if (r.expiresAt !== undefined) item.expiresAt = n(r.expiresAt);
  if (r.overrodeFreeze !== undefined) item.overrodeFreeze = s(r.overrodeFreeze);
  return item;
}

export function slotItem(slot: Slot): Item {
  const item: Item = {
    id: s(slot.id),
    user: s(slot.user),
    meta: s(slot.meta),
    createdAt: n(slot.createdAt),
    renewedAt: n(slot.renewedAt),
    rvn: s(slot.rvn),
    fence: n(slot.fence),
    userKey: s(slot.user.toLowerCase()),
  };
  if (slot.leaseMs !== undefined) item.leaseMs = n(slot.leaseMs);
  if (slot.owner !== undefined) item.owner = s(slot.owner);
  return item;
}

/** A place in an env's line (`line`, a list in the guard; `linePids` holds the same pids). */
export function placeItem(p: Place): Item {
  return {
    pid: s(p.pid),
    user: s(p.user),
    meta: s(p.meta),
    since: n(p.since),
    renewedAt: n(p.renewedAt),
    rvn: s(p.rvn),
    leaseMs: n(p.leaseMs),
  };
}

/**
 * An env's rules and freeze windows (`policy`, a map in its guard item); the version the grants
 * are conditioned on is the guard's top-level `policyVersion`.
 */
export function policyItem(rules: Rules, freezes: Freeze[]): Item {
  const r: Item = {};
  if (rules.requireMeta) r.requireMeta = { BOOL: true };
  if (rules.maxTtlMs !== undefined) r.maxTtlMs = n(rules.maxTtlMs);
  if (rules.defaultTtlMs !== undefined) r.defaultTtlMs = n(rules.defaultTtlMs);
  return {
    rules: { M: r },
    freezes: {
      L: freezes.map((f) => ({
        M: {
          id: s(f.id),
          reason: s(f.reason),
          tz: s(f.tz),
          addedBy: s(f.addedBy),
          addedAt: n(f.addedAt),
          ...("weekly" in f.schedule
            ? { weekly: s(f.schedule.weekly) }
            : { from: n(f.schedule.from), until: n(f.schedule.until) }),
        },
      })),
    },
  };
}

const str = (v: AttributeValue | undefined): string | undefined => v?.S;
const num = (v: AttributeValue | undefined): number | undefined =>
  v?.N === undefined ? undefined : Number(v.N);

/** Reads a lock record; items edited by hand into odd shapes are read as far as they go. */
export function parseRecord(item: Item): LockRecord | null {
  const id = str(item.id);
  const env = str(item.env);
  if (!id || !env || id.startsWith(GUARD_PREFIX)) return null;
  const record: LockRecord = {
    id,
    user: str(item.user) ?? "",
    env,
    createdAt: num(item.createdAt) ?? 0,
    updatedAt: num(item.updatedAt) ?? num(item.createdAt) ?? 0,
    active: item.active?.BOOL ?? false,
    uberlock: item.uberlock?.BOOL ?? false,
    meta: str(item.meta) ?? "",
    fence: num(item.fence) ?? 0,
  };
  for (const key of ["leaseMs", "expiresAt", "releasedAt"] as const) {
    const v = num(item[key]);
    if (v !== undefined) record[key] = v;
  }
  const releasedBy = str(item.releasedBy);
  if (releasedBy !== undefined) record.releasedBy = releasedBy;
  if (item.forced?.BOOL) record.forced = true;
  const supersededBy = str(item.supersededBy);
  if (supersededBy !== undefined) record.supersededBy = supersededBy;
  const overrodeFreeze = str(item.overrodeFreeze);
  if (overrodeFreeze !== undefined) record.overrodeFreeze = overrodeFreeze;
  return record;
}

function parseSlot(v: AttributeValue | undefined): Slot | undefined {
  const m = v?.M;
  const id = str(m?.id);
  const rvn = str(m?.rvn);
  if (!m || !id || !rvn) return undefined;
  const slot: Slot = {
    id,
    user: str(m.user) ?? "",
    meta: str(m.meta) ?? "",
    createdAt: num(m.createdAt) ?? 0,
    renewedAt: num(m.renewedAt) ?? 0,
    rvn,
    fence: num(m.fence) ?? 0,
  };
  const leaseMs = num(m.leaseMs);
  if (leaseMs !== undefined) slot.leaseMs = leaseMs;
  const owner = str(m.owner);
  if (owner !== undefined) slot.owner = owner;
  return slot;
}

function parsePlace(v: AttributeValue): Place[] {
  const m = v.M;
  const pid = str(m?.pid);
  const rvn = str(m?.rvn);
  if (!m || !pid || !rvn) return [];
  return [{
    pid,
    user: str(m.user) ?? "",
    meta: str(m.meta) ?? "",
    since: num(m.since) ?? 0,
    renewedAt: num(m.renewedAt) ?? 0,
    rvn,
    leaseMs: num(m.leaseMs) ?? 0,
  }];
}

export function parseGuard(item: Item): Guard {
  const guard: Guard = {
    env: str(item.guardEnv) ?? str(item.id)!.slice(GUARD_PREFIX.length),
    fence: num(item.fence) ?? 0,
  };
  const regular = parseSlot(item.regular);
  const uberlock = parseSlot(item.uberlock);
  if (regular) guard.regular = regular;
  if (uberlock) guard.uberlock = uberlock;
  // Places keep their index: a place edited into another shape still takes up its position.
  const line = (item.line?.L ?? []).map((v) =>
    parsePlace(v)[0] ?? { pid: "", user: "", meta: "", since: 0, renewedAt: 0, rvn: "", leaseMs: 0 }
  );
  if (line.length > 0) guard.line = line;
  const version = num(item.policyVersion);
  if (version !== undefined) guard.policy = parsePolicy(version, item.policy?.M ?? {});
  return guard;
}

function parsePolicy(version: number, m: Item): Policy {
  const r = m.rules?.M ?? {};
  const rules: Rules = {};
  if (r.requireMeta?.BOOL) rules.requireMeta = true;
  const maxTtlMs = num(r.maxTtlMs);
  if (maxTtlMs !== undefined) rules.maxTtlMs = maxTtlMs;
  const defaultTtlMs = num(r.defaultTtlMs);
  if (defaultTtlMs !== undefined) rules.defaultTtlMs = defaultTtlMs;
  const freezes = (m.freezes?.L ?? []).flatMap((v): Freeze[] => {
    const f = v.M ?? {};
    const id = str(f.id);
    const weekly = str(f.weekly);
    const from = num(f.from);
    const until = num(f.until);
    // A window edited into a shape without a schedule cannot be judged: it is left out.
    if (!id || (weekly === undefined && (from === undefined || until === undefined))) return [];
    return [{
      id,
      reason: str(f.reason) ?? "",
      tz: str(f.tz) ?? "UTC",
      schedule: weekly !== undefined ? { weekly } : { from: from!, until: until! },
      addedBy: str(f.addedBy) ?? "",
      addedAt: num(f.addedAt) ?? 0,
    }];
  });
  return { version, rules, freezes };
}
