import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { FailureError, UnavailableError } from "../../core/errors.ts";
import { type Guard, type LockKind, type LockRecord, slotOf } from "../../core/model.ts";
import type {
  Check,
  DiagnoseOptions,
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
  StoreConfig,
} from "../../core/store.ts";
import { credentialChain, missingProfile } from "./credentials.ts";
import { diagnose } from "./diagnose.ts";
import { mayHaveApplied, sdkFailure, sdkLogger } from "./errors.ts";
import {
  ACTIVE_INDEX,
  claimItem,
  ENV_LIST_KEY,
  guardKey,
  HISTORY_INDEX,
  type Item,
  n,
  parseGuard,
  parseRecord,
  placeItem,
  policyItem,
  recordItem,
  s,
  slotItem,
  tableDefinition,
} from "./items.ts";

/** What the adapter reports besides its answers. */
export interface DynamoStoreHooks {
  /** One line per SDK warning (the SDK's own are several lines long). */
  onWarning?: (line: string) => void;
}

/** The storage port on DynamoDB: one table; every change to a lock is one conditional transaction. */
export class DynamoStore implements LockStore {
  readonly #client: DynamoDBClient;
  readonly #config: DynamoDBClientConfig;
  readonly #staticCredentials: boolean;
  readonly #table: string;
  /** Unset until the SDK has found it in the profile (looked up when an error needs it). */
  #region: string | undefined;
  readonly #endpoint: string | undefined;
  readonly #profile: string | undefined;
  /** Settled once the profile, if one is named, is known to exist. */
  #profileChecked: Promise<void> | undefined;
  requests = 0;

  constructor(o: StoreConfig, hooks: DynamoStoreHooks = {}) {
    this.#table = o.table;
    this.#region = o.region;
    this.#endpoint = o.endpoint;
    this.#profile = o.profile;
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
    // The SDK's default chain, built from the client's own settings as the SDK would, but with
    // the probe of instance metadata bounded and one line naming every source tried.
    else config.credentialDefaultProvider = (init) => credentialChain(init, o.profile);
    if (hooks.onWarning) config.logger = sdkLogger(hooks.onWarning);
    this.#config = config;
    this.#staticCredentials = o.credentials !== undefined;
    this.#client = new DynamoDBClient(config);
    // Count every HTTP attempt, retries included: the benchmark and tests check request counts.
    this.#client.middlewareStack.add((next) => (args) => {
      this.requests++;
      return next(args);
    }, { step: "finalizeRequest", priority: "low", name: "daplayaRequestCounter" });
  }

  async init(): Promise<boolean> {
    try {
      await this.#send(
        "CreateTable",
        () => this.#client.send(new CreateTableCommand(tableDefinition(this.#table))),
        "ResourceInUseException",
      );
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
    const conditions: string[] = [
      "(attribute_not_exists(fence) OR fence < :fence)",
      policyIs(req.policyVersion ?? 0, values),
    ];
    if (req.envIs === "existing") conditions.push("attribute_exists(fence)");
    const removes: string[] = [];
    const superseded = (kind: LockKind) => req.supersede.find((x) => x.kind === kind);
    const ownSup = superseded(req.kind);
    if (ownSup) {
      conditions.push("#own.rvn = :ownRvn");
      values[":ownRvn"] = s(ownSup.rvn);
    } else {
      conditions.push("attribute_not_exists(#own)");
    }
    let deletes = "";
    if (req.kind === "regular") {
      names["#uber"] = "uberlock";
      names["#user"] = "user";
      values[":user"] = s(r.user);
      values[":userKey"] = s(r.user.toLowerCase());
      // Users compare case-insensitively: slots carry the lower-cased user as `userKey`.
      const ownUber = "(#uber.userKey = :userKey OR #uber.#user = :user)";
      const uberSup = superseded("uberlock");
      if (uberSup) {
        conditions.push("#uber.rvn = :uberRvn");
        values[":uberRvn"] = s(uberSup.rvn);
        removes.push("#uber");
      } else {
        conditions.push(`(attribute_not_exists(#uber) OR ${ownUber})`);
      }
      // Nobody overtakes the line: granted only while it is empty or starts with our place;
      // the uberlock's holder alone goes past it (everyone in line waits for that uberlock).
      if (req.place === undefined) {
        conditions.push(`(attribute_not_exists(line[0]) OR ${ownUber})`);
      } else {
        conditions.push("line[0].pid = :place");
        values[":place"] = s(req.place);
        values[":places"] = { SS: [req.place] };
        removes.push("line[0]");
        deletes = " DELETE linePids :places";
      }
    }
    const items: TransactWriteItem[] = [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          UpdateExpression: `SET #own = :slot, fence = :fence, guardEnv = :env, itemType = :type` +
            (removes.length ? ` REMOVE ${removes.join(", ")}` : "") + deletes,
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
      ...req.supersede.map((sup) =>
        endRecord(this.#table, sup.id, r.createdAt, { supersededBy: s(r.id) })
      ),
    ];
    if (req.envIs === "new") {
      items.push({
        Update: {
          TableName: this.#table,
          Key: ENV_LIST_KEY,
          UpdateExpression: "ADD envNames :env",
          ExpressionAttributeValues: { ":env": { SS: [req.env] } },
        },
      });
    }
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
    const ended: Item = {
      releasedAt: n(req.now),
      releasedBy: s(req.by),
      ...(req.forced ? { forced: { BOOL: true } } : {}),
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
      ...req.targets.map((t) => endRecord(this.#table, t.id, req.now, ended)),
    ], req.token);
    return failed === undefined ? { released: true } : { released: false, guard: failed };
  }

  join(req: JoinRequest): Promise<LineResult> {
    // `linePids` mirrors the pids in `line`: a join retried after a lost answer finds its
    // place taken instead of taking a second one.
    return this.#updateLine(req.env, {
      UpdateExpression: "SET line = list_append(if_not_exists(line, :empty), :place) " +
        "ADD linePids :pids",
      ConditionExpression: "attribute_exists(fence) AND NOT contains(linePids, :pid)",
      ExpressionAttributeValues: {
        ":empty": { L: [] },
        ":place": { L: [{ M: placeItem(req.place) }] },
        ":pids": { SS: [req.place.pid] },
        ":pid": s(req.place.pid),
      },
    });
  }

  renewPlace(req: RenewPlaceRequest): Promise<LineResult> {
    const at = `line[${req.index}]`;
    return this.#updateLine(req.env, {
      UpdateExpression: `SET ${at}.rvn = :rvn, ${at}.renewedAt = :now`,
      ConditionExpression: `${at}.pid = :pid`,
      ExpressionAttributeValues: { ":rvn": s(req.rvn), ":now": n(req.now), ":pid": s(req.pid) },
    });
  }

  leave(req: LeaveRequest): Promise<LineResult> {
    const values: Item = { ":pids": { SS: req.places.map((p) => p.pid) } };
    const conditions = req.places.map((p, i) => {
      values[`:pid${i}`] = s(p.pid);
      if (p.rvn === undefined) return `line[${p.index}].pid = :pid${i}`;
      values[`:rvn${i}`] = s(p.rvn);
      return `line[${p.index}].pid = :pid${i} AND line[${p.index}].rvn = :rvn${i}`;
    });
    return this.#updateLine(req.env, {
      UpdateExpression: `REMOVE ${req.places.map((p) => `line[${p.index}]`).join(", ")} ` +
        "DELETE linePids :pids",
      ConditionExpression: conditions.join(" AND "),
      ExpressionAttributeValues: values,
    });
  }

  async setPolicy(req: SetPolicyRequest): Promise<PolicyResult> {
    const values: Item = {
      ":policy": { M: policyItem(req.rules, req.freezes) },
      ":version": n(req.seenVersion + 1),
      ":zero": n(0),
      ":env": s(req.env),
      ":type": s("guard"),
    };
    const failed = await this.#transact("policy change", [
      {
        Update: {
          TableName: this.#table,
          Key: guardKey(req.env),
          // A first policy on an env creates its guard: fence 0 makes it an env that exists.
          UpdateExpression: "SET policy = :policy, policyVersion = :version, " +
            "fence = if_not_exists(fence, :zero), guardEnv = :env, itemType = :type",
          ConditionExpression: policyIs(req.seenVersion, values),
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
      {
        Update: {
          TableName: this.#table,
          Key: ENV_LIST_KEY,
          UpdateExpression: "ADD envNames :names",
          ExpressionAttributeValues: { ":names": { SS: [req.env] } },
        },
      },
    ], req.token);
    return failed === undefined ? { ok: true } : { ok: false, guard: failed };
  }

  /**
   * One conditional UpdateItem of an env's guard that returns it either way: after the change,
   * or as it was when the condition failed. Not a transaction: it touches only the guard, and
   * each change to the line is safe to repeat (see LineResult).
   */
  async #updateLine(
    env: string,
    input: Omit<UpdateItemCommandInput, "TableName" | "Key">,
  ): Promise<LineResult> {
    try {
      const out = await this.#send(
        "UpdateItem",
        () =>
          this.#client.send(
            new UpdateItemCommand({
              TableName: this.#table,
              Key: guardKey(env),
              ...input,
              ReturnValues: "ALL_NEW",
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          ),
        "ConditionalCheckFailedException",
      );
      return { ok: true, guard: out.Attributes ? parseGuard(out.Attributes) : null };
    } catch (e) {
      if ((e as Error).name !== "ConditionalCheckFailedException") throw e;
      const item = (e as { Item?: Item }).Item;
      return { ok: false, guard: item ? parseGuard(item) : null };
    }
  }

  async guards(envs: string[]): Promise<Guard[]> {
    // GetItem, a few at a time: BatchGetItem would need one more action in every IAM policy.
    const guards: Guard[] = [];
    for (let i = 0; i < envs.length; i += 8) {
      const batch = await Promise.all(envs.slice(i, i + 8).map((env) => this.guard(env)));
      guards.push(...batch.flatMap((g) => g ?? []));
    }
    return guards;
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

  async envs(): Promise<string[]> {
    const [list, active] = await Promise.all([
      this.#send(
        "GetItem",
        () =>
          this.#client.send(
            new GetItemCommand({ TableName: this.#table, Key: ENV_LIST_KEY, ConsistentRead: true }),
          ),
      ),
      this.active(),
    ]);
    const names = new Set(list.Item?.envNames?.SS ?? []);
    for (const r of active) names.add(r.env);
    return [...names].sort();
  }

  async claim(key: string, now: number): Promise<boolean> {
    // The SDK resends the same request after a lost answer: the same claimer token then finds
    // its own item and succeeds again, instead of failing as someone else's claim.
    const claimer = crypto.randomUUID();
    try {
      await this.#send(
        "PutItem",
        () =>
          this.#client.send(
            new PutItemCommand({
              TableName: this.#table,
              Item: claimItem(key, now, claimer),
              ConditionExpression: "attribute_not_exists(id) OR claimer = :claimer",
              ExpressionAttributeValues: { ":claimer": s(claimer) },
            }),
          ),
        "ConditionalCheckFailedException",
      );
      return true;
    } catch (e) {
      if ((e as Error).name === "ConditionalCheckFailedException") return false;
      throw e;
    }
  }

  /** What the lock needs from AWS, checked without changing anything: see diagnose.ts. */
  diagnose(options: DiagnoseOptions = {}): AsyncIterable<Check> {
    return diagnose({
      client: this.#client,
      clientWith: (credentials) => new DynamoDBClient({ ...this.#config, credentials }),
      table: this.#table,
      region: this.#region,
      endpoint: this.#endpoint,
      profile: this.#profile,
      staticCredentials: this.#staticCredentials,
      checkProfile: () => this.#checkProfile(),
    }, options);
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
    await this.#checkProfile();
    try {
      return await call();
    } catch (e) {
      if ((e as Error).name === expected) throw e;
      // Name the region the SDK found in the profile, not a placeholder.
      this.#region ??= await this.#client.config.region().catch(() => undefined);
      throw this.#failure(e, action);
    }
  }

  /**
   * A profile that does not exist fails before any request, with a line that says so: the SDK
   * would go on to other sources and end with no credentials or no region.
   */
  #checkProfile(): Promise<void> {
    const profile = this.#profile;
    if (profile === undefined) return Promise.resolve();
    return this.#profileChecked ??= missingProfile(profile).then((missing) => {
      if (missing) throw missing;
    });
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

  #failure(e: unknown, action: string): Error {
    return sdkFailure(e, {
      action,
      table: this.#table,
      where: this.#where,
      endpoint: this.#endpoint,
    });
  }
}

/** The condition that the env's policy has `version` (0: never set); adds its value. */
function policyIs(version: number, values: Item): string {
  if (version === 0) return "attribute_not_exists(policyVersion)";
  values[":policyVersion"] = n(version);
  return "policyVersion = :policyVersion";
}

/**
 * Ends a lock record (released, or superseded after its lease ran out): inactive, out of the
 * active index, with `fields` saying how it ended.
 */
function endRecord(table: string, id: string, now: number, fields: Item): TransactWriteItem {
  const names = Object.keys(fields);
  return {
    Update: {
      TableName: table,
      Key: { id: s(id) },
      UpdateExpression: `SET active = :false, updatedAt = :now${
        names.map((f) => `, ${f} = :${f}`).join("")
      } REMOVE activeEnv`,
      ExpressionAttributeValues: {
        ":false": { BOOL: false },
        ":now": n(now),
        ...Object.fromEntries(names.map((f) => [`:${f}`, fields[f]])),
      },
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
