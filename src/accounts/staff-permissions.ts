/**
 * Staff roles and what each may do (cart-and-order-details.txt, "Edit and delete permissions"). A staff role is a
 * staff user's role in the back office — not a B2B company role. Administrators may do everything, always (so the
 * shop can never lock itself out); what an order clerk may do is a setting. The services ask `assertStaffMay` before
 * acting; API keys act with the role of the staff user who created them (see docs in README).
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import type { RequestHandler } from 'express';
import { DomainError, invalid, notFound } from '../shared/errors';
import { User } from './account.entities';

export const STAFF_ROLES = ['administrator', 'order_clerk'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];
export const STAFF_ROLE_LABELS: Record<StaffRole, string> = { administrator: 'Administrator', order_clerk: 'Order clerk' };

export const STAFF_PERMISSIONS = ['order.edit', 'order.delete', 'payment.capture', 'payment.refund', 'settings.flows', 'settings.shop'] as const;
export type StaffPermission = (typeof STAFF_PERMISSIONS)[number];
/** Labels, as "may …" phrases for refusals and the settings page. */
export const STAFF_PERMISSION_LABELS: Record<StaffPermission, string> = {
  'order.edit': 'edit placed orders',
  'order.delete': 'delete and restore orders',
  'payment.capture': 'capture and cancel payments',
  'payment.refund': 'refund payments',
  'settings.flows': 'change flow settings',
  'settings.shop': 'change shop, export, mail template, order field and track & trace settings',
};

/** A staff user's role; a staff user without one counts as an order clerk (least privilege). Null for non-staff. */
export function staffRoleOf(user: { role: string; staffRole?: string | null }): StaffRole | null {
  if (user.role !== 'staff') return null;
  return user.staffRole === 'administrator' ? 'administrator' : 'order_clerk';
}

/** Whether the user may do it now (read from the database, so a changed setting counts at once). Null = the system. */
export async function staffMay(em: EntityManager, userId: number | null, permission: StaffPermission): Promise<boolean> {
  if (userId == null) return true;
  const [row] = await em.execute<{ role: string; staff_role: string | null; granted: boolean }[]>(
    `select u.role, u.staff_role, exists (select 1 from staff_role_permissions p where p.staff_role = coalesce(u.staff_role, 'order_clerk') and p.permission = ?) as granted
     from users u where u.id = ?`,
    [permission, userId],
  );
  if (!row || row.role !== 'staff') return false;
  return row.staff_role === 'administrator' || row.granted;
}

/** Refuses (403) unless the user's staff role has the permission. `userId` null is the system (jobs), always allowed. */
export async function assertStaffMay(em: EntityManager, userId: number | null, permission: StaffPermission): Promise<void> {
  if (await staffMay(em, userId, permission)) return;
  throw new DomainError('FORBIDDEN', `Your staff role may not ${STAFF_PERMISSION_LABELS[permission]}. An administrator can allow it under Settings → Staff roles.`);
}

export interface StaffRoleSettings {
  permissions: { key: StaffPermission; label: string; granted: Record<StaffRole, boolean> }[];
  staff: { id: number; name: string; email: string; staffRole: StaffRole }[];
}

/** The staff roles page: what order clerks may do, and which role each staff user has. Administrators only. */
export class StaffRoleService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /**
   * For settings pages whose services take no actor (flow, shop and export settings): every write (non-GET) request
   * needs the permission, checked before the service is called. A page (GET) is shown to every staff user, saying
   * first when their role may look but not change (`readOnlyBecause`, shown by the admin navigation), so nobody
   * fills in a form only to be refused. Mount after requireStaff.
   */
  writesNeed(permission: StaffPermission): RequestHandler {
    return (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        assertStaffMay(this.em, req.user?.id ?? -1, permission).then(() => next(), next);
        return;
      }
      staffMay(this.em, req.user?.id ?? -1, permission).then((may) => {
        if (!may) res.locals.readOnlyBecause = STAFF_PERMISSION_LABELS[permission];
        next();
      }, next);
    };
  }

  async settings(): Promise<StaffRoleSettings> {
    const rows = await this.em.execute<{ staff_role: StaffRole; permission: StaffPermission }[]>('select staff_role, permission from staff_role_permissions');
    const users = await this.em.find(User, { role: 'staff' }, { orderBy: { name: 'asc', id: 'asc' } });
    return {
      permissions: STAFF_PERMISSIONS.map((key) => ({
        key, label: STAFF_PERMISSION_LABELS[key],
        granted: { administrator: true, order_clerk: rows.some((r) => r.staff_role === 'order_clerk' && r.permission === key) },
      })),
      staff: users.map((u) => ({ id: u.id, name: u.name, email: u.email, staffRole: staffRoleOf(u)! })),
    };
  }

  /** Replaces what order clerks may do. */
  async saveClerkPermissions(actorUserId: number, granted: StaffPermission[]): Promise<void> {
    await this.em.transactional(async (em) => {
      await assertAdministrator(em, actorUserId);
      await em.execute(`delete from staff_role_permissions where staff_role = 'order_clerk'`);
      for (const permission of new Set(granted)) {
        await em.execute(`insert into staff_role_permissions (staff_role, permission) values ('order_clerk', ?)`, [permission]);
      }
    });
  }

  /** Gives a staff user another role; the last administrator cannot be made an order clerk. */
  async setStaffRole(actorUserId: number, userId: number, staffRole: StaffRole): Promise<User> {
    return this.em.transactional(async (em) => {
      await assertAdministrator(em, actorUserId);
      // Every administrator row locked, in id order: two administrators demoting each other cannot both succeed.
      await em.execute(`select id from users where staff_role = 'administrator' order by id for update`);
      const user = await em.findOne(User, { id: userId, role: 'staff' }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!user) throw notFound('The staff user');
      if (staffRoleOf(user) === 'administrator' && staffRole !== 'administrator') {
        const [{ n }] = await em.execute<{ n: number }[]>(`select count(*)::int as n from users where role = 'staff' and staff_role = 'administrator'`);
        if (Number(n) <= 1) throw invalid(`${user.name} is the only administrator, so the role cannot change: make someone else an administrator first.`, { [`role_${user.id}`]: 'must stay Administrator' });
      }
      user.staffRole = staffRole;
      return user;
    });
  }
}

async function assertAdministrator(em: EntityManager, userId: number): Promise<void> {
  const [row] = await em.execute<{ staff_role: string | null; role: string }[]>('select role, staff_role from users where id = ?', [userId]);
  if (row?.role !== 'staff' || row.staff_role !== 'administrator') throw new DomainError('FORBIDDEN', 'Only administrators may change staff roles and their permissions.');
}

