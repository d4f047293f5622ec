import type { MikroORM } from '@mikro-orm/postgresql';
import { CaughtMail, OutboxMessage } from '../mail/mail.entities';
import { notFound } from '../shared/errors';

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

  caughtMails() {
    return this.em.find(CaughtMail, {}, { orderBy: { id: 'desc' }, limit: 100 });
  }

  async caughtMail(id: number) {
    const mail = await this.em.findOne(CaughtMail, { id });
    if (!mail) throw notFound('The mail');
    return mail;
  }
}
