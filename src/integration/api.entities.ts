/** API key and idempotency entities. Listed in src/db/entities.ts. */
export const apiEntities: Function[] = [];
