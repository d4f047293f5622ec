import type { MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { invalid } from '../shared/errors';
import { User } from './account.entities';
import { DUMMY_HASH, hashPassword, verifyPassword } from './password';
import { staffRoleOf, type StaffRole } from './staff-permissions';

/** What a request knows about its signed-in user (kept small: only the id is in the session). */
export interface SessionUser {
  id: number; email: string; name: string; role: User['role']; companyId: number | null;
  /** For showing the company's pages; every rule reads the roles from the database again. */
  companyRoles?: User['companyRoles'];
  /** Staff users' back-office role (administrator / order clerk); null for everyone else. */
  staffRole: StaffRole | null;
}

export class AccountService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /**
   * A new account: a shopper from the register page, a staff user from `npm run staff:create` — an administrator
   * unless told otherwise, so a new shop's first staff user can reach every setting.
   */
  async register(input: { email: string; name: string; password: string }, role: 'shopper' | 'staff' = 'shopper', staffRole: StaffRole = 'administrator'): Promise<SessionUser> {
    const user = this.em.create(User, {
      email: input.email.toLowerCase(), name: input.name, role, staffRole: role === 'staff' ? staffRole : null,
      passwordHash: await hashPassword(input.password), createdAt: new Date(),
    });
    try {
      await this.em.flush();
    } catch (e) {
      if (e instanceof UniqueConstraintViolationException) throw invalid('An account with that e-mail already exists.', { email: 'is already registered' });
      throw e;
    }
    return toSessionUser(user);
  }

  /** Returns the user for a correct e-mail and password, null otherwise (never says which was wrong). */
  async verifyCredentials(email: string, password: string): Promise<SessionUser | null> {
    // Raw form values: no e-mail holds a NUL (PostgreSQL text cannot), so such a login is just a wrong one, not a 500.
    const lookup = typeof email === 'string' && !email.includes('\u0000') ? email.toLowerCase() : null;
    const user = lookup ? await this.em.findOne(User, { email: lookup }, { populate: ['passwordHash'] }) : null;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    return ok && user ? toSessionUser(user) : null;
  }

  /** The session's user read again (each write request, see src/http/auth.ts): the columns pages need, no entity. */
  async findSessionUser(id: number): Promise<SessionUser | null> {
    const [row] = await this.em.execute<{ id: number; email: string; name: string; role: User['role']; staff_role: User['staffRole']; company_id: number | null; company_roles: User['companyRoles'] }[]>(
      'select id, email, name, role, staff_role, company_id, company_roles from users where id = ?', [id]);
    return row ? sessionUser({ ...row, staffRole: row.staff_role, companyId: row.company_id, companyRoles: row.company_roles }) : null;
  }
}

function toSessionUser(u: User): SessionUser {
  return sessionUser({ ...u, companyId: u.company?.id ?? null });
}

function sessionUser(u: Pick<User, 'id' | 'email' | 'name' | 'role' | 'staffRole' | 'companyRoles'> & { companyId: number | null }): SessionUser {
  return { id: u.id, email: u.email, name: u.name, role: u.role, companyId: u.companyId, companyRoles: u.companyRoles, staffRole: staffRoleOf(u) };
}
