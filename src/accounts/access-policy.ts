import { DomainError, notFound } from '../shared/errors';
import type { CompanyRole } from './account.entities';

export { assertStaffMay, staffMay } from './staff-permissions';

/**
 * Who may see and change a customer's record — a cart, an order, a quote, a return: the one access policy of the
 * storefront and the customer center. Its owner and every member of the owner's company may see it and work on it;
 * a company role (buyer, approver, company admin) counts only within the record's company (the flow rules name the
 * roles that may make a move); anyone else is answered exactly as if the record did not exist. Staff reach records
 * through the back office and the API (a key acts with its creator's staff role), where the staff role decides:
 * staffMay / assertStaffMay, exported here, whose rule reads the role's permissions (staff-permissions.ts). Every
 * refusal is a DomainError (NOT_FOUND, FORBIDDEN), mapped to its status in src/http/error-handler.ts.
 */

/** Who asks: a signed-in user (SessionUser fits). Roles are read from the database by the caller when they matter. */
export interface Viewer { id: number; companyId: number | null; companyRoles?: readonly CompanyRole[] }

/** Whom a record belongs to: the customer who made it and their company (null for a private customer). */
export interface Owned { userId: number | null; companyId: number | null }

/** An order, quote or return as loaded by the ORM. */
export interface OwnedEntity { user?: { id: number } | null; company?: { id: number } | null }

export type Relation = 'owner' | 'colleague';

export const ownerOf = (record: OwnedEntity): Owned => ({ userId: record.user?.id ?? null, companyId: record.company?.id ?? null });

/** How the viewer stands to the record: its owner, a member of its company, or a stranger (null). */
export function relationTo(viewer: Viewer, record: Owned): Relation | null {
  if (record.userId != null && record.userId === viewer.id) return 'owner';
  if (viewer.companyId != null && record.companyId === viewer.companyId) return 'colleague';
  return null;
}

/** The record the viewer may see, or the refusal: "not found", exactly like a missing one, so nothing says it exists. */
export function visibleOrRefuse<T extends OwnedEntity>(viewer: Viewer, record: T | null | undefined, what: string): T {
  if (!record || !relationTo(viewer, ownerOf(record))) throw notFound(what);
  return record;
}

/** Only the owner may do it (e.g. make an order recurring): a colleague is told why, a stranger sees "not found". */
export function ownedOrRefuse<T extends OwnedEntity>(viewer: Viewer, record: T | null | undefined, what: string, colleagueRefusal: string): T {
  const relation = record ? relationTo(viewer, ownerOf(record)) : null;
  if (!record || !relation) throw notFound(what);
  if (relation !== 'owner') throw new DomainError('FORBIDDEN', colleagueRefusal);
  return record;
}

/** Who a flow rule names for a customer's move: the record's owner, or a company role within the record's company. */
export function actsAs(viewer: Viewer, record: Owned, actor: 'owner' | CompanyRole): boolean {
  const relation = relationTo(viewer, record);
  if (actor === 'owner') return relation === 'owner';
  return relation != null && viewer.companyId != null && record.companyId === viewer.companyId && (viewer.companyRoles ?? []).includes(actor);
}

/** The same rule as an ORM filter on an entity with `user` and `company` (orders, returns). */
export function visibleFilter(viewer: Viewer) {
  return viewer.companyId != null ? { $or: [{ user: viewer.id }, { company: viewer.companyId }] } : { user: viewer.id };
}

/** The same rule as SQL over a table alias with user_id and company_id columns. */
export function visibleSql(viewer: Viewer, alias = 'o'): { sql: string; params: unknown[] } {
  return viewer.companyId != null
    ? { sql: `(${alias}.user_id = ? or ${alias}.company_id = ?)`, params: [viewer.id, viewer.companyId] }
    : { sql: `${alias}.user_id = ?`, params: [viewer.id] };
}
