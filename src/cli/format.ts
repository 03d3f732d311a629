import type { LockRecord } from "../core/model.ts";
import { formatDuration, isoTime as iso } from "../core/text.ts";

/** One line for a lock, for people. */
export function describe(r: LockRecord, now: number): string {
  const kind = r.uberlock ? "uberlock" : "lock";
  const parts = [
    `${r.env} ${kind} by ${r.user || "(no user)"}`,
    `since ${iso(r.createdAt)}`,
    `fence ${r.fence}`,
  ];
  if (r.expiresAt !== undefined && r.active) {
    parts.push(
      r.expiresAt > now
        ? `lease ${formatDuration(r.leaseMs ?? 0)} until ${iso(r.expiresAt)}`
        : `lease expired ${iso(r.expiresAt)}`,
    );
  }
  if (!r.active) {
    if (r.releasedAt !== undefined) {
      parts.push(`released ${iso(r.releasedAt)} by ${r.releasedBy}${r.forced ? " (forced)" : ""}`);
    } else if (r.supersededBy) parts.push(`lease expired; superseded by ${r.supersededBy}`);
    else parts.push(`ended ${iso(r.updatedAt)}`);
  }
  parts.push(`meta: ${r.meta}`, `id ${r.id}`);
  return parts.join(", ");
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}
