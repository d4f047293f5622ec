import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at / : staff pages under /admin/recurring…, customer actions under /customer-center/recurring… */
export function recurringRoutes(_s: Services): Router {
  return Router();
}
