import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at /admin (staff only, enforce with requireStaff): shipments under /admin/orders/:number/shipments…, track & trace settings under /admin/track-and-trace. */
export function shipmentAdminRoutes(_s: Services): Router {
  return Router();
}
