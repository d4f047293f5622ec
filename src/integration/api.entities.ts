import { ArrayType, BigIntType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';
import { User } from '../accounts/account.entities';

/** What a key may do: read orders; change states, tracking and the exported flag; capture payments. */
export const API_SCOPES = ['orders:read', 'orders:write', 'payments:capture'] as const;
export type ApiScope = (typeof API_SCOPES)[number];
export const API_SCOPE_LABELS: Record<ApiScope, string> = {
  'orders:read': 'Read orders',
  'orders:write': 'Change order states, tracking and the exported flag',
  'payments:capture': 'Capture payments',
};

/** An ERP or fulfilment system's key. The secret is shown once at creation; only its SHA-256 is kept. */
@Entity({ tableName: 'api_keys' })
export class ApiKey {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  /** The key's first characters (e.g. of_live_AbCd1234), so staff can tell keys apart. */
  @Property({ type: 'text' }) prefix!: string;
  @Property({ type: 'text', hidden: true }) secretHash!: string;
  @Property({ type: ArrayType, columnType: 'text[]' }) scopes!: ApiScope[];
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) lastUsedAt?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) revokedAt?: Date | null;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'revoked_by_user_id' }) revokedBy?: User | null;
}

/** The first answer to a write sent with an Idempotency-Key; a repeat of the same request gets it again. */
@Entity({ tableName: 'api_idempotency_keys' })
export class ApiIdempotencyRecord {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => ApiKey, fieldName: 'api_key_id', deleteRule: 'cascade' }) apiKey!: ApiKey;
  @Property({ type: 'text' }) idempotencyKey!: string;
  @Property({ type: 'text' }) requestHash!: string;
  @Property({ type: 'integer', nullable: true }) responseStatus?: number | null;
  @Property({ type: 'text', nullable: true }) responseBody?: string | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}

/** API key and idempotency entities. Listed in src/db/entities.ts. */
export const apiEntities: Function[] = [ApiKey, ApiIdempotencyRecord];
