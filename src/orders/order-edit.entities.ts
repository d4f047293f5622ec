/** Order versions and custom field entities. Listed in src/db/entities.ts. */
export const orderEditEntities: Function[] = [];
