import { Router, type Request, type Response } from 'express';
import type { Services } from '../services';

/** GET /customer-center?CC=Orders is rendered by this handler (the customer center dispatches on CC). */
export async function renderOrderHistory(_s: Services, _req: Request, res: Response): Promise<void> {
  res.redirect(303, '/customer-center?CC=Carts');
}

/** Mounted at /customer-center/orders (login required): order details, printable receipt, order again. */
export function orderHistoryRoutes(_s: Services): Router {
  return Router();
}
