/** Shipment entities. Listed in src/db/entities.ts. */
export const shipmentEntities: Function[] = [];
