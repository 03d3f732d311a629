import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { TEST_CREDENTIALS, TEST_REGION } from "../../scripts/dev/dynamodb_local.ts";

/**
 * Gives each env an empty guard item (no holder, fence 0), as if it had been locked and
 * released, without any lock record: for tests that count or fault a lock's requests, which a
 * new env's first lock (its typo check) would change.
 */
export async function knownEnvs(
  endpoint: string,
  envs: string[],
  table = "DaPlayaLocks",
): Promise<void> {
  const client = new DynamoDBClient({
    region: TEST_REGION,
    endpoint,
    credentials: TEST_CREDENTIALS,
  });
  try {
    for (const env of envs.map((e) => e.toUpperCase())) {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            id: { S: `guard#${env}` },
            fence: { N: "0" },
            guardEnv: { S: env },
            itemType: { S: "guard" },
          },
          ConditionExpression: "attribute_not_exists(id)",
        }),
      );
    }
  } finally {
    client.destroy();
  }
}
