import { BigIntType, Entity, Enum, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export type OutboxStatus = 'queued' | 'sent' | 'failed';

/** A mail written in the same transaction as the change that caused it; the mail worker sends it. */
@Unique({ name: 'outbox_messages_dedupe_key_key', properties: ['dedupeKey'] })
@Index({ name: 'outbox_due_idx', expression: "create index outbox_due_idx on outbox_messages (next_attempt_at) where status = 'queued'" })
@Entity({ tableName: 'outbox_messages' })
export class OutboxMessage {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @Property({ type: 'text' }) kind: Opt<string> = 'email';
  /** Makes enqueueing idempotent: the same event never queues the same mail twice. */
  @Property({ type: 'text', nullable: true }) dedupeKey?: string | null;
  @Property({ type: 'text' }) fromAddress!: string;
  @Property({ type: 'text' }) toAddress!: string;
  @Property({ type: 'text' }) subject!: string;
  @Property({ type: 'text' }) html!: string;
  @Property({ type: 'text' }) text!: string;
  @Enum({ items: ['queued', 'sent', 'failed'], type: 'text' }) status: Opt<OutboxStatus> = 'queued';
  @Property({ type: 'integer' }) attempts: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) nextAttemptAt: Opt<Date> = new Date();
  @Property({ type: 'text' }) lastError: Opt<string> = '';
  @ManyToOne({ entity: 'Order', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'order_id' }) orderId?: number | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) sentAt?: Date | null;
  /** The state change that queued this notification, if any. */
  @ManyToOne({ entity: 'OrderHistoryEntry', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'state_history_id' }) stateHistoryId?: number | null;
  /** Files sent with the mail, base64 (see OutboxService). */
  @Property({ type: 'json', lazy: true, defaultRaw: "'[]'::jsonb" }) attachments: Opt<{ filename: string; contentType: string; contentBase64: string }[]> = [];
}

/** A mail received by the built-in SMTP catcher (demo mode), readable by staff in the admin. */
@Entity({ tableName: 'caught_mails' })
export class CaughtMail {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @Property({ type: 'text' }) fromAddress!: string;
  @Property({ type: 'text' }) toAddress!: string;
  @Property({ type: 'text' }) subject!: string;
  @Property({ type: 'text' }) html: Opt<string> = '';
  @Property({ type: 'text' }) text: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) receivedAt: Opt<Date> = new Date();
}

