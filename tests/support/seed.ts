/** The eight attributes of SPEC section 1 that every lock object carries. */
export const SEED_ATTRIBUTES = [
  "id",
  "user",
  "env",
  "createdAt",
  "updatedAt",
  "active",
  "uberlock",
  "meta",
];
