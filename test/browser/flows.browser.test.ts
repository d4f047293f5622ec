/**
 * A cart-approval story in a real browser (Debian's chromium through playwright-core) against the real app,
 * with two people in two browser contexts:
 *   staff builds a cart flow on the settings pages (states, "Allow order", a notification, "May move to" rules) →
 *   a buyer's basket starts in it and cannot be checked out → the buyer asks for approval in the customer center →
 *   the approver is mailed → staff approves the cart on its details page → the buyer checks out and gets a receipt.
 * Locators are accessible ones (role, label), so the test also proves every control it uses has a name.
 */
import type { Browser, Page } from 'playwright-core';
import { waitFor, type TestApp } from '../helpers/test-app';
import {
  fillBillingAddress, logIn, methodsToReview, searchAndAdd, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp,
} from '../helpers/browser';

const FLOW = 'Approval test flow';
const PRODUCT = 'Espresso beans 1 kg';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

/** Fills the "New state" form of the flow whose page is open, creates the state and returns to the flow page. */
async function createState(page: Page, flowUrl: string, fill: (form: Page) => Promise<void>): Promise<void> {
  await page.getByRole('link', { name: 'New state', exact: true }).click();
  await page.waitForURL(`${flowUrl}/states/new`);
  await visible(page.getByRole('heading', { name: `New state in “${FLOW}”` }));
  await fill(page);
  await submit(page, page.getByRole('button', { name: 'Create state' }), flowUrl);
}

/**
 * Opens a state's editor from the flow page, checks the given "May move to" states of this flow (and, for each, the
 * customers who may make that move besides staff) and saves.
 */
async function allowMoves(page: Page, flowUrl: string, stateName: string, mayMoveTo: string[], customers: string[] = []): Promise<void> {
  await page.getByRole('link', { name: `Edit ${stateName}`, exact: true }).click();
  await page.waitForURL(new RegExp(`^${flowUrl}/states/\\d+$`));
  const editorUrl = page.url();
  await visible(page.getByRole('heading', { name: `State “${stateName}”` }));
  // The group of this flow's own states: other cart flows have states with the same names (e.g. "Approved").
  const ownStates = page.getByRole('region', { name: 'May move to' }).getByRole('group', { name: `${FLOW} (this flow)` });
  for (const name of mayMoveTo) {
    await ownStates.getByRole('checkbox', { name, exact: true }).check();
    const rule = ownStates.getByRole('listitem').filter({ has: page.getByRole('checkbox', { name, exact: true }) });
    for (const who of customers) await rule.getByRole('group', { name: 'Who may make this move, besides staff' }).getByRole('checkbox', { name: who }).check();
  }
  await submit(page, page.getByRole('button', { name: 'Save state' }), editorUrl);
  for (const name of mayMoveTo) expect(await ownStates.getByRole('checkbox', { name, exact: true }).isChecked()).toBe(true);
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: FLOW }).click();
  await page.waitForURL(flowUrl);
}

describe('a cart flow with approval, in a browser', () => {
  it('staff builds an approval flow; a buyer asks for approval, the approver is mailed, staff approves, the buyer orders', async () => {
    const failures: string[] = [];
    // Without a spend limit every cart of the buyer waits for approval (a limit would let this small cart through).
    await t.sql(`update users set spend_limit_minor = null where email = 'buyer1@acme.test'`);
    const staffContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const buyerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const staff = await trackedPage(staffContext, failures, 'staff');
    const buyer = await trackedPage(buyerContext, failures, 'buyer');

    // 1. Staff logs in and creates the cart flow on the settings pages.
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await visible(staff.getByRole('heading', { level: 1, name: 'Admin' }));
    await staff.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Flows' }).click();
    await staff.waitForURL(`${baseUrl}/admin/settings/flows`);
    await staff.getByRole('region', { name: 'Cart flows' }).getByRole('link', { name: 'New cart flow' }).click();
    await staff.waitForURL(`${baseUrl}/admin/settings/flows/new?type=cart`);
    expect(await staff.getByRole('radio', { name: 'Cart flow' }).isChecked()).toBe(true);
    await staff.getByRole('textbox', { name: 'Name', exact: true }).fill(FLOW);
    await staff.getByLabel('Description (optional)').fill('Carts wait for an approver before they can be ordered.');
    await submit(staff, staff.getByRole('button', { name: 'Create flow' }), /\/admin\/settings\/flows\/\d+$/);
    const flowUrl = staff.url();
    await visible(staff.getByRole('heading', { name: new RegExp(`^${FLOW} Cart flow`) }));
    await visible(staff.getByText('This flow has no states yet.'));

    // "Draft": the first state, so it becomes the default; a cart in it may not be ordered.
    await createState(staff, flowUrl, async (p) => {
      await p.getByRole('textbox', { name: 'Name', exact: true }).fill('Draft');
      const allowOrder = p.getByRole('checkbox', { name: 'Allow order', exact: true });
      expect(await allowOrder.isChecked()).toBe(true); // a new state allows ordering unless unchecked
      await allowOrder.uncheck();
    });
    // "Waiting for approval": not orderable, and mails the approver when a cart enters it.
    await createState(staff, flowUrl, async (p) => {
      await p.getByRole('textbox', { name: 'Name', exact: true }).fill('Waiting for approval');
      await p.getByRole('checkbox', { name: 'Allow order', exact: true }).uncheck();
      await p.getByLabel('Subject', { exact: true }).fill('Cart {OrderID} needs approval');
      const others = p.getByRole('group', { name: 'Send to others' });
      await others.getByLabel('Other recipients').fill('approver@example.test');
      await others.getByLabel('Template for others').selectOption({ label: 'staff-notice.njk' });
    });
    // "Approved": orderable.
    await createState(staff, flowUrl, async (p) => {
      await p.getByRole('textbox', { name: 'Name', exact: true }).fill('Approved');
      expect(await p.getByRole('checkbox', { name: 'Allow order', exact: true }).isChecked()).toBe(true);
    });

    // The flow page lists the three states in order, with their settings and who is mailed.
    const states = staff.getByRole('table', { name: `States of ${FLOW}, in order` });
    const row = (name: string) => states.getByRole('row').filter({ has: staff.getByRole('link', { name: `Edit ${name}`, exact: true }) });
    expect(await textOf(row('Draft'))).toMatch(/^1 Draft – edit Default — 0 /);
    expect(await textOf(row('Waiting for approval'))).toMatch(/^2 Waiting for approval – edit 1 other 0 /);
    expect(await textOf(row('Approved'))).toMatch(/^3 Approved – edit Allow order — 0 /);

    // The rules: Draft → Waiting for approval only; Waiting for approval → Approved.
    await allowMoves(staff, flowUrl, 'Draft', ['Waiting for approval'], ['the buyer who owns it']);
    await allowMoves(staff, flowUrl, 'Waiting for approval', ['Approved']);

    const [flow] = await t.sql<{ id: number }>(`select id from flows where type = 'cart' and name = $1`, [FLOW]);
    const stateIds = new Map((await t.sql<{ id: number; name: string }>('select id, name from flow_states where flow_id = $1', [flow.id])).map((s) => [s.name, s.id]));

    // 2. Set-up by SQL: there is no page yet where staff chooses a company's cart flow, so company C-10001
    //    is pointed at the new flow directly. buyer1's old carts go, so the story starts with a fresh basket.
    await t.sql(`update companies set cart_flow_id = $1 where customer_number = 'C-10001'`, [flow.id]);
    await t.sql(`delete from orders where type = 'cart' and user_id = (select id from users where email = 'buyer1@acme.test')`);

    // 3. Buyer 1 logs in and adds a product from the catalog.
    await logIn(buyer, baseUrl, 'buyer1@acme.test', 'buyer-pass-1', '/');
    await searchAndAdd(buyer, baseUrl, PRODUCT);
    const cart = /^Basket (CART\d+)$/.exec(await textOf(buyer.getByText(/^Basket CART\d+$/)))![1];

    // The basket says why a Draft cart cannot be checked out, and offers no checkout button.
    expect(await textOf(buyer.getByTestId('not-orderable'))).toContain('This cart is “Draft” and cannot be checked out yet');
    expect(await buyer.getByRole('button', { name: 'Go to checkout' }).count()).toBe(0);

    // The customer center, from the account menu.
    await buyer.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'My account' }).click();
    await buyer.getByRole('navigation', { name: 'Customer center' }).getByRole('link', { name: 'Carts' }).click();
    await buyer.waitForURL(`${baseUrl}/customer-center?CC=Carts`);
    const card = buyer.getByTestId(`cart-${cart}`);
    await visible(card.getByRole('heading', { level: 2, name: new RegExp(`^Basket ${cart} Draft Your active basket$`) }));
    await visible(card.getByRole('listitem').filter({ hasText: `1 × ${PRODUCT}` }));
    // Checkout is not possible yet, and the page says why.
    expect(await textOf(card.getByText(/cannot be checked out/))).toBe('This cart cannot be checked out while it is “Draft”: it must be approved first.');
    expect(await card.getByRole('button', { name: 'Check out' }).count()).toBe(0);

    // The ChangeDraftStatusForm offers only what the rule allows.
    const stateSelect = card.getByRole('combobox', { name: `Change state of ${cart} to` });
    // It is the seeds' form: id ChangeDraftStatusForm (the buyer's active basket), fields CartID and StateId.
    const form = buyer.locator('form#ChangeDraftStatusForm');
    expect(await form.getByRole('combobox', { name: `Change state of ${cart} to` }).count()).toBe(1);
    expect(await form.locator('input[type="hidden"][name="CartID"]').inputValue()).toBe(cart);
    expect(await stateSelect.getAttribute('name')).toBe('StateId');
    expect(await stateSelect.getByRole('option').allTextContents()).toEqual(['Waiting for approval']);
    await stateSelect.selectOption({ label: 'Waiting for approval' });
    await submit(buyer, card.getByRole('button', { name: 'Change state' }), `${baseUrl}/customer-center?CC=Carts`);
    await visible(card.getByRole('heading', { level: 2, name: new RegExp(`^Basket ${cart} Waiting for approval Your active basket$`) }));
    expect(await textOf(card.getByText(/cannot be checked out/))).toBe('This cart cannot be checked out while it is “Waiting for approval”: it must be approved first.');
    expect(await card.getByRole('button', { name: 'Check out' }).count()).toBe(0);

    // 4. The approver's notification leaves through the outbox to the test SMTP server.
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Cart ${cart} needs approval`));
    expect(mail.to).toBe('approver@example.test');
    expect(mail.text).toContain(`Cart ${cart}`);
    expect(mail.text).toContain('entered Waiting for approval');
    expect(mail.text).toContain(`1 × ${PRODUCT}`);

    // 5. Staff finds the cart in the admin's cart list and approves it on its details page.
    await staff.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Carts' }).click();
    await staff.waitForURL(`${baseUrl}/admin/carts`);
    await staff.getByRole('link', { name: cart, exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/carts/${cart}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${cart} Waiting for approval` }));
    const staffSelect = staff.getByRole('combobox', { name: 'State (flow → state)' });
    // Each option names its flow, so two flows' "Approved" states cannot be mixed up.
    await staffSelect.selectOption({ label: `${FLOW} → Approved` });
    await submit(staff, staff.getByRole('button', { name: 'Save state' }), `${baseUrl}/admin/carts/${cart}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${cart} Approved` }));

    // 6. The buyer reloads the customer center: approved, so "Check out" is offered.
    await buyer.reload();
    await visible(card.getByRole('heading', { level: 2, name: new RegExp(`^Basket ${cart} Approved Your active basket$`) }));
    expect(await card.getByText(/cannot be checked out/).count()).toBe(0);
    await card.getByRole('button', { name: 'Check out' }).click();
    await fillBillingAddress(buyer, baseUrl, { name: 'Bea Buyer', company: 'Acme Retail A/S', street: 'Harbour Road 7', zip: '8000', city: 'Aarhus', email: 'buyer1@acme.test' });
    expect(await buyer.getByRole('checkbox', { name: 'Deliver to the billing address' }).isChecked()).toBe(true);
    await methodsToReview(buyer, baseUrl, 'Invoice');
    expect(await textOf(buyer.getByRole('table').first())).toContain(PRODUCT);
    expect(await textOf(buyer.getByRole('main'))).toContain('Standard delivery · Invoice');
    await submit(buyer, buyer.getByRole('button', { name: /^Place order/ }), /\/checkout\/receipt\/ORDER\d+$/);
    await visible(buyer.getByRole('heading', { name: 'Thank you for your order' }));
    const orderNumber = await textOf(buyer.getByTestId('order-number'));
    expect(orderNumber).toMatch(/^ORDER\d+$/);
    expect(buyer.url()).toBe(`${baseUrl}/checkout/receipt/${orderNumber}`);

    // What was stored: the rules from the checkboxes, the cart became the order, and its history tells the story.
    const rules = await t.sql<{ from_name: string; to_name: string; actors: string[] }>(
      `select f.name as from_name, s.name as to_name, r.actors from flow_state_rules r join flow_states f on f.id = r.from_state_id
       join flow_states s on s.id = r.to_state_id where f.flow_id = $1 order by f.sort_order, s.sort_order`, [flow.id]);
    expect(rules).toEqual([{ from_name: 'Draft', to_name: 'Waiting for approval', actors: ['owner'] }, { from_name: 'Waiting for approval', to_name: 'Approved', actors: [] }]);
    const [order] = await t.sql('select id, number, type from orders where number = $1', [orderNumber]);
    expect(order.type).toBe('order');
    const history = await t.sql<{ from_state_id: number | null; to_state_id: number; actor_kind: string; source: string }>(
      `select h.from_state_id, h.to_state_id, h.actor_kind, h.source from order_state_history h
       where h.order_id = $1 and h.event = 'state_changed' and h.to_state_id = any($2::int[]) order by h.id`,
      [order.id, [...stateIds.values()]]);
    expect(history).toEqual([
      { from_state_id: stateIds.get('Draft'), to_state_id: stateIds.get('Waiting for approval'), actor_kind: 'buyer', source: 'frontend' },
      { from_state_id: stateIds.get('Waiting for approval'), to_state_id: stateIds.get('Approved'), actor_kind: 'staff', source: 'backend' },
    ]);

    expect(failures).toEqual([]);
    await staffContext.close();
    await buyerContext.close();
  }, 90_000);
});
