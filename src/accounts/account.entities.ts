import { ArrayType, BigIntType, Check, Entity, Enum, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export type UserRole = 'shopper' | 'buyer' | 'staff';
/** What a user may do for their company: buy, approve colleagues' carts, manage the company's users. */
export const COMPANY_ROLES = ['buyer', 'approver', 'admin'] as const;
export type CompanyRole = (typeof COMPANY_ROLES)[number];
export const COMPANY_ROLE_LABELS: Record<CompanyRole, string> = { buyer: 'Buyer', approver: 'Approver', admin: 'Company admin' };

@Unique({ name: 'companies_customer_number_key', properties: ['customerNumber'] })
@Entity({ tableName: 'companies' })
export class Company {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) customerNumber!: string;
  /** The company's own cart flow (flow settings write it in SQL; never loaded unless asked for). */
  @ManyToOne({ entity: 'Flow', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'cart_flow_id', lazy: true }) cartFlowId?: number | null;
}

@Check({ name: 'users_check', expression: "(role = 'buyer'::text) = (company_id IS NOT NULL)" })
@Check({ name: 'users_company_roles_check', expression: "company_roles <@ ARRAY['buyer'::text, 'approver'::text, 'admin'::text]" })
@Check({ name: 'users_company_roles_company_check', expression: "(cardinality(company_roles) = 0) OR (company_id IS NOT NULL)" })
@Check({ name: 'users_spend_limit_check', expression: "(spend_limit_minor IS NULL) OR ((spend_limit_minor >= 0) AND (company_id IS NOT NULL))" })
@Check({ name: 'users_staff_role_check', expression: "(staff_role IS NULL) OR ((role = 'staff'::text) AND (staff_role = ANY (ARRAY['administrator'::text, 'order_clerk'::text])))" })
@Unique({ name: 'users_email_unique', expression: 'create unique index users_email_unique on users (lower(email))' })
@Entity({ tableName: 'users' })
export class User {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) email!: string;
  @Property({ type: 'text', hidden: true, lazy: true }) passwordHash!: string;
  @Property({ type: 'text' }) name!: string;
  @Enum({ items: ['shopper', 'buyer', 'staff'], type: 'text' }) role!: UserRole;
  /** Staff only: 'administrator' or 'order_clerk' (src/accounts/staff-permissions.ts). */
  @Property({ type: 'text', nullable: true }) staffRole?: 'administrator' | 'order_clerk' | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: ArrayType, columnType: 'text[]', defaultRaw: "'{}'::text[]" }) companyRoles: Opt<CompanyRole[]> = [];
  /** Carts up to this total need no approval (null: every cart follows the company's cart flow). */
  @Property({ type: new BigIntType('number'), nullable: true }) spendLimitMinor?: number | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  /** May take records out of a final state (read in SQL by flow.service; never loaded unless asked for). */
  @Property({ type: 'boolean', default: false, lazy: true }) canReopenRecords?: boolean;
}
