import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { inContext, type ActionError } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';
import { STAFF_PERMISSIONS, STAFF_ROLE_LABELS, STAFF_ROLES } from './staff-permissions';

export const STAFF_ROLES_PATH = '/admin/settings/staff-roles';

const permissionsForm = z.object({
  clerk: z.preprocess((v) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]), z.array(z.enum(STAFF_PERMISSIONS, { error: 'is not a permission' })).max(20)),
});
const roleForm = z.object({ staffRole: z.enum(STAFF_ROLES, { error: 'must be Administrator or Order clerk' }) });

/** /admin/settings/staff-roles: what order clerks may do and each staff user's role. Staff may look; administrators change. */
export function staffRoleRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  /** The page; a refused save shows its message by its button (a role's by that user's select), see inContext. */
  const page = async (_req: Request, res: Response, actionError?: ActionError) => {
    res.render('admin/settings/staff-roles.njk', {
      ...(await s.staffRoles.settings()), roleLabels: STAFF_ROLE_LABELS, roles: STAFF_ROLES, fields: actionError?.fields ?? {}, actionError: actionError ?? null,
    });
  };

  r.get('/', (req, res) => page(req, res));

  r.post('/permissions', inContext('permissions', page, async (req, res) => {
    await s.staffRoles.saveClerkPermissions(req.user!.id, parse(permissionsForm, req.body).clerk);
    flash(req, 'success', 'Saved what order clerks may do.');
    res.redirect(303, STAFF_ROLES_PATH);
  }));

  r.post('/users/:id', inContext('role', page, async (req, res) => {
    const userId = parse(idParam, req.params.id);
    const user = await s.staffRoles.setStaffRole(req.user!.id, userId, parse(roleForm, req.body).staffRole);
    flash(req, 'success', `${user.name} is now ${STAFF_ROLE_LABELS[user.staffRole ?? 'order_clerk']}.`);
    res.redirect(303, STAFF_ROLES_PATH);
  }));

  return r;
}
