import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireLogin, requireStaff } from '../http/auth';
import { renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';
import { DomainError } from '../shared/errors';
import { parseMoney } from '../shared/money';
import { COMPANY_ROLE_LABELS, COMPANY_ROLES } from './account.entities';

const asList = (v: unknown) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]);
const accessForm = z.object({
  roles: z.preprocess(asList, z.array(z.enum(COMPANY_ROLES, { error: 'must be buyer, approver or company admin' })).max(COMPANY_ROLES.length)),
  spendLimit: z.string().trim().max(20).default('').transform((v, ctx) => {
    if (v === '') return null;
    const minor = parseMoney(v);
    if (minor == null || minor < 0) {
      ctx.addIssue({ code: 'custom', message: 'must be an amount like 250.00, or empty for none' });
      return z.NEVER;
    }
    return minor;
  }),
});

/** The company users' roles and spend limits: the same page for staff (/admin/customers/:id) and a company admin (/customer-center/company). */
function companyUserPages(s: Services, page: { view: string; companyOf: (req: Request) => number; base: (companyId: number) => string }): Router {
  const r = Router({ mergeParams: true });
  const render = async (req: Request, res: Response, refused?: { userId: number; message: string; fields: Record<string, string>; typed: unknown }) => {
    const companyId = page.companyOf(req);
    const view = await s.companies.company(req.user!, companyId);
    res.render(page.view, { ...view, roleLabels: COMPANY_ROLE_LABELS, action: page.base(companyId), refused, cc: 'Company' });
  };
  r.get('/', async (req, res) => render(req, res));
  r.post('/users/:userId', async (req, res) => {
    const userId = parse(idParam, req.params.userId);
    let user;
    try {
      user = await s.companies.setAccess(req.user!, page.companyOf(req), userId, (({ roles, spendLimit }) => ({ roles, spendLimitMinor: spendLimit }))(parse(accessForm, req.body)));
    } catch (e) {
      return renderInvalid(res, e, (refusal) => render(req, res, {
        userId, message: refusal.message, fields: refusal.fields, typed: { roles: asList(req.body.roles).map(String), spendLimit: String(req.body.spendLimit ?? '') },
      }), ['VALIDATION', 'CONFLICT']);
    }
    flash(req, 'success', `Saved ${user.name}'s roles and spend limit.`);
    res.redirect(303, page.base(page.companyOf(req)));
  });
  return r;
}

/** /admin/customers: companies and their users, for staff. */
export function adminCustomerRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  r.get('/', async (_req, res) => res.render('admin/customers/list.njk', { companies: await s.companies.companies() }));
  r.use('/:companyId', companyUserPages(s, {
    view: 'admin/customers/company.njk',
    companyOf: (req) => parse(idParam, (req.params as { companyId?: string }).companyId),
    base: (id) => `/admin/customers/${id}`,
  }));
  return r;
}

/** /customer-center/company: a company admin manages their own company's users. */
export function companyAdminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireLogin);
  r.use(companyUserPages(s, {
    view: 'customer-center/company.njk',
    companyOf: (req) => {
      if (req.user!.companyId == null) throw new DomainError('FORBIDDEN', "Only your company's admins may manage its users.");
      return req.user!.companyId;
    },
    base: () => '/customer-center/company',
  }));
  return r;
}
