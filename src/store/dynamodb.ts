import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { FailureError, UnavailableError } from "../core/errors.ts";
import { type Guard, type LockKind, type LockRecord, type Slot, slotOf } from "../core/model.ts";
import type {
  GrantRequest,
  GrantResult,
  LockStore,
  RefreshRequest,
  ReleaseRequest,
  ReleaseResult,
  RenewRequest,
  RenewResult,
} from "./port.ts";

/** History of one env, newest first: `env` + `createdAt`. Guard items have no `env`. */
const HISTORY_INDEX = "env-createdAt";
/** Sparse: only active lock records carry `activeEnv`, so reading it never reads history. */
const ACTIVE_INDEX = "activeEnv-createdAt";

const GUARD_PREFIX = "guard#";

export interface DynamoStoreOptions {
  table: string;
  /** Unset: the SDK's own chain (the profile's region). */
  region?: string;
  endpoint?: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Per-attempt timeouts; an unreachable endpoint gives up within about 3 attempts of these. */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  /** One line per SDK warning (the SDK's own are several lines long). */
  onWarning?: (line: string) => void;
}

type Item = Record<string, AttributeValue>;

export class DynamoStore implements LockStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  /** Unset until the SDK has found it in the profile (looked up when an error needs it). */
  #region: string | undefined;
  readonly #endpoint: string | undefined;
  requests = 0;

  constructor(o: DynamoStoreOptions) {
    this.#table = o.table;
    this.#region = o.region;
    this.#endpoint = o.endpoint;
    const config: DynamoDBClientConfig = {
      maxAttempts: o.maxAttempts ?? 4,
      requestHandler: {
        connectionTimeout: o.connectTimeoutMs ?? 3000,
        requestTimeout: o.requestTimeoutMs ?? 5000,
        // Without this the handler only logs a warning and a hung server hangs us forever.
        throwOnRequestTimeout: true,
      },
    };
    if (o.region) config.region = o.region;
    if (o.endpoint) config.endpoint = o.endpoint;
    if (o.profile) config.profile = o.profile;
    if (o.credentials) config.credentials = o.credentials;
    if (o.onWarning) config.logger = sdkLogger(o.onWarning);
    this.#client = new DynamoDBClient(config);
    // Count every HTTP attempt, retries included: the benchmark and tests check request counts.
    this.#client.middlewareStack.add((next) => (args) => {
      this.requests++;
      return next(args);
    }, { step: "finalizeRequest", priority: "low", name: "daplayaRequestCounter" });
  }

  async init(): Promise<boolean> {
    try {
      await this.#send("CreateTable", () =>
        this.#client.send(
          new CreateTableCommand({
            TableName: this.#table,
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
          }),
        ), "ResourceInUseException");
    } catch (e) {
      if ((e as Error).name !== "ResourceInUseException") throw e;
      await this.#checkSchema();
      await this.#waitActive();
      return false;
    }
    await this.#waitActive();
    return true;
  }

  async grant(req: GrantRequest): Promise<GrantResult> {
    const r = req.record;
    const names: Record<string, string> = { "#own": req.kind };
    const values: Item = {
      ":slot": { M: slotItem(slotOf(r, req.rvn, req.owner)) },
      ":fence": n(r.fence),
      ":env": s(req.env),
      ":type": s("guard"),
    };
    const conditions: string[] = ["(attribute_not_exists(fence) OR fence < :fence)"];
    const removes: string[] = [];
    const superseded = (kind: LockKind) => req.supersede.find((x) => x.kind === kind);
    const ownSup = superseded(req.kind);
    if (ownSup) {
      conditions.push("#own.rvn = :ownRvn");
      values[":ownRvn"] = s(ownSup.rvn);
    } else {
      conditions.push("attribute_not_exists(#own)");
    }
    if (req.kind === "regular") {
      names["#uber"] = "uberlock";
      const uberSup = superseded("uberlock");
      if (uberSup) {
        conditions.push("#uber.rvn = :uberRvn");
        values[":uberRvn"] = s(uberSup.rvn);
        removes.push("#uber");
      } else {
        // Users compare case-insensitively: slots carry the lower-cased user as `userKey`.
        conditions.push(
          "(attribute_not_exists(#uber) OR #uber.userKey = :userKey OR #uber.#user = :user)",
        );
        names["#user"] = "user";
        values[":user"] = s(r.user);
        values[":userKey"] = s(r.user.toLowerCase());
      }
    }
    const items: TransactWriteItem[] = [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          UpdateExpression: `SET #own = :slot, fence = :fence, guardEnv = :env, itemType = :type` +
            (removes.length ? ` REMOVE ${removes.join(", ")}` : ""),
          ConditionExpression: conditions.join(" AND "),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
      {
        Put: {
          TableName: this.#table,
          Item: { ...recordItem(r), activeEnv: s(r.env) },
          ConditionExpression: "attribute_not_exists(id)",
        },
      },
      ...req.supersede.map((sup) => ({
        Update: {
          TableName: this.#table,
          Key: { id: s(sup.id) },
          UpdateExpression:
            "SET active = :false, updatedAt = :now, supersededBy = :by REMOVE activeEnv",
          ExpressionAttributeValues: {
            ":false": { BOOL: false },
            ":now": n(r.createdAt),
            ":by": s(r.id),
          },
        },
      })),
    ];
    const failed = await this.#transact("grant", items, req.token);
    return failed === undefined ? { granted: true } : { granted: false, guard: failed };
  }

  async renew(req: RenewRequest): Promise<RenewResult> {
    const guardValues: Item = { ":rvn": s(req.rvn), ":now": n(req.now), ":id": s(req.id) };
    let owner = "attribute_not_exists(#k.#owner)";
    if (req.owner !== undefined) {
      owner = "#k.#owner = :owner";
      guardValues[":owner"] = s(req.owner);
    }
    const recordValues: Item = { ":now": n(req.now), ":true": { BOOL: true } };
    const recordSets = ["updatedAt = :now"];
    if (req.leaseMs !== undefined) {
      recordSets.push("expiresAt = :exp");
      recordValues[":exp"] = n(req.now + req.leaseMs);
    }
    const failed = await this.#transact("renew", [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          UpdateExpression: "SET #k.rvn = :rvn, #k.renewedAt = :now",
          ConditionExpression: `#k.id = :id AND ${owner}`,
          ExpressionAttributeNames: { "#k": req.kind, "#owner": "owner" },
          ExpressionAttributeValues: guardValues,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
      recordUpdate(this.#table, req.id, recordSets, recordValues),
    ], req.token);
    return failed === undefined ? { renewed: true } : { renewed: false, guard: failed };
  }

  async refresh(req: RefreshRequest): Promise<RenewResult> {
    const guardSets = [
      "#k.rvn = :rvn",
      "#k.renewedAt = :now",
      "#k.fence = :fence",
      "fence = :fence",
    ];
    const recordSets = ["updatedAt = :now", "fence = :fence"];
    const guardValues: Item = {
      ":rvn": s(req.rvn),
      ":seen": s(req.seenRvn),
      ":now": n(req.now),
      ":fence": n(req.fence),
    };
    const recordValues: Item = {
      ":now": n(req.now),
      ":fence": n(req.fence),
      ":true": { BOOL: true },
    };
    if (req.leaseMs !== undefined) {
      guardSets.push("#k.leaseMs = :lease");
      guardValues[":lease"] = n(req.leaseMs);
      recordSets.push("leaseMs = :lease", "expiresAt = :exp");
      recordValues[":lease"] = n(req.leaseMs);
      recordValues[":exp"] = n(req.now + req.leaseMs);
    }
    if (req.meta !== undefined) {
      guardSets.push("#k.meta = :meta");
      recordSets.push("meta = :meta");
      guardValues[":meta"] = recordValues[":meta"] = s(req.meta);
    }
    if (req.owner !== undefined) {
      guardSets.push("#k.#owner = :owner");
      guardValues[":owner"] = s(req.owner);
    }
    const failed = await this.#transact("refresh", [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          UpdateExpression: `SET ${guardSets.join(", ")}`,
          ConditionExpression: "#k.rvn = :seen AND fence < :fence",
          ExpressionAttributeNames: {
            "#k": req.kind,
            ...(req.owner !== undefined ? { "#owner": "owner" } : {}),
          },
          ExpressionAttributeValues: guardValues,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
      recordUpdate(this.#table, req.id, recordSets, recordValues),
    ], req.token);
    return failed === undefined ? { renewed: true } : { renewed: false, guard: failed };
  }

  async release(req: ReleaseRequest): Promise<ReleaseResult> {
    const names: Record<string, string> = {};
    const values: Item = {};
    const conditions = req.targets.map((t, i) => {
      names[`#k${i}`] = t.kind;
      values[`:id${i}`] = s(t.id);
      return `#k${i}.id = :id${i}`;
    });
    const recordValues: Item = {
      ":false": { BOOL: false },
      ":now": n(req.now),
      ":by": s(req.by),
      ...(req.forced ? { ":forced": { BOOL: true } } : {}),
    };
    const failed = await this.#transact("release", [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          UpdateExpression: `REMOVE ${Object.keys(names).join(", ")}`,
          ConditionExpression: conditions.join(" AND "),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
      ...req.targets.map((t) => ({
        Update: {
          TableName: this.#table,
          Key: { id: s(t.id) },
          UpdateExpression:
            "SET active = :false, updatedAt = :now, releasedAt = :now, releasedBy = :by" +
            (req.forced ? ", forced = :forced" : "") + " REMOVE activeEnv",
          ExpressionAttributeValues: recordValues,
        },
      })),
    ], req.token);
    return failed === undefined ? { released: true } : { released: false, guard: failed };
  }

  async guard(env: string): Promise<Guard | null> {
    const out = await this.#send(
      "GetItem",
      () =>
        this.#client.send(
          new GetItemCommand({ TableName: this.#table, Key: guardKey(env), ConsistentRead: true }),
        ),
    );
    return out.Item ? parseGuard(out.Item) : null;
  }

  async record(id: string): Promise<LockRecord | null> {
    const out = await this.#send(
      "GetItem",
      () =>
        this.#client.send(
          new GetItemCommand({ TableName: this.#table, Key: { id: s(id) }, ConsistentRead: true }),
        ),
    );
    return out.Item ? parseRecord(out.Item) : null;
  }

  async active(env?: string): Promise<LockRecord[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = env === undefined
        ? await this.#send(
          "Scan",
          () =>
            this.#client.send(
              new ScanCommand({
                TableName: this.#table,
                IndexName: ACTIVE_INDEX,
                ExclusiveStartKey: start,
              }),
            ),
        )
        : await this.#query({
          IndexName: ACTIVE_INDEX,
          KeyConditionExpression: "activeEnv = :e",
          ExpressionAttributeValues: { ":e": s(env) },
          ExclusiveStartKey: start,
        });
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items.flatMap((i) => parseRecord(i) ?? []);
  }

  async history(env: string, limit: number): Promise<LockRecord[]> {
    // A page stops at 1 MB, so long records need several pages to reach the limit.
    const records: LockRecord[] = [];
    let start: Item | undefined;
    do {
      const page = await this.#query({
        IndexName: HISTORY_INDEX,
        KeyConditionExpression: "env = :e",
        ExpressionAttributeValues: { ":e": s(env) },
        ScanIndexForward: false,
        Limit: limit - records.length,
        ExclusiveStartKey: start,
      });
      records.push(...(page.Items ?? []).flatMap((i) => parseRecord(i) ?? []));
      start = page.LastEvaluatedKey;
    } while (start && records.length < limit);
    return records;
  }

  close(): void {
    this.#client.destroy();
  }

  #query(input: Omit<QueryCommandInput, "TableName">) {
    return this.#send(
      "Query",
      () => this.#client.send(new QueryCommand({ TableName: this.#table, ...input })),
    );
  }

  /**
   * One TransactWriteItems whose first item is the guard. Returns undefined on success, the
   * guard that failed the condition otherwise. The token makes a retry of an attempt that did
   * succeed (lost answer) succeed again instead of failing its condition. Transaction
   * conflicts are retried with backoff: they never mean "held by someone".
   */
  async #transact(
    what: string,
    items: TransactWriteItem[],
    token: string,
  ): Promise<Guard | null | undefined> {
    // Whether any attempt may have reached DynamoDB and been applied: then a failure leaves
    // the outcome unknown, and the engine reads the guard back before reporting it.
    let reached = false;
    for (let attempt = 1;; attempt++) {
      const command = new TransactWriteItemsCommand({
        TransactItems: items,
        // A conflict retry is a new request: the cancelled one changed nothing.
        ClientRequestToken: attempt === 1 ? token : crypto.randomUUID(),
      });
      command.middlewareStack.add((next) => async (args) => {
        try {
          return await next(args);
        } catch (e) {
          reached ||= mayHaveApplied(e);
          throw e;
        }
      }, { step: "finalizeRequest", priority: "low", name: "daplayaOutcome" });
      try {
        await this.#send(
          "TransactWriteItems",
          () => this.#client.send(command),
          "TransactionCanceledException",
        );
        return undefined;
      } catch (e) {
        const reasons =
          (e as { CancellationReasons?: { Code?: string; Item?: Item }[] }).CancellationReasons;
        if ((e as Error).name !== "TransactionCanceledException" || !reasons) {
          const failure = this.#failure(e, "TransactWriteItems");
          if (failure instanceof UnavailableError) failure.outcomeUnknown = reached;
          throw failure;
        }
        if (reasons.some((r) => r.Code === "TransactionConflict")) {
          if (attempt >= 8) {
            const failure = new UnavailableError(
              `DynamoDB kept reporting transaction conflicts on ${what}: try again later`,
            );
            failure.outcomeUnknown = reached;
            throw failure;
          }
          await new Promise((r) => setTimeout(r, Math.random() * 50 * 2 ** attempt));
          continue;
        }
        if (reasons[0]?.Code === "ConditionalCheckFailed") {
          return reasons[0].Item ? parseGuard(reasons[0].Item) : null;
        }
        const codes = reasons.map((r) => r.Code ?? "None").join(", ");
        throw new FailureError(
          `DynamoDB cancelled the ${what} (${codes}): check the table's items`,
        );
      }
    }
  }

  /** Sends one command; errors become one-line failures, except those named in `expected`. */
  async #send<T>(action: string, call: () => Promise<T>, expected?: string): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if ((e as Error).name === expected) throw e;
      // Name the region the SDK found in the profile, not a placeholder.
      this.#region ??= await this.#client.config.region().catch(() => undefined);
      throw this.#failure(e, action);
    }
  }

  async #checkSchema(): Promise<void> {
    const out = await this.#send(
      "DescribeTable",
      () => this.#client.send(new DescribeTableCommand({ TableName: this.#table })),
    );
    const key = out.Table?.KeySchema ?? [];
    const types = Object.fromEntries(
      (out.Table?.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]),
    );
    const okKey = key.length === 1 && key[0].AttributeName === "id" && key[0].KeyType === "HASH" &&
      types.id === "S";
    const indexes = new Set(
      (out.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName),
    );
    if (!okKey || !indexes.has(HISTORY_INDEX) || !indexes.has(ACTIVE_INDEX)) {
      throw new FailureError(
        `table ${this.#table} in ${this.#where} exists but is not a daplaya table (it needs key id (S) and indexes ${HISTORY_INDEX}, ${ACTIVE_INDEX}): pick another --table`,
      );
    }
  }

  async #waitActive(): Promise<void> {
    try {
      await waitUntilTableExists({
        client: this.#client,
        maxWaitTime: 300,
        minDelay: 1,
        maxDelay: 5,
      }, {
        TableName: this.#table,
      });
    } catch (e) {
      throw this.#failure(e, "DescribeTable");
    }
  }

  get #where(): string {
    return this.#region ?? "the profile's region";
  }

  /** Turns an SDK or network error into one line that says what to do. */
  #failure(e: unknown, action: string): Error {
    if (e instanceof FailureError) return e;
    const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
    const name = err.name ?? "";
    const message = (err.message ?? String(e)).split("\n")[0];
    const table = `table ${this.#table}`;
    const failure = (text: string) => new FailureError(text, { cause: e });
    const unavailable = (text: string) => new UnavailableError(text, { cause: e });
    if (name === "ResourceNotFoundException") {
      return failure(`${table} not found in ${this.#where}: run 'daplaya init'`);
    }
    if (name === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
      return failure(
        "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use an instance/container role",
      );
    }
    if (name === "AccessDeniedException") {
      return failure(
        `access denied: dynamodb:${action} on ${table} in ${this.#where} (${message}): grant it in the IAM policy`,
      );
    }
    if (
      ["UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"]
        .includes(name)
    ) {
      return failure(
        `AWS rejected the credentials (${name}): check AWS_PROFILE or the access keys`,
      );
    }
    if (
      ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
        .includes(name)
    ) {
      return unavailable(
        `DynamoDB is throttling requests to ${table} (${name}), still after retries: try again later`,
      );
    }
    if (name === "TransactionInProgressException") {
      // The first attempt with this token is still being applied: its outcome is unknown.
      return unavailable(
        `DynamoDB was still applying an earlier attempt of this ${action} (${name}): try again later`,
      );
    }
    const status = err.$metadata?.httpStatusCode;
    if (status !== undefined && status >= 500) {
      return unavailable(
        `DynamoDB answered ${status} (${name}) on ${action}, still after retries: try again later`,
      );
    }
    const code = err.code ?? (err.cause as { code?: string } | undefined)?.code ?? name;
    if (
      /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EPIPE|ETIMEDOUT|TimeoutError|RequestTimeout|socket hang up|getaddrinfo|NetworkingError/i
        .test(`${code} ${name} ${message}`)
    ) {
      return unavailable(
        `cannot reach ${this.#endpoint ?? `DynamoDB in ${this.#where}`} (${
          code || message
        }): check --endpoint, --region and the network`,
      );
    }
    if (/region is missing/i.test(message)) {
      return failure("no AWS region: pass --region or set DAPLAYA_AWS_REGION");
    }
    return failure(`DynamoDB ${action} failed: ${name}: ${message}`);
  }
}

/**
 * Whether a failed attempt may have been applied: it reached DynamoDB and no answer came back,
 * or the answer does not say (5xx, a transaction with this token still in progress). A refused
 * connection or an unknown host never reached it; a 4xx answer says it was not applied.
 */
function mayHaveApplied(e: unknown): boolean {
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || err.name === "TransactionInProgressException";
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code ?? "";
  return !/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|did not establish a connection/i.test(
    `${code} ${err.name} ${err.message}`,
  );
}

/** The SDK logs nothing but warnings here, each as one line. */
function sdkLogger(onWarning: (line: string) => void) {
  const seen = new Set<string>();
  return {
    debug() {},
    info() {},
    error() {},
    warn(...args: unknown[]) {
      const text = args.map(String).join(" ");
      const line = /Multiple credential sources/.test(text)
        ? "AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are both set; using the profile"
        : text.split("\n").map((l) => l.trim()).find(Boolean) ?? text;
      if (!seen.has(line)) onWarning(line);
      seen.add(line);
    },
  };
}

/** Updates an active lock record (a renewal or refresh of the lock it stands for). */
function recordUpdate(
  table: string,
  id: string,
  sets: string[],
  values: Item,
): TransactWriteItem {
  return {
    Update: {
      TableName: table,
      Key: { id: s(id) },
      UpdateExpression: `SET ${sets.join(", ")}`,
      ConditionExpression: "active = :true",
      ExpressionAttributeValues: values,
    },
  };
}

// --- Item mapping: the eight seed attributes keep their names and types.

const s = (v: string): AttributeValue => ({ S: v });
const n = (v: number): AttributeValue => ({ N: String(v) });

function guardKey(env: string): Item {
  return { id: s(GUARD_PREFIX + env) };
}

function recordItem(r: LockRecord): Item {
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
  return item;
}

function slotItem(slot: Slot): Item {
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

function parseGuard(item: Item): Guard {
  const guard: Guard = {
    env: str(item.guardEnv) ?? str(item.id)!.slice(GUARD_PREFIX.length),
    fence: num(item.fence) ?? 0,
  };
  const regular = parseSlot(item.regular);
  const uberlock = parseSlot(item.uberlock);
  if (regular) guard.regular = regular;
  if (uberlock) guard.uberlock = uberlock;
  return guard;
}
