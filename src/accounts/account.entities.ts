import { ArrayType, BigIntType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

export type UserRole = 'shopper' | 'buyer' | 'staff';
/** What a user may do for their company: buy, approve colleagues' carts, manage the company's users. */
export const COMPANY_ROLES = ['buyer', 'approver', 'admin'] as const;
export type CompanyRole = (typeof COMPANY_ROLES)[number];
export const COMPANY_ROLE_LABELS: Record<CompanyRole, string> = { buyer: 'Buyer', approver: 'Approver', admin: 'Company admin' };

@Entity({ tableName: 'companies' })
export class Company {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) customerNumber!: string;
}

@Entity({ tableName: 'users' })
export class User {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) email!: string;
  @Property({ type: 'text', hidden: true, lazy: true }) passwordHash!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) role!: UserRole;
  /** Staff only: 'administrator' or 'order_clerk' (src/accounts/staff-permissions.ts). */
  @Property({ type: 'text', nullable: true }) staffRole?: 'administrator' | 'order_clerk' | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: ArrayType, columnType: 'text[]', defaultRaw: "'{}'::text[]" }) companyRoles: Opt<CompanyRole[]> = [];
  /** Carts up to this total need no approval (null: every cart follows the company's cart flow). */
  @Property({ type: new BigIntType('number'), nullable: true }) spendLimitMinor?: number | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}
