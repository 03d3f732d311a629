/**
 * The storage port: what the core needs from a backend, owned by the core. Adapters in
 * src/store/ implement it; tests/store/contract_test.ts holds each of them to it.
 */
import type { Freeze, Guard, LockKind, LockRecord, Place, Rules } from "./model.ts";

/**
 * Where the lock table is and how to reach it, after flags and environment are merged: the
 * settings of the DynamoDB backend (src/store/open.ts opens it). A second backend would add
 * its own settings type here, with a field that tells them apart.
 */
export interface StoreConfig {
  table: string;
  /** Unset: the SDK's own chain (the profile's region). */
  region?: string;
  endpoint?: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Per-attempt timeouts; an unreachable endpoint gives up within about 3 attempts of these. */
  connectTimeoutMs?: number;
  /** Tighter limits for callers with a deadline (Slack answers within 3 s). */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

/** A slot that the grant ends because its lease ran out (checked by record version). */
export interface Supersede {
  kind: LockKind;
  id: string;
  rvn: string;
}

export interface GrantRequest {
  env: string;
  kind: LockKind;
  /** The new record, `active: true`, with its proposed fence. */
  record: LockRecord;
  rvn: string;
  /** The process token that will keep the lock alive (`run`); absent for a plain lock. */
  owner?: string;
  supersede: Supersede[];
  /**
   * "existing": the grant fails (guard null) when the env has no guard item yet, so that the
   * core decides about a first lock on an env (a typo of a known one?). "new": the env goes
   * into the table's list of envs too. Absent: neither.
   */
  envIs?: "existing" | "new";
  /**
   * A regular grant is applied only while the env's line is empty or, when `place` is given,
   * starts with that place, which the grant then removes. Uberlocks ignore the line, and so
   * does a regular grant without `place` to the user holding the uberlock (everyone in line
   * waits for that uberlock).
   */
  place?: string;
  /**
   * The version of the env's policy the grant was decided on (absent or 0: the env has none):
   * the grant is applied only while the policy still has it, so that a freeze window or a rule
   * added a moment before is never missed.
   */
  policyVersion?: number;
  /** Idempotency token: the same logical attempt retried must carry the same token. */
  token: string;
}

export type GrantResult =
  | { granted: true }
  /** The condition failed: `guard` is the state that made it fail (null: no guard yet). */
  | { granted: false; guard: Guard | null };

/** A keeper's heartbeat: moves the record version on while `id` holds the slot for `owner`. */
export interface RenewRequest {
  env: string;
  kind: LockKind;
  id: string;
  /** The keeping process; absent: only while no process keeps the slot. */
  owner?: string;
  rvn: string;
  now: number;
  /** The held lease, to keep the record's `expiresAt` current. */
  leaseMs?: number;
  token: string;
}

export type RenewResult = { renewed: true } | { renewed: false; guard: Guard | null };

/**
 * A re-lock by the holder (or a `run` adopting the user's plain lock): same record, a new
 * record version and a new fence, applied only while the slot still has the record version
 * the caller decided on.
 */
export interface RefreshRequest {
  env: string;
  kind: LockKind;
  id: string;
  /** The slot's record version the decision was made on. */
  seenRvn: string;
  rvn: string;
  now: number;
  /** Greater than the guard's fence: a refreshed lock is a new grant for fencing. */
  fence: number;
  /** The lease after the refresh (never shorter than before; absent: lasts until released). */
  leaseMs?: number;
  /** Only when given explicitly: meta defaults apply to new locks only. */
  meta?: string;
  /** Set by a `run` that adopts the lock: from then on no other process joins it. */
  owner?: string;
  token: string;
}

export interface ReleaseTarget {
  kind: LockKind;
  id: string;
}

export interface ReleaseRequest {
  env: string;
  targets: ReleaseTarget[];
  now: number;
  by: string;
  forced: boolean;
  token: string;
}

export type ReleaseResult = { released: true } | { released: false; guard: Guard | null };

/** Takes a place at the end of the env's line; refused while `place.pid` is in it already. */
export interface JoinRequest {
  env: string;
  place: Place;
}

/** A waiter's heartbeat: a new `rvn` for its place, applied only while `line[index]` is it. */
export interface RenewPlaceRequest {
  env: string;
  pid: string;
  /** Where the waiter last saw its place. */
  index: number;
  rvn: string;
  now: number;
}

/**
 * Removes places from the line: each only while `line[index]` is that place (and, when `rvn`
 * is given, still has that record version: a lapsed place that was renewed meanwhile stays).
 * All or nothing.
 */
export interface LeaveRequest {
  env: string;
  places: { pid: string; index: number; rvn?: string }[];
}

/**
 * The outcome of a change to the line, with the guard: after the change when `ok`, as it was
 * when the condition failed otherwise (null: no guard item). Retrying a change whose answer was
 * lost is harmless: a join finds its place taken, a renewal sets the same version again, a
 * leave finds the place gone.
 */
export interface LineResult {
  ok: boolean;
  guard: Guard | null;
}

/**
 * Replaces an env's rules and freeze windows, applied only while its policy still has
 * `seenVersion` (0: never set); the new version is `seenVersion + 1`. Creates the env's guard
 * item (and puts the env in the table's list of envs) when there is none yet.
 */
export interface SetPolicyRequest {
  env: string;
  seenVersion: number;
  rules: Rules;
  freezes: Freeze[];
  /** Idempotency token: the same logical attempt retried must carry the same token. */
  token: string;
}

/** `ok`, or the guard as it was when the condition failed (null: no guard item). */
export type PolicyResult = { ok: true } | { ok: false; guard: Guard | null };

/**
 * One line of `daplaya doctor`: `ok` holds, `warn` holds with a caveat, `fail` does not hold,
 * `skip` could not be checked because an earlier check failed.
 */
export interface Check {
  name: string;
  status: "ok" | "warn" | "fail" | "skip";
  detail: string;
  /** What to do about a `fail` or `warn`. */
  fix?: string;
}

export interface DiagnoseOptions {
  /** Where the region setting came from (`--region`, `DAPLAYA_AWS_REGION`, …); unset: none. */
  regionFrom?: string;
}

/**
 * The storage port. Every method that changes state is one atomic conditional request;
 * the lock rules (who may take what, waiting, leases) live in the core, not here.
 *
 * A grant succeeds only when, atomically:
 * - the requested kind's slot is empty, or holds exactly the superseded record version;
 * - for a regular lock, the uberlock slot is empty, held by the same user (compared
 *   case-insensitively), or superseded;
 * - the proposed fence is greater than the guard's fence;
 * - for a regular lock, the env's line is empty or starts with the request's place;
 * - the env's policy has the version the grant was decided on.
 *
 * Changes to the line (join, renew a place, leave) are single conditional writes on the guard
 * that return it, so a waiter needs one request per interval.
 */
export interface LockStore {
  /** Creates the table and indexes if missing; returns false when it already existed. */
  init(): Promise<boolean>;
  grant(req: GrantRequest): Promise<GrantResult>;
  /** A keeper's heartbeat: succeeds only while `id` still holds the slot for its owner. */
  renew(req: RenewRequest): Promise<RenewResult>;
  /** A re-lock: succeeds only while the slot still has `seenRvn` and the fence is higher. */
  refresh(req: RefreshRequest): Promise<RenewResult>;
  /** Ends the targets: succeeds only while each target still holds its slot. */
  release(req: ReleaseRequest): Promise<ReleaseResult>;
  join(req: JoinRequest): Promise<LineResult>;
  renewPlace(req: RenewPlaceRequest): Promise<LineResult>;
  leave(req: LeaveRequest): Promise<LineResult>;
  setPolicy(req: SetPolicyRequest): Promise<PolicyResult>;
  /** Strongly consistent read of an env's guard. */
  guard(env: string): Promise<Guard | null>;
  /** Strongly consistent reads of several envs' guards; envs without one are left out. */
  guards(envs: string[]): Promise<Guard[]>;
  record(id: string): Promise<LockRecord | null>;
  /** Active lock records, optionally of one env. Reads no history. */
  active(env?: string): Promise<LockRecord[]>;
  /** Records of one env, newest first. */
  history(env: string, limit: number): Promise<LockRecord[]>;
  /** Envs granted with `envIs: "new"`, and those with an active lock, sorted. */
  envs(): Promise<string[]>;
  /**
   * Claims `key` for the whole table, once: true for the one caller whose claim was written
   * first (also when its own request was retried after a lost answer), false for every other
   * claim of that key, from any process. One conditional write of an item that has none of the
   * lock attributes, so it never shows as a lock or in the indexes. `serve` claims each Slack
   * post this way, so that replicas and restarts post it once.
   */
  claim(key: string, now: number): Promise<boolean>;
  /**
   * Checks, without changing anything, what the lock needs from the backend: for DynamoDB the
   * credentials, region, endpoint, the table's shape, the permissions and the host's clock.
   * Yields each check as it completes; a check whose prerequisite failed is `skip`.
   */
  diagnose(options?: DiagnoseOptions): AsyncIterable<Check>;
  /** Number of requests sent to the backend (for tests and the benchmark). */
  readonly requests: number;
  close(): void;
}
