/** Staff order list preferences. Listed in src/db/entities.ts. */
export const orderListEntities: Function[] = [];
