import { LockMode } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { DomainError, notFound } from '../shared/errors';
import type { SessionUser } from './account.service';
import { Company, User, type CompanyRole } from './account.entities';

export interface CompanyAccess { roles: CompanyRole[]; spendLimitMinor: number | null }

/**
 * Company users' roles (buyer, approver, company admin) and spend limits. Staff set them for any company; a company
 * admin for the users of their own company. The flow rules and checkout read them from here (users table).
 */
export class CompanyService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  async companies() {
    return this.em.execute<{ id: number; name: string; customer_number: string; users: number; cart_flow: string | null }[]>(
      `select c.id, c.name, c.customer_number, (select count(*)::int from users u where u.company_id = c.id) as users, f.name as cart_flow
       from companies c left join flows f on f.id = c.cart_flow_id order by c.name`);
  }

  /** One company with its users, for staff or for one of its company admins. */
  async company(by: SessionUser, companyId: number) {
    await this.assertMayManage(by, companyId);
    const company = await this.em.findOne(Company, companyId);
    if (!company) throw notFound('The company');
    const users = await this.em.find(User, { company: companyId }, { orderBy: { name: 'asc', id: 'asc' } });
    return { company, users };
  }

  /** Sets one company user's roles and spend limit. A company admin cannot take away their own admin role (no lock-out). */
  async setAccess(by: SessionUser, companyId: number, userId: number, access: CompanyAccess): Promise<User> {
    return this.em.transactional(async (em) => {
      await this.assertMayManage(by, companyId);
      const user = await em.findOne(User, { id: userId, company: companyId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!user) throw notFound('That user of the company');
      if (user.id === by.id && by.role !== 'staff' && !access.roles.includes('admin')) {
        throw new DomainError('CONFLICT', 'You cannot take away your own company admin role. Ask another company admin or the shop.', { roles: 'keep company admin' });
      }
      user.companyRoles = [...new Set(access.roles)];
      user.spendLimitMinor = access.spendLimitMinor;
      return user;
    });
  }

  /** Staff manage every company; a customer only their own company, and only as its company admin (read from the database). */
  private async assertMayManage(by: SessionUser, companyId: number): Promise<void> {
    if (by.role === 'staff') return;
    const [me] = await this.em.execute<{ company_id: number | null; company_roles: CompanyRole[] }[]>('select company_id, company_roles from users where id = ?', [by.id]);
    if (me?.company_id !== companyId || !me.company_roles.includes('admin')) throw new DomainError('FORBIDDEN', "Only your company's admins may manage its users.");
  }
}
