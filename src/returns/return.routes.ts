import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at / : customer pages under /customer-center/returns…, staff pages under /admin/returns… */
export function returnRoutes(_s: Services): Router {
  return Router();
}
