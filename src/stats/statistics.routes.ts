import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at /admin/statistics (staff only). */
export function statisticsRoutes(_s: Services): Router {
  return Router();
}
