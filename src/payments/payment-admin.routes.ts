import { Router } from 'express';
import { requireStaff } from '../http/auth';
import type { Services } from '../services';

/** Mounted at /admin/orders (before the order details routes): payment actions on one or many orders. */
export function paymentAdminRoutes(_s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  return r;
}
