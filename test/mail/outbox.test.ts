import { SMTPServer } from 'smtp-server';
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

  it('a mail the server refuses is retried later, or given up after its last attempt, while the mails claimed with it are sent', async () => {
    // A mail server that refuses one mailbox and accepts the rest: the worker claims all three mails together.
    const delivered: string[] = [];
    const relay = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onRcptTo(address, _session, callback) {
        callback(address.address.startsWith('gone') ? Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }) : undefined);
      },
      onData(stream, session, callback) {
        stream.on('end', () => { delivered.push(...session.envelope.rcptTo.map((r) => r.address)); callback(); });
        stream.resume();
      },
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
    const port = (relay.server.address() as { port: number }).port;
    await t.worker.sendDue();
    const rows = await t.sql(
      `insert into outbox_messages (from_address, to_address, subject, html, text, attempts)
       values ('shop@orderflow.test', 'gone@example.test', 'Refused once', '<p>a</p>', 'a', 0),
              ('shop@orderflow.test', 'gone-for-good@example.test', 'Refused the last time', '<p>b</p>', 'b', 7),
              ('shop@orderflow.test', 'kim@example.test', 'Accepted', '<p>c</p>', 'c', 0)
       returning id, subject`);
    const worker = new MailWorker(t.orm, `smtp://127.0.0.1:${port}`);
    try {
      expect(await worker.sendDue()).toBe(1);
    } finally {
      worker.close();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
    expect(delivered).toEqual(['kim@example.test']);
    const after = await t.sql(
      `select subject, status, attempts, last_error, next_attempt_at > now() as later, sent_at is not null as has_sent_at
       from outbox_messages where id = any($1::bigint[]) order by id`, [rows.map((r) => r.id)]);
    expect(after).toEqual([
      expect.objectContaining({ subject: 'Refused once', status: 'queued', attempts: 1, later: true, has_sent_at: false }),
      expect.objectContaining({ subject: 'Refused the last time', status: 'failed', attempts: 8, has_sent_at: false }),
      expect.objectContaining({ subject: 'Accepted', status: 'sent', attempts: 1, last_error: '', has_sent_at: true }),
    ]);
    expect(after[0].last_error).toMatch(/550|mailbox unavailable/);
    expect(after[1].last_error).toMatch(/550|mailbox unavailable/);
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
