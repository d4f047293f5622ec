import { Router } from 'express';
import type { Services } from '../services';

/** Mounted at /api/v1 BEFORE sessions and CSRF (API keys, no cookies). JSON in and out. */
export function apiRoutes(_s: Services): Router {
  return Router();
}

/** Mounted at /admin/settings/api-keys (after sessions; staff only — enforce requireStaff). */
export function apiKeyAdminRoutes(_s: Services): Router {
  return Router();
}
