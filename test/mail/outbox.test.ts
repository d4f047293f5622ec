import { MailWorker } from '../../src/mail/outbox.service';
import { placeGuestOrder } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const placeOrder = () => placeGuestOrder(t, 'P-1041');

describe('mail outbox', () => {
  it('loses no receipt when the mail server is down: the mail waits, is retried with backoff, and is sent once', async () => {
    const number = await placeOrder();
    const [queued] = await t.sql(`select id, status from outbox_messages where subject = $1`, [`Order confirmation ${number}`]);
    expect(queued.status).toBe('queued');

    const down = new MailWorker(t.orm, 'smtp://127.0.0.1:9'); // nothing listens there
    expect(await down.sendDue()).toBe(0);
    down.close();
    const [failed] = await t.sql(`select status, attempts, last_error, next_attempt_at > now() as later from outbox_messages where id = $1`, [queued.id]);
    expect(failed).toMatchObject({ status: 'queued', attempts: 1, later: true });
    expect(failed.last_error).toMatch(/ECONNREFUSED|connect/);

    // Not due yet: the healthy worker leaves it alone until the backoff has passed.
    expect(await t.worker.sendDue()).toBe(0);
    await t.sql(`update outbox_messages set next_attempt_at = now() where id = $1`, [queued.id]);
    expect(await t.worker.sendDue()).toBe(1);
    await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${number}`));
    expect(await t.worker.sendDue()).toBe(0);
    expect(t.mails.filter((m) => m.subject === `Order confirmation ${number}`)).toHaveLength(1);
    const [sent] = await t.sql(`select status, attempts, sent_at is not null as has_sent_at from outbox_messages where id = $1`, [queued.id]);
    expect(sent).toEqual({ status: 'sent', attempts: 2, has_sent_at: true });
  });

  it('two workers sending at once never send the same mail twice', async () => {
    const numbers = [await placeOrder(), await placeOrder(), await placeOrder()];
    const second = new MailWorker(t.orm, t.smtp.url);
    const [a, b] = await Promise.all([t.worker.sendDue(), second.sendDue()]);
    second.close();
    expect(a + b).toBe(3);
    for (const n of numbers) {
      await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${n}`));
      expect(t.mails.filter((m) => m.subject === `Order confirmation ${n}`)).toHaveLength(1);
    }
  });

  it('shows staff the outgoing mail with its status', async () => {
    const staff = await staffAgent(t);
    const page = await staff.get('/admin/mail').expect(200);
    expect(page.text).toContain('Order confirmation ORDER');
    expect(page.text).toContain('status-sent');
  });
});

describe('resending mail', () => {
  it('lets staff queue a failed mail again, and it is then delivered', async () => {
    const number = await placeOrder();
    const [msg] = await t.sql(`select id from outbox_messages where subject = $1`, [`Order confirmation ${number}`]);
    await t.sql(`update outbox_messages set status = 'failed', attempts = 8, last_error = 'mailbox unavailable' where id = $1`, [msg.id]);
    expect(await t.worker.sendDue()).toBe(0);
    const staff = await staffAgent(t);
    const page = await staff.get('/admin/mail');
    expect(page.text).toContain('mailbox unavailable');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const res = await staff.post(`/admin/mail/${msg.id}/resend`).type('form').send({ _csrf: token });
    expect(res.status).toBe(303);
    expect(await t.worker.sendDue()).toBe(1);
    await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${number}`));
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    const refused = await postForm(customer, `/admin/mail/${msg.id}/resend`, {});
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('for shop staff only');
  });
});
