/** Recurring order series entities. Listed in src/db/entities.ts. */
export const recurringEntities: Function[] = [];
