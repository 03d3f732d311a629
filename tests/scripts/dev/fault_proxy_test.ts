import assert from "node:assert/strict";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { startDynamoLocal } from "../../../scripts/dev/dynamodb_local.ts";
import {
  type FaultProxy,
  startFaultProxy,
  throttle,
  unavailable,
} from "../../../scripts/dev/fault_proxy.ts";

/** Runs `fn`, which must reject, and returns what it rejected with. */
async function rejection(fn: () => Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    return err as Record<string, unknown>;
  }
  assert.fail("expected the call to fail");
}

/**
 * A connection error: the client got no HTTP response at all. The SDK's NodeHttpHandler renames
 * ECONNRESET ("socket hang up") to a TimeoutError, which its standard retry strategy treats as
 * transient: with maxAttempts > 1 the SDK itself would re-send the (possibly applied) write.
 */
function assertNetworkError(err: Record<string, unknown>) {
  const meta = err.$metadata as { httpStatusCode?: number } | undefined;
  assert.equal(meta?.httpStatusCode, undefined, `got an HTTP response: ${err}`);
  assert.equal(err.name, "TimeoutError");
  assert.equal(err.code, "ECONNRESET");
  assert.equal(err.message, "socket hang up");
}

Deno.test("fault proxy in front of DynamoDB Local", async (t) => {
  // Its own DynamoDB Local, checked to be ours: "ListTables is empty" below relies on it.
  const ddb = await startDynamoLocal();
  const proxy = await startFaultProxy(ddb.endpoint);
  const config = {
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "y" },
    maxAttempts: 1,
  };
  const client = new DynamoDBClient({ ...config, endpoint: proxy.url });
  const key = (id: string) => ({ pk: { S: id } });
  const getItem = (id: string) =>
    client.send(new GetItemCommand({ TableName: "locks", Key: key(id), ConsistentRead: true }));

  try {
    await t.step("pass-through ListTables", async () => {
      const out = await client.send(new ListTablesCommand({}));
      assert.deepEqual(out.TableNames, []);
      await client.send(
        new CreateTableCommand({
          TableName: "locks",
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
      assert.deepEqual((await client.send(new ListTablesCommand({}))).TableNames, ["locks"]);
      assert.deepEqual(proxy.log.map((e) => [e.operation, e.fault]), [
        ["ListTables", "pass"],
        ["CreateTable", "pass"],
        ["ListTables", "pass"],
      ]);
    });

    await t.step("throttle surfaces as ProvisionedThroughputExceededException", async () => {
      proxy.inject("GetItem", throttle);
      const err = await rejection(() => getItem("a"));
      assert.equal(err.name, "ProvisionedThroughputExceededException");
      assert.equal((err.$metadata as { httpStatusCode: number }).httpStatusCode, 400);
      // The queue is consumed: the next request passes.
      assert.equal((await getItem("a")).Item, undefined);
    });

    await t.step("lostAnswer: client sees a network error, item was written", async () => {
      proxy.inject("PutItem", { kind: "lostAnswer" });
      const err = await rejection(() =>
        client.send(new PutItemCommand({ TableName: "locks", Item: key("lost") }))
      );
      assertNetworkError(err);
      assert.deepEqual((await getItem("lost")).Item, key("lost"));
    });

    await t.step("reset: client sees a network error, nothing written", async () => {
      proxy.inject("*", { kind: "reset" });
      const err = await rejection(() =>
        client.send(new PutItemCommand({ TableName: "locks", Item: key("reset") }))
      );
      assertNetworkError(err);
      assert.equal((await getItem("reset")).Item, undefined);
    });

    await t.step("transactionConflict surfaces as TransactionCanceledException", async () => {
      proxy.inject("TransactWriteItems", { kind: "transactionConflict" });
      const err = await rejection(() =>
        client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName: "locks", Item: key("tx1") } },
              { Put: { TableName: "locks", Item: key("tx2") } },
            ],
          }),
        )
      );
      assert.equal(err.name, "TransactionCanceledException");
      const reasons = err.CancellationReasons as { Code: string }[];
      assert.equal(reasons.length, 2);
      assert.equal(reasons[0].Code, "TransactionConflict");
      assert.equal((await getItem("tx1")).Item, undefined);
    });

    await t.step("503 surfaces with httpStatusCode 503", async () => {
      proxy.inject("GetItem", unavailable);
      const err = await rejection(() => getItem("a"));
      assert.equal((err.$metadata as { httpStatusCode: number }).httpStatusCode, 503);
    });

    await t.step("delay forwards late; hang never answers", async () => {
      proxy.inject("GetItem", { kind: "delay", ms: 150 }, { kind: "hang" });
      const started = Date.now();
      assert.equal((await getItem("a")).Item, undefined);
      assert.ok(Date.now() - started >= 150);
      const err = await rejection(() =>
        client.send(new GetItemCommand({ TableName: "locks", Key: key("a") }), {
          abortSignal: AbortSignal.timeout(150),
        })
      );
      assert.equal(err.name, "AbortError");
    });

    await t.step("log and clear", () => {
      const faults = proxy.log.map((e) => e.fault);
      for (const kind of ["error", "lostAnswer", "reset", "transactionConflict"] as const) {
        assert.ok(faults.includes(kind), kind);
      }
      proxy.inject("GetItem", throttle);
      proxy.clear();
      assert.equal(proxy.log.length, 0);
    });

    await t.step("queue cleared: requests pass again", async () => {
      assert.equal((await getItem("a")).Item, undefined);
    });

    await t.step("keepAlive: Deno re-sends a request whose reused socket closes", async () => {
      // Deno's node:http retries below the SDK (maxAttempts does not apply): the lost answer
      // turns into a second, silent PutItem, which then fails its own condition.
      const kept: FaultProxy = await startFaultProxy(ddb.endpoint, {
        keepAlive: true,
      });
      const client2 = new DynamoDBClient({ ...config, endpoint: kept.url });
      try {
        await client2.send(new ListTablesCommand({})); // leaves a pooled keep-alive socket
        kept.inject("PutItem", { kind: "lostAnswer" });
        const err = await rejection(() =>
          client2.send(
            new PutItemCommand({
              TableName: "locks",
              Item: key("dup"),
              ConditionExpression: "attribute_not_exists(pk)",
            }),
          )
        );
        assert.equal(err.name, "ConditionalCheckFailedException");
        assert.deepEqual(kept.log.map((e) => e.fault), ["pass", "lostAnswer", "pass"]);
        assert.deepEqual((await getItem("dup")).Item, key("dup"));
      } finally {
        client2.destroy();
        await kept.close();
      }
    });
  } finally {
    client.destroy();
    await proxy.close();
    await ddb.stop();
  }
});
