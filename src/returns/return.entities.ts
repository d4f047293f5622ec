/** Return (RMA) entities. Listed in src/db/entities.ts. */
export const returnEntities: Function[] = [];
