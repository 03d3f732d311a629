/**
 * The one place a store is opened (`main.ts` calls it). The DynamoDB adapter is loaded on
 * demand, so that `--help` and `--version` never import the AWS SDK.
 */
import type { LockStore, StoreConfig } from "../core/store.ts";
import type { DynamoStoreHooks } from "./dynamodb/store.ts";

export async function openStore(
  config: StoreConfig,
  hooks: DynamoStoreHooks = {},
): Promise<LockStore> {
  const { DynamoStore } = await import("./dynamodb/store.ts");
  return new DynamoStore(config, hooks);
}
