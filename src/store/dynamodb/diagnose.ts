/**
 * `daplaya doctor` on DynamoDB: what the lock needs, checked in order without changing anything.
 * Credentials and region first; then the endpoint (reached even without credentials, with keys
 * it will refuse, so that the network and the clock are checked all the same); the table and its
 * indexes against what `init` creates; the permissions, each proven by the request the CLI makes
 * (a write with a condition that cannot hold: refused by its condition means allowed); and this
 * host's clock against the `Date` header of every answer.
 */
import {
  DescribeTableCommand,
  type DescribeTableCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import type { Check, DiagnoseOptions } from "../../core/store.ts";
import { formatDuration, isoTime } from "../../core/text.ts";
import { credentialSource, type Identity, sharedFiles } from "./credentials.ts";
import { at, sdkFailure } from "./errors.ts";
import { ACTIVE_INDEX, HISTORY_INDEX, type Item, s, tableDefinition } from "./items.ts";

/** What the store hands over to be diagnosed. */
export interface DiagnoseTarget {
  client: DynamoDBClient;
  /** A client like `client` that signs with these keys instead. */
  clientWith(credentials: { accessKeyId: string; secretAccessKey: string }): DynamoDBClient;
  table: string;
  region: string | undefined;
  endpoint: string | undefined;
  profile: string | undefined;
  /** Keys given to daplaya itself (the seed's variable names), not found by the SDK's chain. */
  staticCredentials: boolean;
  /** Throws when the named profile does not exist. */
  checkProfile(): Promise<void>;
}

/** Above this, a host's clock is worth a warning: leases and fences lean on it. */
const CLOCK_WARN_MS = 1000;
const POLICY = "see docs/iam.md";
/** The indexes as `doctor` names its checks of them. */
const INDEXES = [
  { name: HISTORY_INDEX, label: "history index" },
  { name: ACTIVE_INDEX, label: "active index" },
];

type Outcome<T> =
  | { answered: true; ok: true; value: T }
  /** DynamoDB answered with an error. */
  | { answered: true; ok: false; error: Error & { name: string } }
  /** No answer: the error is the network's. */
  | { answered: false; ok: false; error: Error };

const check = (
  name: string,
  status: Check["status"],
  detail: string,
  fix?: string,
): Check => (fix === undefined ? { name, status, detail } : { name, status, detail, fix });

/** daplaya's failure lines end with ": <what to do>": split there into detail and fix. */
function fromLine(name: string, line: string): Check {
  const i = line.lastIndexOf(": ");
  return i > 0
    ? check(name, "fail", line.slice(0, i), line.slice(i + 2))
    : check(name, "fail", line);
}

/**
 * The offset of this host's clock from DynamoDB's, from `Date` headers (whole seconds): each
 * answer bounds it between `sent - (date + 1 s)` and `received - date`.
 */
class ClockProbe {
  #low = -Infinity;
  #high = Infinity;
  #estimates: number[] = [];

  sample(sent: number, received: number, date: number): void {
    if (!Number.isFinite(date)) return;
    this.#low = Math.max(this.#low, sent - (date + 1000));
    this.#high = Math.min(this.#high, received - date);
    this.#estimates.push((sent + received) / 2 - (date + 500));
  }

  get samples(): number {
    return this.#estimates.length;
  }

  /**
   * How far this host's clock is ahead of DynamoDB's (negative: behind), in ms, as an interval
   * that holds it; `beyond`: all of it is more than `limit` away from zero.
   */
  offset(limit: number): { low: number; high: number; beyond: boolean } {
    if (this.#low <= this.#high) {
      const [low, high] = [this.#low, this.#high];
      return { low, high, beyond: low > limit || high < -limit };
    }
    // Inconsistent answers (several servers behind one name): the median estimate, ± 1 s.
    const sorted = this.#estimates.toSorted((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)];
    return { low: ms - 1000, high: ms + 1000, beyond: Math.abs(ms) > limit + 1000 };
  }
}

/** `1.2-2.1s` under a minute, else to the second: `2h`, `13m5s`. */
function span(low: number, high: number): string {
  const [a, b] = [Math.abs(low), Math.abs(high)].sort((x, y) => x - y);
  if (b < 60_000) return `${(a / 1000).toFixed(1)}-${(b / 1000).toFixed(1)}s`;
  return formatDuration(Math.round((a + b) / 2000) * 1000);
}

export async function* diagnose(
  t: DiagnoseTarget,
  options: DiagnoseOptions = {},
): AsyncGenerator<Check> {
  const clock = new ClockProbe();
  let url = t.endpoint;

  /** Sends one command, sampling the clock from its answer and noting the URL it went to. */
  async function send<T>(client: DynamoDBClient, command: object): Promise<Outcome<T>> {
    const c = command as Parameters<DynamoDBClient["send"]>[0];
    c.middlewareStack.add((next) => async (args) => {
      const request = args.request as { protocol?: string; hostname?: string; port?: number };
      url ??= `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}`;
      const sent = Date.now();
      const out = await next(args);
      const headers = (out.response as { headers?: Record<string, string> }).headers ?? {};
      if (headers.date) clock.sample(sent, Date.now(), Date.parse(headers.date));
      return out;
    }, { step: "deserialize", priority: "low", name: "daplayaDoctorClock" });
    try {
      return { answered: true, ok: true, value: await client.send(c) as T };
    } catch (e) {
      const err = e as Error & { name: string; $metadata?: { httpStatusCode?: number } };
      return err.$metadata?.httpStatusCode !== undefined
        ? { answered: true, ok: false, error: err }
        : { answered: false, ok: false, error: err };
    }
  }

  // Credentials, and first whether the profile they should come from exists at all.
  let profileMissing = false;
  let identity: Identity | undefined;
  try {
    await t.checkProfile();
  } catch (e) {
    profileMissing = true;
    yield fromLine("credentials", (e as Error).message);
  }
  if (!profileMissing) {
    try {
      identity = await t.client.config.credentials() as Identity;
      const source = t.staticCredentials
        ? "keys in the environment under older names (AWS_ACCES_KEY_ID or AWS_ACCESS_KEY, AWS_SECRET_KEY)"
        : credentialSource(identity, t.profile);
      const key = identity.accessKeyId;
      const shown = key.length > 8 ? `${key.slice(0, 4)}…${key.slice(-4)}` : key;
      const expires = identity.expiration
        ? `, until ${isoTime(identity.expiration.getTime())}`
        : "";
      yield check("credentials", "ok", `${source}: key ${shown}${expires}`);
    } catch (e) {
      yield fromLine("credentials", lineOf(e, t, "the profile's region"));
    }
  }

  // Region: given, or the profile's.
  let region = t.region;
  if (region !== undefined) {
    yield check("region", "ok", `${region} (from ${options.regionFrom ?? "the settings"})`);
  } else if (profileMissing) {
    yield check("region", "skip", "skipped: the profile does not exist");
  } else {
    region = await t.client.config.region().catch(() => undefined);
    const profile = `profile ${t.profile ?? "default"}`;
    if (region) {
      yield check("region", "ok", `${region} (from ${profile} in ${sharedFiles().config})`);
    } else {
      yield check(
        "region",
        "fail",
        `none: not given, and ${profile} has none`,
        "pass --region or set DAPLAYA_AWS_REGION",
      );
    }
  }
  const where = region ?? "the profile's region";
  const skipAll = function* (names: string[], why: string) {
    for (const name of names) yield check(name, "skip", `skipped: ${why}`);
  };
  const rest = ["table", ...INDEXES.map((i) => i.label), "read permissions", "write permissions"];
  if (region === undefined) {
    yield* skipAll(["endpoint", ...rest, "clock"], "no region");
    return;
  }

  // The endpoint: any answer at all means reachable. Without credentials, keys it will refuse.
  const client = identity
    ? t.client
    : t.clientWith({ accessKeyId: "daplaya-doctor", secretAccessKey: "daplaya-doctor" });
  const started = performance.now();
  const described = await send<DescribeTableCommandOutput>(
    client,
    new DescribeTableCommand({ TableName: t.table }),
  );
  if (client !== t.client) client.destroy();
  if (!described.answered) {
    yield fromLine("endpoint", lineOf(described.error, t, where));
    yield* skipAll([...rest, "clock"], "DynamoDB did not answer");
    return;
  }
  yield check(
    "endpoint",
    "ok",
    `${url ?? "DynamoDB"} answered in ${Math.round(performance.now() - started)} ms`,
  );

  const table = `${t.table} ${at(t.endpoint, where)}`;
  const permissions = rest.slice(3);
  /** Set once the permissions can be probed: the indexes that cannot be queried. */
  let unusable: Set<string> | undefined;
  if (!identity) {
    yield* skipAll(rest, "no credentials");
  } else if (described.ok) {
    const found = yield* shape(t.table, table, described.value);
    if (found.keyOk) unusable = found.unusable;
    else yield* skipAll(permissions, "not a daplaya table");
  } else {
    const e = described.error;
    if (e.name === "ResourceNotFoundException") {
      yield check(
        "table",
        "fail",
        `${t.table} not found ${at(t.endpoint, where)}`,
        "run 'daplaya init'",
      );
      yield* skipAll(rest.slice(1), "no table");
    } else if (e.name === "AccessDeniedException") {
      // Only `init` needs DescribeTable: the probes below still show a missing table or index.
      unusable = new Set();
      yield check(
        "table",
        "warn",
        `${table}: its shape is unknown, dynamodb:DescribeTable is not allowed (only 'init' needs it)`,
        "grant dynamodb:DescribeTable to have it checked, or make sure 'daplaya init' created it",
      );
      yield* skipAll(rest.slice(1, 3), "DescribeTable not allowed");
    } else {
      yield fromLine("table", lineOf(e, t, where));
      yield* skipAll(rest.slice(1), "the table could not be described");
    }
  }

  if (unusable) {
    // Once a request goes unanswered, the probes after it are not sent: each would wait as long.
    let silent: Error | undefined;
    const sendAs: Send = async (command) => {
      if (silent) return { answered: false, ok: false, error: silent };
      const out = await send(t.client, command);
      if (!out.answered) silent = out.error;
      return out;
    };
    yield await reads(t.table, sendAs, unusable);
    yield await writes(t.table, sendAs);
  }

  if (clock.samples === 0) {
    yield check("clock", "skip", "skipped: no answer carried a Date header");
  } else {
    const { low, high, beyond } = clock.offset(CLOCK_WARN_MS);
    const direction = low > 0 ? "ahead of" : "behind";
    yield beyond
      ? check(
        "clock",
        "warn",
        `${
          span(low, high)
        } ${direction} DynamoDB's (its Date header); leases and fences lean on it`,
        "synchronise it (chrony, systemd-timesyncd or ntpd)",
      )
      : check(
        "clock",
        "ok",
        `within ${CLOCK_WARN_MS / 1000}s of DynamoDB's (the Date header of ${clock.samples} answer${
          clock.samples === 1 ? "" : "s"
        })`,
      );
  }

  /** The line daplaya would print for this error, as the CLI's other commands do. */
  function lineOf(e: unknown, target: DiagnoseTarget, where: string): string {
    return sdkFailure(e, {
      action: "DescribeTable",
      table: target.table,
      where,
      endpoint: target.endpoint,
    }).message;
  }
}

type Send = (command: object) => Promise<Outcome<unknown>>;

/**
 * The table and both indexes against what `init` creates. Returns whether the key is daplaya's
 * and the indexes that cannot be queried as the CLI does (missing, or keyed otherwise).
 */
function* shape(
  name: string,
  table: string,
  out: DescribeTableCommandOutput,
): Generator<Check, { keyOk: boolean; unusable: Set<string> }> {
  const unusable = new Set<string>();
  const want = tableDefinition(name);
  const t = out.Table ?? {};
  const types = new Map(
    (t.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]),
  );
  const keyOf = (schema: { AttributeName?: string; KeyType?: string }[] | undefined) =>
    (schema ?? []).map((k) => `${k.AttributeName} (${types.get(k.AttributeName) ?? "?"})`).join(
      " + ",
    ) || "none";
  const wantTypes = new Map(
    want.AttributeDefinitions.map((a) => [a.AttributeName, a.AttributeType]),
  );
  const wantKey = (schema: readonly { AttributeName: string }[]) =>
    schema.map((k) => `${k.AttributeName} (${wantTypes.get(k.AttributeName)})`).join(" + ");
  const remake = `pick another --table, or delete this one and run 'daplaya init'`;

  const key = keyOf(t.KeySchema);
  const keyOk = key === wantKey(want.KeySchema);
  const billing = t.BillingModeSummary?.BillingMode === "PAY_PER_REQUEST" ||
      t.ProvisionedThroughput?.ReadCapacityUnits === 0
    ? "on-demand"
    : `provisioned (${t.ProvisionedThroughput?.ReadCapacityUnits} reads, ${t.ProvisionedThroughput?.WriteCapacityUnits} writes per second)`;
  if (!keyOk) {
    yield check("table", "fail", `${table} has key ${key}, not ${wantKey(want.KeySchema)}`, remake);
  } else if (t.TableStatus !== "ACTIVE" && t.TableStatus !== "UPDATING") {
    yield check(
      "table",
      "fail",
      `${table} is ${t.TableStatus}`,
      "wait until it is ACTIVE ('daplaya init' waits for it)",
    );
  } else {
    yield check("table", "ok", `${table}: ${t.TableStatus}, key ${key}, ${billing}`);
  }

  for (const index of want.GlobalSecondaryIndexes) {
    const label = INDEXES.find((i) => i.name === index.IndexName)!.label;
    const found = (t.GlobalSecondaryIndexes ?? []).find((i) => i.IndexName === index.IndexName);
    const expected = `${wantKey(index.KeySchema)}, all attributes`;
    if (!found) {
      unusable.add(index.IndexName);
      yield check(
        label,
        "fail",
        `${index.IndexName} is missing (expected ${expected})`,
        addIndex(name, index.IndexName),
      );
      continue;
    }
    const has = keyOf(found.KeySchema);
    if (has !== wantKey(index.KeySchema)) unusable.add(index.IndexName);
    const projection = found.Projection?.ProjectionType;
    if (has !== wantKey(index.KeySchema) || projection !== "ALL") {
      yield check(
        label,
        "fail",
        `has ${has}, ${
          projection === "ALL" ? "all attributes" : `projection ${projection}`
        }; expected ${expected}`,
        remake,
      );
    } else if (found.IndexStatus !== "ACTIVE") {
      yield check(
        label,
        "fail",
        `${index.IndexName}: ${expected}, but ${found.IndexStatus}${
          found.Backfilling ? " (backfilling)" : ""
        }`,
        "wait until it is ACTIVE",
      );
    } else {
      yield check(label, "ok", `${index.IndexName}: ${expected}, ACTIVE`);
    }
  }
  return { keyOk, unusable };
}

/** The `aws` command that adds a missing index as `init` creates it. */
function addIndex(table: string, index: string): string {
  const hash = index.split("-")[0];
  const create = JSON.stringify([{
    Create: {
      IndexName: index,
      KeySchema: [
        { AttributeName: hash, KeyType: "HASH" },
        { AttributeName: "createdAt", KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    },
  }]);
  return `add it: aws dynamodb update-table --table-name ${table} --attribute-definitions AttributeName=${hash},AttributeType=S AttributeName=createdAt,AttributeType=N --global-secondary-index-updates '${create}'`;
}

/** A key no item has: every probe reads nothing and writes nothing. */
function probeKey(): { id: string; key: Item } {
  const id = `daplaya-doctor#${crypto.randomUUID()}`;
  return { id, key: { id: s(id) } };
}

/**
 * The reads the CLI makes, as it makes them: GetItem, Query on both indexes, Scan on the active
 * one. Indexes that cannot be queried (reported above) are left out, and the line says so.
 */
async function reads(table: string, send: Send, unusable: Set<string>): Promise<Check> {
  const { id, key } = probeKey();
  const onIndex: [string, string, object][] = [
    ...[HISTORY_INDEX, ACTIVE_INDEX].map((index): [string, string, object] => [
      index,
      `Query on index ${index}`,
      new QueryCommand({
        TableName: table,
        IndexName: index,
        KeyConditionExpression: `${index.split("-")[0]} = :e`,
        ExpressionAttributeValues: { ":e": s(id) },
        Limit: 1,
      }),
    ]),
    [
      ACTIVE_INDEX,
      `Scan on index ${ACTIVE_INDEX}`,
      new ScanCommand({ TableName: table, IndexName: ACTIVE_INDEX, Limit: 1 }),
    ],
  ];
  const probes: [string, object][] = [
    ["GetItem", new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true })],
    ...onIndex.filter(([index]) => !unusable.has(index)).map(([, what, c]): [string, object] => [
      what,
      c,
    ]),
  ];
  const left = onIndex.filter(([index]) => unusable.has(index)).map(([, what]) => what);
  const note = left.length ? `; not checked: ${left.join(", ")} (see the index above)` : "";
  return verdict("read permissions", table, await probe(probes, send, () => false), note);
}

/**
 * The writes: TransactWriteItems, which IAM authorizes per item as PutItem, UpdateItem and
 * ConditionCheckItem. One item each, on a key no item has, with a condition that cannot hold
 * there: refused by its condition proves the permission, and nothing is written.
 */
async function writes(table: string, send: Send): Promise<Check> {
  const impossible = { TableName: table, ConditionExpression: "attribute_exists(id)" };
  const items: [string, TransactWriteItem][] = [
    ["PutItem", { Put: { ...impossible, Item: probeKey().key } }],
    [
      "UpdateItem",
      {
        Update: {
          ...impossible,
          Key: probeKey().key,
          UpdateExpression: "SET doctor = :x",
          ExpressionAttributeValues: { ":x": s("never written") },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        },
      },
    ],
    ["ConditionCheckItem", { ConditionCheck: { ...impossible, Key: probeKey().key } }],
  ];
  const probes = items.map(([action, item]): [string, object] => [
    action,
    new TransactWriteItemsCommand({ TransactItems: [item] }),
  ]);
  const refused = (e: Error) =>
    e.name === "TransactionCanceledException" &&
    ((e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [])
      .every((r) => r.Code === "ConditionalCheckFailed");
  const results = await probe(probes, send, refused);
  return verdict(
    "write permissions",
    table,
    results,
    " (in TransactWriteItems, with conditions that cannot hold: nothing written)",
  );
}

interface ProbeResult {
  what: string;
  outcome: "allowed" | "denied" | "failed" | "unanswered";
  /** For `failed`: the error. */
  message?: string;
}

/** Sends each probe; `allowed` says which errors prove the permission all the same. */
async function probe(
  probes: [string, object][],
  send: Send,
  allowed: (e: Error) => boolean,
): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (const [what, command] of probes) {
    const out = await send(command);
    if (out.ok || allowed(out.error)) results.push({ what, outcome: "allowed" });
    else if (!out.answered) results.push({ what, outcome: "unanswered" });
    else if (out.error.name === "AccessDeniedException") results.push({ what, outcome: "denied" });
    else {
      const message = `${out.error.name}: ${out.error.message.split("\n")[0]}`;
      results.push({ what, outcome: "failed", message });
    }
  }
  return results;
}

function verdict(name: string, table: string, results: ProbeResult[], note = ""): Check {
  const by = (outcome: ProbeResult["outcome"]) => results.filter((r) => r.outcome === outcome);
  const [denied, failed, unanswered] = [by("denied"), by("failed"), by("unanswered")];
  if (denied.length + failed.length + unanswered.length === 0) {
    return check(name, "ok", `${results.map((r) => r.what).join(", ")}${note}`);
  }
  const parts = [
    denied.length ? `denied ${denied.map((r) => `dynamodb:${r.what}`).join(", ")}` : "",
    failed.length ? `failed ${failed.map((r) => `${r.what} (${r.message})`).join(", ")}` : "",
    unanswered.length ? `no answer to ${unanswered.map((r) => r.what).join(", ")}` : "",
  ].filter(Boolean);
  return check(
    name,
    "fail",
    `${parts.join("; ")} on table ${table}`,
    denied.length
      ? `grant ${denied.length > 1 ? "them" : "it"} on the table and its indexes (${POLICY})`
      : failed.length
      ? "check the table (is it the one 'daplaya init' made?)"
      : "check the network, and run 'daplaya doctor' again",
  );
}
