import { ArrayType, BigIntType, Check, Entity, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
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
@Check({ name: 'api_keys_name_check', expression: "(length(TRIM(BOTH FROM name)) >= 1) AND (length(TRIM(BOTH FROM name)) <= 100)" })
@Check({ name: 'api_keys_prefix_check', expression: "prefix ~ '^of_live_[A-Za-z0-9_-]{8}$'::text" })
@Check({ name: 'api_keys_revoked_check', expression: "(revoked_by_user_id IS NULL) OR (revoked_at IS NOT NULL)" })
@Check({ name: 'api_keys_scopes_check', expression: "((cardinality(scopes) >= 1) AND (cardinality(scopes) <= 3)) AND (scopes <@ ARRAY['orders:read'::text, 'orders:write'::text, 'payments:capture'::text])" })
@Check({ name: 'api_keys_secret_hash_check', expression: "secret_hash ~ '^[0-9a-f]{64}$'::text" })
@Unique({ name: 'api_keys_active_name_unique', expression: 'create unique index api_keys_active_name_unique on api_keys (lower(trim(name))) where revoked_at is null' })
@Unique({ name: 'api_keys_secret_hash_unique', properties: ['secretHash'] })
@Entity({ tableName: 'api_keys' })
export class ApiKey {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  /** The key's first characters (e.g. of_live_AbCd1234), so staff can tell keys apart. */
  @Property({ type: 'text' }) prefix!: string;
  @Property({ type: 'text', hidden: true }) secretHash!: string;
  @Property({ type: ArrayType, columnType: 'text[]' }) scopes!: ApiScope[];
  @ManyToOne({ entity: () => User, nullable: true, deleteRule: 'set null', fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) lastUsedAt?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) revokedAt?: Date | null;
  @ManyToOne({ entity: () => User, nullable: true, deleteRule: 'set null', fieldName: 'revoked_by_user_id' }) revokedBy?: User | null;
}

/** The first answer to a write sent with an Idempotency-Key; a repeat of the same request gets it again. */
@Check({ name: 'api_idempotency_keys_key_check', expression: "(length(idempotency_key) >= 1) AND (length(idempotency_key) <= 255)" })
@Check({ name: 'api_idempotency_keys_status_check', expression: "(response_status IS NULL) OR ((response_status >= 100) AND (response_status <= 599))" })
@Unique({ name: 'api_idempotency_keys_unique', properties: ['apiKey', 'idempotencyKey'] })
@Index({ name: 'api_idempotency_keys_created_idx', properties: ['createdAt'] })
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
