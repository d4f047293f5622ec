import { Router } from 'express';
import { requireStaff } from '../http/auth';
import type { Services } from '../services';

export function flowSettingsRoutes(_s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  return r;
}
