import { UnavailableError } from "../../src/core/errors.ts";
import type { LockStore } from "../../src/core/store.ts";
import { MemoryStore } from "../../src/store/memory.ts";

/** The in-memory store, whose renewals can be made to fail as if DynamoDB could not be reached. */
export class FlakyStore extends MemoryStore {
  down = false;
  override renew(req: Parameters<LockStore["renew"]>[0]) {
    if (this.down) return Promise.reject(new UnavailableError("cannot reach DynamoDB"));
    return super.renew(req);
  }
}
