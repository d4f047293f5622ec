import { BigIntType, Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/core';

/*
 * Tables the app reads and writes in plain SQL only (payments and placement, stock, sandbox gateway, import and export
 * jobs, mail templates, product images and prices, staff roles). No code loads these classes: they declare the
 * tables, constraints and indexes the migrations create, so test/db/schema-drift.test.ts checks them too.
 */

@Check({ name: 'payment_attempts_amount_check', expression: "amount_minor >= 0" })
@Check({ name: 'payment_attempts_void_check', expression: "(NOT needs_void) OR (status = 'released'::text)" })
@Index({ name: 'payment_attempts_order_idx', properties: ['orderId', 'id'] })
@Index({ name: 'payment_attempts_expiry_idx', expression: "create index payment_attempts_expiry_idx on payment_attempts (expires_at) where status = 'reserved'" })
@Unique({ name: 'payment_attempts_one_completed_per_order', expression: "create unique index payment_attempts_one_completed_per_order on payment_attempts (order_id) where status = 'completed'" })
@Unique({ name: 'payment_attempts_one_open_per_order', expression: "create unique index payment_attempts_one_open_per_order on payment_attempts (order_id) where status = 'reserved'" })
@Index({ name: 'payment_attempts_reference_idx', expression: "create index payment_attempts_reference_idx on payment_attempts (provider_reference) where provider_reference <> ''" })
@Index({ name: 'payment_attempts_void_idx', expression: 'create index payment_attempts_void_idx on payment_attempts (id) where needs_void' })
@Entity({ tableName: 'payment_attempts' })
export class PaymentAttemptRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Order', mapToPk: true, deleteRule: 'cascade', fieldName: 'order_id' }) orderId!: number;
  @Property({ type: 'integer' }) orderVersion!: number;
  @Property({ type: 'text' }) provider!: string;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Property({ type: 'text' }) currencyCode!: string;
  @Enum({ items: ['reserved', 'completed', 'released'], type: 'text', default: 'reserved' }) status!: string;
  @Property({ type: 'text', default: '' }) providerReference!: string;
  @Property({ type: 'boolean', default: false }) needsVoid!: boolean;
  @Property({ type: 'text', default: '' }) outcomeMessage!: string;
  @Property({ type: 'text', default: '' }) customerComment!: string;
  @Property({ type: 'text', default: '' }) ip!: string;
  @ManyToOne({ entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'actor_user_id' }) actorUserId?: number | null;
  @Property({ type: 'Date', columnType: 'timestamptz' }) expiresAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) finishedAt?: Date | null;
}

@Check({ name: 'payment_operations_amount_check', expression: "amount_minor >= 0" })
@Unique({ name: 'payment_operations_idempotency_key_unique', properties: ['idempotencyKey'] })
@Unique({ name: 'payment_operations_one_pending_per_order', expression: "create unique index payment_operations_one_pending_per_order on payment_operations (order_id) where status = 'pending'" })
@Index({ name: 'payment_operations_pending_since', expression: "create index payment_operations_pending_since on payment_operations (created_at) where status = 'pending'" })
@Index({ name: 'payment_operations_pending_voids', expression: "create index payment_operations_pending_voids on payment_operations (id) where status = 'pending' and operation = 'cancel'" })
@Entity({ tableName: 'payment_operations' })
export class PaymentOperationRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Order', mapToPk: true, deleteRule: 'cascade', fieldName: 'order_id' }) orderId!: number;
  @Enum({ items: ['capture', 'cancel', 'refund'], type: 'text' }) operation!: string;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Enum({ items: ['pending', 'done', 'failed'], type: 'text', default: 'pending' }) status!: string;
  @ManyToOne({ entity: 'RecordEffectRow', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'effect_id' }) effectId?: number | null;
  @ManyToOne({ entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'actor_user_id' }) actorUserId?: number | null;
  @Property({ type: 'text', default: 'staff' }) actorKind!: string;
  @Property({ type: 'text', default: 'backend' }) source!: string;
  @Property({ type: 'integer', default: 0 }) tries!: number;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) leaseUntil?: Date | null;
  @Property({ type: 'text', default: '' }) message!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) finishedAt?: Date | null;
  @Property({ type: 'uuid', defaultRaw: "gen_random_uuid()" }) idempotencyKey!: string;
}

@Check({ name: 'record_effects_amount_minor_check', expression: "amount_minor >= 0" })
@Unique({ name: 'record_effects_once', properties: ['orderId', 'returnId', 'effect', 'lineId'] })
@Unique({ name: 'record_effects_one_return_outcome', expression: "create unique index record_effects_one_return_outcome on record_effects (return_id) where effect in ('return_refund', 'replacement')" })
@Entity({ tableName: 'record_effects' })
export class RecordEffectRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Order', mapToPk: true, deleteRule: 'cascade', fieldName: 'order_id' }) orderId!: number;
  @ManyToOne({ entity: 'ReturnRequest', mapToPk: true, nullable: true, deleteRule: 'cascade', fieldName: 'return_id' }) returnId?: number | null;
  @Enum({ items: ['void', 'restock', 'return_restock', 'return_refund', 'replacement', 'shipment_capture', 'shipping_fee_capture'], type: 'text' }) effect!: string;
  @Property({ type: new BigIntType('number'), nullable: true }) lineId?: number | null;
  @Property({ type: new BigIntType('number'), default: 0 }) amountMinor!: number;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
}

@Check({ name: 'stock_reservations_quantity_check', expression: "quantity >= 0" })
@Entity({ tableName: 'stock_reservations' })
export class StockReservationRow {
  @ManyToOne({ entity: 'PaymentAttemptRow', mapToPk: true, primary: true, deleteRule: 'cascade', fieldName: 'attempt_id' }) attemptId!: number;
  @PrimaryKey({ type: new BigIntType('number') }) orderLineId!: number;
  @ManyToOne({ entity: 'Product', mapToPk: true, deleteRule: 'cascade', fieldName: 'product_id' }) productId!: number;
  @ManyToOne({ entity: 'StockLocation', mapToPk: true, fieldName: 'location_id' }) locationId!: number;
  @Property({ type: 'integer' }) quantity!: number;
}

@Check({ name: 'stock_movements_quantity_change_check', expression: "quantity_change <> 0" })
@Check({ name: 'stock_movements_resulting_quantity_check', expression: "resulting_quantity >= 0" })
@Index({ name: 'stock_movements_order_idx', expression: 'create index stock_movements_order_idx on stock_movements (order_id) where order_id is not null' })
@Index({ name: 'stock_movements_product_idx', expression: 'create index stock_movements_product_idx on stock_movements (product_id, id desc)' })
@Index({ name: 'stock_movements_return_idx', expression: 'create index stock_movements_return_idx on stock_movements (return_id) where return_id is not null' })
@Entity({ tableName: 'stock_movements' })
export class StockMovementRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Product', mapToPk: true, deleteRule: 'cascade', fieldName: 'product_id' }) productId!: number;
  @ManyToOne({ entity: 'StockLocation', mapToPk: true, fieldName: 'location_id' }) locationId!: number;
  @Property({ type: 'integer' }) quantityChange!: number;
  @Property({ type: 'integer' }) resultingQuantity!: number;
  @Enum({ items: ['received', 'counted', 'damaged', 'correction', 'order', 'release', 'cancel', 'return', 'edit', 'opening'], type: 'text' }) reason!: string;
  @Property({ type: 'text', default: '' }) note!: string;
  @ManyToOne({ entity: 'User', mapToPk: true, nullable: true, fieldName: 'actor_user_id' }) actorUserId?: number | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Enum({ items: ['staff', 'customer', 'system'], type: 'text' }) actorKind!: string;
  @Property({ type: new BigIntType('number'), nullable: true }) orderId?: number | null;
  @Property({ type: new BigIntType('number'), nullable: true }) returnId?: number | null;
}

@Unique({ name: 'sandbox_payments_attempt_unique', properties: ['provider', 'attemptKey'] })
@Entity({ tableName: 'sandbox_payments' })
export class SandboxPaymentRow {
  @PrimaryKey({ type: 'text' }) reference!: string;
  @Property({ type: 'text' }) provider!: string;
  @Property({ type: 'text' }) attemptKey!: string;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Property({ type: 'text' }) currencyCode!: string;
  @Property({ type: 'text' }) orderNumber!: string;
  @Enum({ items: ['open', 'challenge', 'authorized', 'declined', 'cancelled', 'voided', 'captured'], type: 'text' }) status!: string;
  @Property({ type: 'text', default: '' }) cardType!: string;
  @Property({ type: 'text', default: '' }) cardLast4!: string;
  @Property({ type: 'text', default: '' }) returnUrl!: string;
  @Property({ type: 'text', default: '' }) webhookUrl!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt!: Date;
}

@Entity({ tableName: 'sandbox_payment_operations' })
export class SandboxPaymentOperationRow {
  @PrimaryKey({ type: 'text' }) provider!: string;
  @PrimaryKey({ type: 'text' }) operationKey!: string;
  @Property({ type: 'text' }) reference!: string;
  @Property({ type: 'text' }) operation!: string;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Property({ type: 'boolean' }) success!: boolean;
  @Property({ type: 'text' }) message!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
}

@Check({ name: 'import_runs_already_imported_count_check', expression: "already_imported_count >= 0" })
@Check({ name: 'import_runs_failed_count_check', expression: "failed_count >= 0" })
@Check({ name: 'import_runs_imported_count_check', expression: "imported_count >= 0" })
@Check({ name: 'import_runs_orders_seen_check', expression: "orders_seen >= 0" })
@Index({ name: 'import_runs_started_idx', expression: 'create index import_runs_started_idx on import_runs (started_at desc, id desc)' })
@Entity({ tableName: 'import_runs' })
export class ImportRunRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @Property({ type: 'text', default: '' }) filename!: string;
  @Enum({ items: ['csv', 'xml'], type: 'text' }) format!: string;
  @Enum({ items: ['upload', 'paste', 'cli'], type: 'text' }) source!: string;
  @Enum({ items: ['running', 'finished', 'failed'], type: 'text', default: 'running' }) status!: string;
  @ManyToOne({ entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'user_id' }) userId?: number | null;
  @Property({ type: 'integer', default: 0 }) ordersSeen!: number;
  @Property({ type: 'integer', default: 0 }) importedCount!: number;
  @Property({ type: 'integer', default: 0 }) alreadyImportedCount!: number;
  @Property({ type: 'integer', default: 0 }) failedCount!: number;
  @Property({ type: 'text', default: '' }) message!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) startedAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) finishedAt?: Date | null;
}

@Check({ name: 'import_run_errors_line_check', expression: "line >= 0" })
@Index({ name: 'import_run_errors_run_idx', properties: ['runId', 'line', 'id'] })
@Entity({ tableName: 'import_run_errors' })
export class ImportRunErrorRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'ImportRunRow', mapToPk: true, deleteRule: 'cascade', fieldName: 'run_id' }) runId!: number;
  @Property({ type: 'integer' }) line!: number;
  @Property({ type: 'text', default: '' }) externalId!: string;
  @Property({ type: 'text' }) reason!: string;
}

@Check({ name: 'order_export_jobs_attempts_check', expression: "attempts >= 0" })
@Check({ name: 'order_export_jobs_done_check', expression: "(status <> 'done'::text) OR (exported_at IS NOT NULL)" })
@Unique({ name: 'order_export_jobs_order_unique', properties: ['orderId'] })
@Index({ name: 'order_export_jobs_due_idx', expression: "create index order_export_jobs_due_idx on order_export_jobs (next_attempt_at) where status = 'queued'" })
@Entity({ tableName: 'order_export_jobs' })
export class OrderExportJobRow {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Order', mapToPk: true, deleteRule: 'cascade', fieldName: 'order_id' }) orderId!: number;
  @Enum({ items: ['queued', 'done', 'failed'], type: 'text', default: 'queued' }) status!: string;
  @Property({ type: 'integer', default: 0 }) attempts!: number;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) nextAttemptAt!: Date;
  @Property({ type: 'text', default: '' }) lastError!: string;
  @Property({ type: 'text', nullable: true }) fileName?: string | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) exportedAt?: Date | null;
}

@Check({ name: 'export_settings_one_row', expression: "id = 1" })
@Check({ name: 'export_settings_xsl_named', expression: "(xsl_source IS NULL) = (xsl_file_name = ''::text)" })
@Entity({ tableName: 'export_settings' })
export class ExportSettingRow {
  /** One row: the key is always 1. */
  @PrimaryKey({ type: 'smallint', default: 1, autoincrement: false }) id!: number;
  @Property({ type: 'boolean', default: true }) enabled!: boolean;
  @Property({ type: 'text', default: '' }) folder!: string;
  @Property({ type: 'text', default: '' }) xslFileName!: string;
  @Property({ type: 'text', nullable: true }) xslSource?: string | null;
  @Property({ type: 'text', default: '' }) notifyEmail!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt!: Date;
}

@Check({ name: 'mail_templates_name_check', expression: "length(TRIM(BOTH FROM name)) > 0" })
@Unique({ name: 'mail_templates_name_unique', expression: 'create unique index mail_templates_name_unique on mail_templates (lower(name))' })
@Entity({ tableName: 'mail_templates' })
export class MailTemplateRow {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) body!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt!: Date;
}

@Check({ name: 'product_images_height_check', expression: "height > 0" })
@Unique({ name: 'product_images_product_id_key', properties: ['productId'] })
@Check({ name: 'product_images_thumb_height_check', expression: "thumb_height > 0" })
@Check({ name: 'product_images_thumb_width_check', expression: "thumb_width > 0" })
@Check({ name: 'product_images_width_check', expression: "width > 0" })
@Entity({ tableName: 'product_images' })
export class ProductImageRow {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @ManyToOne({ entity: 'Product', mapToPk: true, deleteRule: 'cascade', fieldName: 'product_id' }) productId!: number;
  @Property({ type: 'text' }) alt!: string;
  @Property({ type: 'integer' }) width!: number;
  @Property({ type: 'integer' }) height!: number;
  @Property({ type: 'integer' }) thumbWidth!: number;
  @Property({ type: 'integer' }) thumbHeight!: number;
  @Property({ type: 'blob' }) largeWebp!: Buffer;
  @Property({ type: 'blob' }) thumbWebp!: Buffer;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt!: Date;
}

@Check({ name: 'product_prices_period_check', expression: "(valid_to IS NULL) OR (valid_to >= valid_from)" })
@Check({ name: 'product_prices_price_check', expression: "price_minor >= 0" })
@Index({ name: 'product_prices_no_overlap', expression: "alter table product_prices add constraint product_prices_no_overlap exclude using gist (product_id with =, daterange(valid_from, valid_to, '[]') with &&)" })
@Entity({ tableName: 'product_prices' })
export class ProductPriceRow {
  @ManyToOne({ entity: 'Product', mapToPk: true, primary: true, deleteRule: 'cascade', fieldName: 'product_id' }) productId!: number;
  @PrimaryKey({ type: 'string', columnType: 'date' }) validFrom!: string;
  @Property({ type: new BigIntType('number') }) priceMinor!: number;
  @Property({ type: 'string', columnType: 'date', nullable: true }) validTo?: string | null;
}

@Entity({ tableName: 'staff_role_permissions' })
export class StaffRolePermissionRow {
  @Enum({ items: ['order_clerk'], type: 'text', primary: true }) staffRole!: string;
  @Enum({ items: ['order.edit', 'order.delete', 'payment.capture', 'payment.refund', 'settings.flows', 'settings.shop'], type: 'text', primary: true }) permission!: string;
}

/** Listed in src/db/entities.ts. */
export const sqlTableEntities = [PaymentAttemptRow, PaymentOperationRow, RecordEffectRow, StockReservationRow, StockMovementRow, SandboxPaymentRow, SandboxPaymentOperationRow, ImportRunRow, ImportRunErrorRow, OrderExportJobRow, ExportSettingRow, MailTemplateRow, ProductImageRow, ProductPriceRow, StaffRolePermissionRow];
