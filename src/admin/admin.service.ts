import { LockMode } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';

export interface ShopSettingsInput { name: string; orderPrefix: string; orderNextNumber: number; orderNumberPadding: number; cartPrefix: string; allowOutOfStockOrders: boolean; allowContextDates: boolean; vatOnOneLine: boolean }
import { CaughtMail, OutboxMessage } from '../mail/mail.entities';
import { Shop } from '../catalog/catalog.entities';
import { DEFAULT_SHOP_ID } from '../catalog/catalog.service';
import { DomainError, notFound } from '../shared/errors';

/** Read models for the staff pages that have no aggregate of their own yet. */
export class AdminService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  async dashboard() {
    const [row] = await this.em.execute<{ orders: string; not_completed: string; carts: string; queued: string }[]>(
      `select (select count(*) from orders where type = 'order' and completed) as orders,
              (select count(*) from orders where type = 'order' and not completed) as not_completed,
              (select count(*) from orders where type = 'cart' and not deleted) as carts,
              (select count(*) from outbox_messages where status <> 'sent') as queued`,
    );
    return { orders: Number(row.orders), notCompleted: Number(row.not_completed), carts: Number(row.carts), queuedMails: Number(row.queued) };
  }

  outbox() {
    return this.em.find(OutboxMessage, {}, { orderBy: { id: 'desc' }, limit: 100 });
  }

  /** Queues a mail again (after a failure, or to send it once more); the worker picks it up at once. */
  async resend(id: number): Promise<OutboxMessage> {
    const msg = await this.em.findOne(OutboxMessage, { id });
    if (!msg) throw notFound('The mail');
    msg.status = 'queued';
    msg.nextAttemptAt = new Date();
    msg.lastError = '';
    await this.em.flush();
    return msg;
  }

  shopSettings(): Promise<Shop> {
    return this.em.findOneOrFail(Shop, DEFAULT_SHOP_ID);
  }

  /**
   * Auto-numbering and stock settings. Order numbers are never reused: the next number may only go up, and the
   * first number the new settings produce must not exist yet.
   */
  async updateShopSettings(input: ShopSettingsInput): Promise<Shop> {
    return this.em.transactional(async (em) => {
      const shop = await em.findOneOrFail(Shop, DEFAULT_SHOP_ID, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (input.orderNextNumber < shop.orderNextNumber && input.orderPrefix === shop.orderPrefix) {
        throw new DomainError('VALIDATION', `Order numbers are never reused: the next number must be ${shop.orderNextNumber} or higher.`, { orderNextNumber: `must be at least ${shop.orderNextNumber}` });
      }
      const first = input.orderPrefix + String(input.orderNextNumber).padStart(input.orderNumberPadding, '0');
      const [taken] = await em.execute(`select 1 from orders where number = ?`, [first]);
      if (taken) throw new DomainError('VALIDATION', `${first} is already used by an order. Choose a higher next number or another prefix.`, { orderNextNumber: 'is already used' });
      Object.assign(shop, input);
      return shop;
    });
  }

  caughtMails() {
    return this.em.find(CaughtMail, {}, { orderBy: { id: 'desc' }, limit: 100 });
  }

  async caughtMail(id: number) {
    const mail = await this.em.findOne(CaughtMail, { id });
    if (!mail) throw notFound('The mail');
    return mail;
  }
}
