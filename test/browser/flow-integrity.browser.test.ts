/**
 * Issue 12 in a real browser: a refunded return offers no further receive or refund; a cancelled order shows why it
 * cannot be moved, and staff with the reopen permission reopen it with a reason that lands in its history; an order
 * cancelled from the state select is voided and restocked like one cancelled at the payment desk.
 * The records are prepared over HTTP (the same app), the staff story runs in chromium.
 */
import type { Browser } from 'playwright-core';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, type TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

const stockOf = async (product: string) =>
  (await t.sql(`select sum(quantity)::int as n from stock_levels where product_id = (select id from products where number = $1)`, [product]))[0].n as number;

async function placedOrder(): Promise<{ number: string; id: number; customer: ReturnType<typeof newAgent> }> {
  await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1025')`);
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await addToBasket(t, customer, 'P-1025', 1);
  const number = await checkoutToReview(t, customer);
  expect((await place(customer, number)).status).toBe(303);
  const [row] = await t.sql('select id from orders where number = $1', [number]);
  return { number, id: Number(row.id), customer };
}

describe('final states and effects once, in a browser', () => {
  it('a refunded return offers nothing more; a cancelled order says why it stays, and is reopened with a reason', async () => {
    // A shipped, captured order whose return was received and refunded.
    const staffHttp = await staffAgent(t);
    const shipped = await placedOrder();
    await postForm(staffHttp, `/admin/orders/${shipped.number}/capture`, {}, `/admin/orders/${shipped.number}`);
    const [shippedState] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.is_default and f.type = 'order' and s.role = 'shipped'`);
    await t.sql(`with moved as (update orders set state_id = $1 where id = $2 returning id)
      insert into order_state_history (order_id, to_state_id, event, actor_kind, source) select id, $1, 'state_changed', 'system', 'system' from moved`, [shippedState.id, shipped.id]);
    const [line] = await t.sql('select id from order_lines where order_id = $1', [shipped.id]);
    const filed = await postForm(shipped.customer, '/customer-center/returns', { orderNumber: shipped.number, reason: 'Wrong item', comment: '', resolution: 'refund', [`line_${line.id}`]: 1 },
      `/customer-center/returns/new?order=${shipped.number}`);
    const rma = /(RMA\d+)/.exec(filed.headers.location)![1];
    for (const step of ['approve', 'receive']) await postForm(staffHttp, `/admin/returns/${rma}/${step}`, {}, `/admin/returns/${rma}`);
    const cancelled = await placedOrder();

    const failures: string[] = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const staff = await trackedPage(context, failures, 'staff', { serverErrors: true });
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');

    // Refund the return from its page; afterwards it offers neither receive nor refund and says why.
    await staff.goto(`${baseUrl}/admin/returns/${rma}`);
    await staff.getByRole('button', { name: 'Refund', exact: true }).click();
    await submit(staff, staff.getByRole('dialog').getByRole('button', { name: /^Refund / }), `${baseUrl}/admin/returns/${rma}`);
    expect(await textOf(staff.getByText('This return is finished'))).toContain('is a final state');
    expect(await staff.getByRole('button', { name: 'Refund', exact: true }).count()).toBe(0);
    expect(await staff.getByRole('button', { name: 'Mark goods received' }).count()).toBe(0);

    // Cancel the other order from its toolbar (confirmed in the dialog): the state control gives way to the reason and the reopen form.
    const orderUrl = `${baseUrl}/admin/orders/${cancelled.number}`;
    await staff.goto(orderUrl);
    await staff.getByRole('button', { name: 'Cancel order…' }).click();
    await submit(staff, staff.getByRole('dialog').getByRole('button', { name: `Cancel ${cancelled.number}` }), orderUrl);
    expect(await textOf(staff.locator('#final-note'))).toContain('is a final state');
    expect(await staff.getByRole('button', { name: 'Save state' }).count()).toBe(0);
    await staff.getByLabel('Reopen into').selectOption({ label: 'New' });
    await staff.getByLabel('Why (kept in the history)').fill('Customer called back: ship it after all');
    await submit(staff, staff.getByRole('button', { name: 'Reopen' }), orderUrl);
    await visible(staff.getByText('Customer called back: ship it after all'));
    await visible(staff.getByRole('button', { name: 'Save state' }));
    const [voids] = await t.sql(`select count(*)::int as n from payment_transactions where order_id = $1 and operation = 'cancel'`, [cancelled.id]);
    expect(voids.n).toBe(1);

    // A third order is cancelled from the state select, not the payment desk: the same effects — voided once, stock back once.
    const picked = await placedOrder();
    const stockBefore = await stockOf('P-1025');
    const pickedUrl = `${baseUrl}/admin/orders/${picked.number}`;
    await staff.goto(pickedUrl);
    await staff.getByRole('combobox', { name: 'State (flow → state)' }).selectOption({ label: 'Standard order flow → Cancelled' });
    await submit(staff, staff.getByRole('button', { name: 'Save state' }), pickedUrl);
    expect(await textOf(staff.locator('#final-note'))).toContain('is a final state');
    expect(await stockOf('P-1025')).toBe(stockBefore + 1);
    const [facts] = await t.sql(`select o.payment_status, (select count(*)::int from payment_transactions p where p.order_id = o.id and p.operation = 'cancel' and p.success) as voids
      from orders o where o.id = $1`, [picked.id]);
    expect(facts).toEqual({ payment_status: 'cancelled', voids: 1 });
    expect(failures).toEqual([]);
    await context.close();
  }, 90_000);
});
