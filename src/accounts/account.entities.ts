import { Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

export type UserRole = 'shopper' | 'buyer' | 'staff';

@Entity({ tableName: 'companies' })
export class Company {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) name!: string;
  @Property({ type: 'string' }) customerNumber!: string;
}

@Entity({ tableName: 'users' })
export class User {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) email!: string;
  @Property({ type: 'string', hidden: true, lazy: true }) passwordHash!: string;
  @Property({ type: 'string' }) name!: string;
  @Property({ type: 'string' }) role!: UserRole;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: 'Date', columnType: 'timestamptz' }) createdAt: Opt<Date> = new Date();
}
