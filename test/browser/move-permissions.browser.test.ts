/**
 * Who may make each move, in a real browser: a buyer who submitted a cart is never offered its approval (a
 * colleague who approves is); staff see only the moves the rules allow, and a move refused because a colleague
 * moved the order meanwhile comes back on the same staff page, the reason next to the state control and the
 * typed message kept.
 */
import type { Browser } from 'playwright-core';
import { addToBasket, placeGuestOrder } from '../helpers/shopping';
import { login, newAgent, stockAndPrice, type TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

const stateId = async (flow: string, name: string) =>
  (await t.sql('select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = $1 and s.name = $2', [flow, name]))[0].id as number;

describe('moves offered and refused, in a browser', () => {
  it('the submitter is not offered the approval; staff see only allowed moves and a refused move stays on the page', async () => {
    const failures: string[] = [];
    // Bea is a buyer and an approver; her cart is above her spend limit, so it needs approval.
    await t.sql(`update users set company_roles = '{buyer,approver}' where email = 'buyer1@acme.test'`);
    await stockAndPrice(t, ['P-1030'], 40000, 2500);
    const agent = newAgent(t);
    await login(agent, 'buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, agent, 'P-1030');
    const [{ number: cart }] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = 'buyer1@acme.test' and o.basket_status = 'basket'`);

    const beaContext = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const bea = await trackedPage(beaContext, failures, 'bea');
    await logIn(bea, baseUrl, 'buyer1@acme.test', 'buyer-pass-1', '/');
    await bea.goto(`${baseUrl}/customer-center?CC=Carts`);
    const form = bea.locator('form#ChangeDraftStatusForm');
    const select = form.getByRole('combobox', { name: `Change state of ${cart} to` });
    expect(await select.getByRole('option').allTextContents()).toEqual(['Submitted for approval']);
    await submit(bea, form.getByRole('button', { name: 'Change state' }), `${baseUrl}/customer-center?CC=Carts`);
    // Submitted by her: she may reject (withdraw) it, never approve it.
    expect(await select.getByRole('option').allTextContents()).toEqual(['Rejected']);
    // A crafted post of the approval from her page (the option's value swapped for the approved state) is refused there.
    const approvedId = await stateId('B2B cart approval', 'Approved');
    await select.evaluate((el, id) => { (el as unknown as { options: { value: string }[] }).options[0].value = String(id); }, approvedId);
    await submit(bea, form.getByRole('button', { name: 'Change state' }), /\/customer-center/);
    expect(await textOf(bea.locator(`#StateID-${cart}-error`))).toContain(`You submitted ${cart} for approval, so someone else must approve it.`);
    const [{ role }] = await t.sql('select s.role from orders o join flow_states s on s.id = o.state_id where o.number = $1', [cart]);
    expect(role).toBe('submitted');

    // Staff: the order page offers only the rules' targets.
    const number = await placeGuestOrder(t, 'P-1020');
    const staffContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const staff = await trackedPage(staffContext, failures, 'staff');
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await staff.goto(`${baseUrl}/admin/orders/${number}`);
    const stateSelect = staff.getByRole('combobox', { name: 'State (flow → state)' });
    expect(await stateSelect.getByRole('option').allTextContents()).toEqual(['Choose a state', 'Standard order flow → Received', 'Standard order flow → Cancelled']);

    // A colleague moves the order on while this page is open; the stale move is refused right here.
    const [{ id: orderId }] = await t.sql('select id from orders where number = $1', [number]);
    await t.services.flows.changeState({ orderId, toStateId: await stateId('Standard order flow', 'Received'), actor: { userId: null, kind: 'system', source: 'system' } });
    await stateSelect.selectOption({ label: 'Standard order flow → Cancelled' });
    await staff.getByRole('textbox', { name: /Note with the state change/ }).fill('Sorry, we cannot deliver this');
    await submit(staff, staff.getByRole('button', { name: 'Save state' }), `${baseUrl}/admin/orders/${number}/state`);
    expect(await textOf(staff.getByRole('alert'))).toBe(`${number} was changed by someone else meanwhile. Look at it as it is now, then try again.`);
    expect(await staff.getByRole('textbox', { name: /Note with the state change/ }).inputValue()).toBe('Sorry, we cannot deliver this');
    await visible(staff.getByRole('heading', { level: 1, name: `${number} Received` }));
    expect(await staff.getByRole('link', { name: 'Continue shopping' }).count()).toBe(0);
    // The page shows the moves allowed now, and a second try goes through.
    expect(await stateSelect.getByRole('option').allTextContents()).toEqual(['Choose a state', 'Standard order flow → Picked', 'Standard order flow → Cancelled']);
    await stateSelect.selectOption({ label: 'Standard order flow → Cancelled' });
    await submit(staff, staff.getByRole('button', { name: 'Save state' }), `${baseUrl}/admin/orders/${number}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${number} Cancelled` }));
    const [h] = await t.sql(`select message from order_state_history where order_id = $1 and event = 'state_changed' order by id desc limit 1`, [orderId]);
    expect(h.message).toBe('Sorry, we cannot deliver this');

    // The refused move answers 409 on purpose (chromium logs it); nothing else may fail.
    expect(failures.filter((f) => !f.includes('status of 409 (Conflict)'))).toEqual([]);
    await beaContext.close();
    await staffContext.close();
  }, 90_000);
});
