/**
 * Three customer-center stories in a real browser (Debian's chromium through playwright-core) against the real app,
 * each with the customer and staff in separate browser contexts:
 *   1. two buyers of one company build a shared named cart, submit it for approval, staff approves, a buyer orders;
 *   2. a shopper requests a quote at the last checkout step, staff offers a lower price, the shopper accepts by card;
 *   3. a shopper's shipped card order: the shopper files a return, staff approve, receive the goods and refund.
 * Everything a person does is done on the pages with accessible locators (role, label), so the test also proves that
 * every control it uses has a name. SQL only sets up stock and prices and checks what was stored at the end.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { waitFor, type TestApp } from '../helpers/test-app';
import {
  fillBillingAddress, logIn, methodsToReview, startBrowserApp, submit, textOf, trackedPage, visible, type BillingAddress, type BrowserApp,
} from '../helpers/browser';

// One product set per story, so the stories do not share stock or lines.
const CART_FIRST = 'Notebook A5 dotted'; // P-1027
const CART_SECOND = 'Fountain pen'; // P-1028
const QUOTE_PRODUCT = 'Thermos 1 l'; // P-1040
const RETURN_PRODUCT = 'Head torch'; // P-1043

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  ({ t, browser, baseUrl } = app = await startBrowserApp());
  // Set-up by SQL: plenty of stock, and round prices (100.00 excl. VAT, 25 % VAT) so the amounts are easy to check.
  const names = [CART_FIRST, CART_SECOND, QUOTE_PRODUCT, RETURN_PRODUCT];
  await t.sql('update stock_levels set quantity = 1000 where product_id in (select id from products where name = any($1))', [names]);
  await t.sql('update products set price_minor = 10000, vat_rate_bp = 2500 where name = any($1)', [names]);
}, 60_000);

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
});

afterAll(async () => { await app?.close(); });

/** A page in its own browser context that records what should never happen: script errors, console errors, 404s and 5xx. */
async function newPerson(who: string, failures: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return trackedPage(context, failures, who);
}

/** Finds a product with the catalog search (so paging and sort order do not matter) and adds it to the basket. */
async function addFromCatalog(page: Page, productName: string): Promise<void> {
  await page.getByRole('link', { name: 'Orderflow', exact: true }).click();
  await page.waitForURL(`${baseUrl}/`);
  await page.getByRole('search').getByLabel('Search by name or number').fill(productName);
  await submit(page, page.getByRole('search').getByRole('button', { name: 'Search' }), /\/\?q=/);
  await submit(page, page.getByRole('button', { name: `Add ${productName} to basket` }), `${baseUrl}/cart`);
  // Not the "Added to your basket." flash (it is sometimes missing, see the storefront test): the basket itself.
  await visible(page.getByRole('table').getByRole('link', { name: productName, exact: true }));
}

/** From the account menu to a section of the customer center. */
async function customerCenter(page: Page, section: 'Carts' | 'Quotes' | 'Orders' | 'Returns'): Promise<void> {
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'My account' }).click();
  await page.waitForURL(`${baseUrl}/customer-center?CC=Carts`);
  await page.getByRole('navigation', { name: 'Customer center' }).getByRole('link', { name: section, exact: true }).click();
  await page.waitForURL(`${baseUrl}/customer-center?CC=${section}`);
}

/** From the admin menu to one of its lists. */
async function adminSection(page: Page, section: 'Orders' | 'Quotes' | 'Returns' | 'Carts'): Promise<void> {
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL(`${baseUrl}/admin`);
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: section, exact: true }).click();
  await page.waitForURL(`${baseUrl}/admin/${section.toLowerCase()}`);
}

/** Checkout steps 1 and 2 from the addresses page: billing address (delivery to it), shipping and payment. */
async function addressesAndMethods(page: Page, a: BillingAddress, payment: 'Card' | 'Invoice'): Promise<void> {
  await fillBillingAddress(page, baseUrl, a);
  await page.getByRole('checkbox', { name: 'Deliver to the billing address' }).check();
  await methodsToReview(page, baseUrl, payment);
  expect(await textOf(page.getByRole('main'))).toContain(`Standard delivery · ${payment}`);
}

async function fillCard(scope: Page | Locator): Promise<void> {
  await scope.getByLabel('Name on card').fill('Sam Shopper');
  await scope.getByLabel('Card number').fill('4242 4242 4242 4242');
  await scope.getByLabel(/^Expiry/).fill('12/39');
  await scope.getByLabel('Security code').fill('123');
}

/** Changes the quantity of a basket line on the basket page. */
async function setQuantity(page: Page, productName: string, quantity: number): Promise<void> {
  await page.getByRole('spinbutton', { name: `Quantity of ${productName}` }).fill(String(quantity));
  await submit(page, page.getByRole('button', { name: `Update quantity of ${productName}` }), `${baseUrl}/cart`);
  expect(await page.getByRole('spinbutton', { name: `Quantity of ${productName}` }).inputValue()).toBe(String(quantity));
}

const SAM = { name: 'Sam Shopper', company: '', street: 'Main Street 1', zip: '2100', city: 'Copenhagen', email: 'shopper@orderflow.test' };

describe('customer center in a browser', () => {
  it('two buyers of one company build a shared named cart; it is approved by staff and ordered', async () => {
    const failures: string[] = [];
    const bea = await newPerson('buyer1', failures);
    const bo = await newPerson('buyer2', failures);
    const staff = await newPerson('staff', failures);
    const cartCard = (page: Page) => page.getByTestId(/^cart-CART\d+$/).filter({ has: page.getByRole('heading', { level: 2, name: /^Spring order CART\d+/ }) });

    // Bea's spend limit (100.00 DKK) is below the 125.00 of one product: her cart must be approved before checkout.
    await t.sql(`update users set spend_limit_minor = 10000 where email = 'buyer1@acme.test'`);
    // 1. Buyer 1 creates the named cart "Spring order" in the customer center and makes it her basket.
    await logIn(bea, baseUrl, 'buyer1@acme.test', 'buyer-pass-1', '/');
    await customerCenter(bea, 'Carts');
    await bea.getByLabel('New cart name').fill('Spring order');
    await submit(bea, bea.getByRole('button', { name: 'Create cart' }), `${baseUrl}/customer-center?CC=Carts`);
    const beaCard = cartCard(bea);
    const heading = await textOf(beaCard.getByRole('heading', { level: 2 }));
    const cart = /^Spring order (CART\d+) New$/.exec(heading)?.[1];
    expect(cart).toBeDefined(); // a new company cart starts in "New" of the B2B cart approval flow, and is not her basket yet
    await visible(beaCard.getByRole('listitem').filter({ hasText: 'No lines yet.' }));
    await submit(bea, beaCard.getByRole('button', { name: 'Make Spring order my active basket' }), `${baseUrl}/customer-center?CC=Carts`);
    await visible(beaCard.getByRole('heading', { level: 2, name: `Spring order ${cart} New Your active basket` }));

    // She adds a product from the catalog: it goes into "Spring order", which cannot be checked out yet.
    await addFromCatalog(bea, CART_FIRST);
    expect(await textOf(bea.getByText(/^Basket CART\d+$/))).toBe(`Basket ${cart}`);
    expect(await textOf(bea.getByTestId('not-orderable'))).toContain('This cart is “New” and cannot be checked out yet: its total is above your spend limit of 100.00 DKK');

    // 2. Buyer 2 sees the shared cart with who added what, makes it his basket and adds another product.
    await logIn(bo, baseUrl, 'buyer2@acme.test', 'buyer-pass-2', '/');
    await customerCenter(bo, 'Carts');
    const boCard = cartCard(bo);
    await visible(boCard.getByRole('heading', { level: 2, name: `Spring order ${cart} New` }));
    expect(await textOf(boCard.getByText(/^Held by/))).toBe('Held by Bea Buyer (their active basket)');
    expect(await textOf(boCard.getByRole('listitem'))).toBe(`1 × ${CART_FIRST} added by Bea Buyer`);
    await submit(bo, boCard.getByRole('button', { name: 'Make Spring order my active basket' }), `${baseUrl}/customer-center?CC=Carts`);
    await visible(boCard.getByRole('heading', { level: 2, name: `Spring order ${cart} New Your active basket` }));
    await addFromCatalog(bo, CART_SECOND);
    expect(await textOf(bo.getByText(/^Basket CART\d+$/))).toBe(`Basket ${cart}`);
    await visible(bo.getByRole('table').getByRole('link', { name: CART_FIRST, exact: true }));

    await customerCenter(bo, 'Carts');
    expect((await boCard.getByRole('listitem').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim()))
      .toEqual([`1 × ${CART_FIRST} added by Bea Buyer`, `1 × ${CART_SECOND} added by Bo Buyer`]);

    // 3. Buyer 2 submits it for approval with the ChangeDraftStatusForm of his active basket.
    const form = bo.locator('form#ChangeDraftStatusForm');
    expect(await form.locator('input[type="hidden"][name="CartID"]').inputValue()).toBe(cart);
    const stateSelect = form.getByRole('combobox', { name: `Change state of ${cart} to` });
    expect(await stateSelect.getByRole('option').allTextContents()).toEqual(['Submitted for approval']);
    await stateSelect.selectOption({ label: 'Submitted for approval' });
    await submit(bo, form.getByRole('button', { name: 'Change state' }), `${baseUrl}/customer-center?CC=Carts`);
    await visible(boCard.getByRole('heading', { level: 2, name: `Spring order ${cart} Submitted for approval Your active basket` }));
    expect(await textOf(boCard.getByText(/cannot be checked out/))).toBe('This cart cannot be checked out while it is “Submitted for approval”: it must be approved first.');
    expect(await boCard.getByRole('button', { name: 'Check out' }).count()).toBe(0);

    // Buyer 1 sees the same cart, now held by buyer 2 and waiting for approval; the approver is mailed.
    await customerCenter(bea, 'Carts');
    await visible(beaCard.getByRole('heading', { level: 2, name: `Spring order ${cart} Submitted for approval` }));
    expect(await textOf(beaCard.getByText(/^Held by/))).toBe('Held by Bo Buyer (their active basket)');
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Cart ${cart} is waiting for your approval`));
    expect(mail.to).toBe('approver@acme.test');

    // 4. Staff opens the cart from the admin's cart list and approves it.
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await adminSection(staff, 'Carts');
    await staff.getByRole('link', { name: cart, exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/carts/${cart}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${cart} Submitted for approval` }));
    await staff.getByRole('combobox', { name: 'State (flow → state)' }).selectOption({ label: 'B2B cart approval → Approved' });
    await submit(staff, staff.getByRole('button', { name: 'Save state' }), `${baseUrl}/admin/carts/${cart}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${cart} Approved` }));

    // 5. Buyer 2 reloads the customer center, checks out by invoice and gets the receipt.
    await bo.reload();
    await visible(boCard.getByRole('heading', { level: 2, name: `Spring order ${cart} Approved Your active basket` }));
    expect(await boCard.getByText(/cannot be checked out/).count()).toBe(0);
    await boCard.getByRole('button', { name: 'Check out' }).click();
    await addressesAndMethods(bo, { name: 'Bo Buyer', company: 'Acme Retail A/S', street: 'Harbour Road 7', zip: '8000', city: 'Aarhus', email: 'buyer2@acme.test' }, 'Invoice');
    const review = await textOf(bo.getByRole('table').first());
    expect(review).toContain(CART_FIRST);
    expect(review).toContain(CART_SECOND);
    await submit(bo, bo.getByRole('button', { name: /^Place order/ }), /\/checkout\/receipt\/ORDER\d+$/);
    await visible(bo.getByRole('heading', { name: 'Thank you for your order' }));
    const orderNumber = await textOf(bo.getByTestId('order-number'));
    expect(orderNumber).toMatch(/^ORDER\d+$/);
    expect(await textOf(bo.getByRole('main'))).toContain('Invoice');

    // What was stored: the named cart became the order, with each line's buyer, and its history tells the story.
    const [order] = await t.sql(`select o.id, o.type, o.completed, u.email from orders o join users u on u.id = o.user_id where o.number = $1`, [orderNumber]);
    expect(order).toMatchObject({ type: 'order', completed: true, email: 'buyer2@acme.test' });
    const lines = await t.sql(`select l.product_name, u.name from order_lines l join users u on u.id = l.added_by_user_id where l.order_id = $1 order by l.id`, [order.id]);
    expect(lines).toEqual([{ product_name: CART_FIRST, name: 'Bea Buyer' }, { product_name: CART_SECOND, name: 'Bo Buyer' }]);
    const moves = await t.sql(`select f.name as from_name, s.name as to_name, h.actor_kind, h.source from order_state_history h
      left join flow_states f on f.id = h.from_state_id join flow_states s on s.id = h.to_state_id join flows fl on fl.id = s.flow_id
      where h.order_id = $1 and h.event = 'state_changed' and fl.type = 'cart' order by h.id`, [order.id]);
    expect(moves).toEqual([
      { from_name: 'New', to_name: 'Submitted for approval', actor_kind: 'buyer', source: 'frontend' },
      { from_name: 'Submitted for approval', to_name: 'Approved', actor_kind: 'staff', source: 'backend' },
    ]);

    expect(failures).toEqual([]);
  }, 90_000);

  it('a shopper requests a quote at checkout, staff offers a lower price, the shopper accepts by card', async () => {
    const failures: string[] = [];
    const sam = await newPerson('shopper', failures);
    const staff = await newPerson('staff', failures);

    // 1. The shopper puts 10 thermoses in the basket and, on the last checkout step, asks for a quote instead.
    await logIn(sam, baseUrl, 'shopper@orderflow.test', 'shopper-pass-1', '/');
    await addFromCatalog(sam, QUOTE_PRODUCT);
    await setQuantity(sam, QUOTE_PRODUCT, 10);
    await sam.getByRole('button', { name: 'Go to checkout' }).click();
    await addressesAndMethods(sam, SAM, 'Card');
    await sam.getByLabel('What would you like us to offer? (optional)').fill('Can you do better for 10?');
    await submit(sam, sam.getByRole('button', { name: 'Request a quote instead of ordering' }), /\/customer-center\/quotes\/QUOTE\d+$/);
    const quote = /\/customer-center\/quotes\/(QUOTE\d+)$/.exec(sam.url())![1];
    await visible(sam.getByRole('heading', { level: 1, name: `Quote ${quote} Requested` }));
    expect(await sam.getByRole('button', { name: /^Accept and order/ }).count()).toBe(0);
    expect(await textOf(sam.getByTestId('mini-cart-count'))).toBe('0');

    // 2. Staff opens it in Admin → Quotes, lowers the unit price, sets the validity, saves and sends the offer.
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await adminSection(staff, 'Quotes');
    await staff.getByRole('link', { name: quote, exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/quotes/${quote}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${quote} Requested` }));
    expect(await textOf(staff.getByRole('heading', { name: "Customer's request" }).locator('..'))).toContain('Can you do better for 10?');
    const unitPrice = staff.getByRole('textbox', { name: `Unit price of ${QUOTE_PRODUCT}` });
    expect(await unitPrice.inputValue()).toBe('100');
    expect(await staff.getByRole('spinbutton', { name: `Quantity of ${QUOTE_PRODUCT}` }).inputValue()).toBe('10');
    await unitPrice.fill('80');
    const validUntil = new Date(Date.now() + 14 * 864e5).toISOString().slice(0, 10);
    await staff.getByLabel('Offer valid until').fill(validUntil);
    await staff.getByLabel('Message to the customer').fill('80.00 a piece for 10.');
    await submit(staff, staff.getByRole('button', { name: 'Save as new version' }), `${baseUrl}/admin/quotes/${quote}`);
    expect(await unitPrice.inputValue()).toBe('80');
    expect(await staff.getByLabel('Offer valid until').inputValue()).toBe(validUntil);
    await visible(staff.getByRole('link', { name: 'Version 2' }));
    await submit(staff, staff.getByRole('button', { name: 'Send offer to the customer' }), `${baseUrl}/admin/quotes/${quote}`);
    await visible(staff.getByRole('heading', { level: 1, name: `${quote} Offered` }));

    // 3. The shopper finds the offer under Quotes in the customer center, sees the price and accepts by card.
    await customerCenter(sam, 'Quotes');
    const row = sam.getByRole('row').filter({ has: sam.getByRole('link', { name: quote, exact: true }) });
    expect(await textOf(row)).toContain('Offered');
    expect(await textOf(row)).toContain(validUntil);
    await row.getByRole('link', { name: quote, exact: true }).click();
    await sam.waitForURL(`${baseUrl}/customer-center/quotes/${quote}`);
    await visible(sam.getByRole('heading', { level: 1, name: `Quote ${quote} Offered` }));
    const main = await textOf(sam.getByRole('main'));
    expect(main).toContain('80.00 a piece for 10.');
    expect(main).toContain(`This offer is valid until ${validUntil}.`);
    const offeredLine = sam.getByRole('table', { name: 'Order lines' }).getByRole('row').filter({ hasText: QUOTE_PRODUCT });
    expect(await textOf(offeredLine)).toContain('80.00 DKK');
    // 10 × 80.00 + 25 % VAT = 1,000.00 (standard delivery is free from 500.00)
    await sam.getByRole('radio', { name: 'Card' }).check();
    await fillCard(sam.getByRole('group', { name: 'Card details (only for card payment)' }));
    await submit(sam, sam.getByRole('button', { name: 'Accept and order · 1,000.00 DKK' }), /\/checkout\/receipt\/ORDER\d+$/);
    await visible(sam.getByRole('heading', { name: 'Thank you for your order' }));
    const orderNumber = await textOf(sam.getByTestId('order-number'));
    expect(await textOf(sam.getByRole('main'))).toContain('Visa ending 4242');
    expect(await textOf(sam.getByTestId('order-total'))).toBe('1,000.00 DKK');

    // What was stored: an order at the offered unit price, linked to the accepted quote.
    const [order] = await t.sql(`select o.id, o.type, o.completed, o.quote_number, o.quote_answer, o.total_minor from orders o where o.number = $1`, [orderNumber]);
    expect(order).toMatchObject({ type: 'order', completed: true, quote_number: quote, quote_answer: 'accepted', total_minor: '100000' });
    const lines = await t.sql(`select product_name, quantity, unit_price_minor from order_lines where order_id = $1`, [order.id]);
    expect(lines).toEqual([{ product_name: QUOTE_PRODUCT, quantity: 10, unit_price_minor: '8000' }]);
    // The quote row itself became the order: its history runs Requested → Offered → Accepted, then the order flow.
    const moves = await t.sql<{ to_name: string }>(`select s.name as to_name from order_state_history h join flow_states s on s.id = h.to_state_id
      join flows f on f.id = s.flow_id where h.order_id = $1 and h.event = 'state_changed' and f.type = 'quote' order by h.id`, [order.id]);
    expect(moves.map((m) => m.to_name)).toEqual(['Offered', 'Accepted']);

    expect(failures).toEqual([]);
  }, 90_000);

  it('a shopper returns an item from a shipped card order; staff approve, receive and refund it', async () => {
    const failures: string[] = [];
    const sam = await newPerson('shopper', failures);
    const staff = await newPerson('staff', failures);

    // 1. The shopper buys 2 head torches by card.
    await logIn(sam, baseUrl, 'shopper@orderflow.test', 'shopper-pass-1', '/');
    await addFromCatalog(sam, RETURN_PRODUCT);
    await setQuantity(sam, RETURN_PRODUCT, 2);
    await sam.getByRole('button', { name: 'Go to checkout' }).click();
    await addressesAndMethods(sam, SAM, 'Card');
    await fillCard(sam);
    await submit(sam, sam.getByRole('button', { name: /^Place order/ }), /\/checkout\/receipt\/ORDER\d+$/);
    const orderNumber = await textOf(sam.getByTestId('order-number'));

    // 2. Staff captures the payment and moves the order on to Shipped on its details page.
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await adminSection(staff, 'Orders');
    await staff.getByRole('link', { name: orderNumber, exact: true }).click();
    const orderUrl = `${baseUrl}/admin/orders/${orderNumber}`;
    await staff.waitForURL(orderUrl);
    await visible(staff.getByRole('heading', { level: 1, name: `${orderNumber} New` }));
    const payment = staff.getByRole('region', { name: 'Payment' });
    await submit(staff, staff.getByRole('region', { name: `Tools for ${orderNumber}` }).getByRole('button', { name: /^Capture full amount/ }), orderUrl);
    expect(await textOf(payment.getByTestId('capture-state'))).toBe('captured');
    for (const state of ['Received', 'Picked', 'Shipped']) {
      await staff.getByRole('combobox', { name: 'State (flow → state)' }).selectOption({ label: `Standard order flow → ${state}` });
      await submit(staff, staff.getByRole('button', { name: 'Save state' }), orderUrl);
      await visible(staff.getByRole('heading', { level: 1, name: `${orderNumber} ${state}` }));
    }
    const captured = await textOf(payment.getByTestId('captured'));

    // 3. The shopper opens the order in the customer center and returns one of the two.
    await customerCenter(sam, 'Orders');
    await sam.getByRole('link', { name: orderNumber, exact: true }).click();
    await sam.waitForURL(`${baseUrl}/customer-center/orders/${orderNumber}`);
    await visible(sam.getByRole('heading', { level: 1, name: `Order ${orderNumber} Shipped` }));
    await sam.getByRole('link', { name: 'Return items' }).click();
    await sam.waitForURL(`${baseUrl}/customer-center/returns/new?order=${orderNumber}`);
    await visible(sam.getByRole('heading', { level: 1, name: `Return items from ${orderNumber}` }));
    const howMany = sam.getByRole('spinbutton', { name: `How many ${RETURN_PRODUCT} to return` });
    expect(await howMany.getAttribute('max')).toBe('2');
    await howMany.fill('1');
    await sam.getByLabel('Reason').selectOption({ label: 'Damaged on arrival' });
    await sam.getByLabel('Comment (optional)').fill('The switch is broken.');
    expect(await sam.getByRole('radio', { name: 'My money back (refund)' }).isChecked()).toBe(true);
    await submit(sam, sam.getByRole('button', { name: 'Request the return' }), /\/customer-center\/returns\/RMA\d+$/);
    const rma = /(RMA\d+)$/.exec(sam.url())![1];
    await visible(sam.getByRole('heading', { level: 1, name: `Return ${rma} Requested` }));
    const returned = await textOf(sam.getByRole('main'));
    expect(returned).toContain(`From order ${orderNumber} · Damaged on arrival · you asked for a refund`);
    expect(returned).toContain('Your comment: The switch is broken.');
    const returnedCells = await sam.getByRole('table').getByRole('row').filter({ hasText: RETURN_PRODUCT }).getByRole('cell').allTextContents();
    expect(returnedCells.map((c) => c.replace(/\s+/g, ' ').trim())).toEqual([`${RETURN_PRODUCT} P-1043`, '1']);

    // 4. Staff opens it in Admin → Returns, approves, puts the goods back in stock and refunds their value.
    await adminSection(staff, 'Returns');
    await staff.getByRole('link', { name: rma, exact: true }).click();
    const rmaUrl = `${baseUrl}/admin/returns/${rma}`;
    await staff.waitForURL(rmaUrl);
    await visible(staff.getByRole('heading', { level: 1, name: `${rma} Requested` }));
    expect(await textOf(staff.getByRole('main'))).toContain("Customer's comment: The switch is broken.");
    await submit(staff, staff.getByRole('button', { name: 'Approve', exact: true }), rmaUrl);
    await visible(staff.getByRole('heading', { level: 1, name: `${rma} Approved` }));
    await staff.getByLabel('Put the goods back in stock at').selectOption({ label: 'Main warehouse' });
    await submit(staff, staff.getByRole('button', { name: 'Mark goods received' }), rmaUrl);
    await visible(staff.getByRole('heading', { level: 1, name: `${rma} Goods received` }));
    // The value of the returned goods is 1 × 125.00 incl. VAT, offered as the amount; staff refunds that, confirming
    // in the dialog what will be paid back.
    expect(await staff.getByLabel('Refund amount').inputValue()).toBe('125.00');
    await staff.getByRole('button', { name: 'Refund', exact: true }).click();
    const dialog = staff.getByRole('dialog', { name: `Refund 125.00 DKK for ${rma}?` });
    expect(await textOf(dialog)).toContain('A refund cannot be undone.');
    await submit(staff, dialog.getByRole('button', { name: 'Refund 125.00 DKK' }), rmaUrl);
    await visible(staff.getByRole('heading', { level: 1, name: `${rma} Refunded` }));

    // 5. The shopper's return page shows it refunded.
    await sam.reload();
    await visible(sam.getByRole('heading', { level: 1, name: `Return ${rma} Refunded` }));
    expect(await textOf(sam.getByRole('main'))).toContain('Refunded: 125.00 DKK');
    const progress = await textOf(sam.getByRole('heading', { name: 'Progress' }).locator('..'));
    for (const step of ['Requested', 'Approved', 'Goods received', 'Refunded']) expect(progress).toContain(step);
    expect(progress).not.toContain('Ada Admin'); // customers see the steps, not who did them

    // What was stored: the refund went through the payment desk, and the goods are back in the main warehouse.
    const [order] = await t.sql('select captured_minor, refunded_minor, payment_status from orders where number = $1', [orderNumber]);
    expect(order).toMatchObject({ refunded_minor: '12500', payment_status: 'partly_refunded' });
    expect(captured).toContain((Number(order.captured_minor) / 100).toFixed(2));
    const [ret] = await t.sql(`select r.refunded_minor, r.reason, r.resolution, s.name as state, rl.quantity, l.name as restocked_at
      from returns r join flow_states s on s.id = r.state_id join return_lines rl on rl.return_id = r.id
      left join stock_locations l on l.id = rl.restocked_location_id where r.number = $1`, [rma]);
    expect(ret).toEqual({ refunded_minor: '12500', reason: 'Damaged on arrival', resolution: 'refund', state: 'Refunded', quantity: 1, restocked_at: 'Main warehouse' });

    expect(failures).toEqual([]);
  }, 90_000);
});
