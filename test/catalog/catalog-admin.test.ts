import sharp from 'sharp';
import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, productId, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const PRODUCT = { number: 'TEA-900', name: 'Jasmine tea 100 g', description: 'Green tea with jasmine.', price: '45.50', vatRate: '12', unit: 'pack', active: 'on' };

async function groupId(slug: string): Promise<number> {
  const [g] = await t.sql('select id from product_groups where slug = $1', [slug]);
  return g.id;
}

async function locationId(name: string): Promise<number> {
  const [l] = await t.sql('select id from stock_locations where name = $1', [name]);
  return l.id;
}

async function stockAt(number: string, location: string): Promise<number> {
  const [row] = await t.sql(
    `select s.quantity from stock_levels s join products p on p.id = s.product_id join stock_locations l on l.id = s.location_id
     where p.number = $1 and l.name = $2`, [number, location]);
  return row ? Number(row.quantity) : 0;
}

/** A product of its own for a test, with a round price and no stock. */
async function newProduct(number: string, price = '100.00', vatRate = '25'): Promise<void> {
  const res = await postForm(staff, '/admin/products', { ...PRODUCT, number, name: `Product ${number}`, price, vatRate, groupId: await groupId('kitchen') }, '/admin/products/new');
  expect(res.status).toBe(303);
}

describe('staff maintain products', () => {
  it('lists products with search and paging, inactive ones included', async () => {
    await t.sql(`update products set active = false where number = 'P-1002'`);
    const page1 = await staff.get('/admin/products');
    expect(page1.status).toBe(200);
    expect(page1.text).toContain('50 products');
    expect(page1.text).toContain('Page 1 of 2');
    expect((await staff.get('/admin/products?page=2')).text).toContain('P-1050');
    const found = await staff.get('/admin/products?q=filter%20coffee');
    expect(found.text).toContain('1 product matching “filter coffee”');
    expect(found.text).toMatch(/P-1002[\s\S]*Inactive/);
    expect((await staff.get('/admin/products?q=p-101')).text).toContain('10 products matching');
    expect((await newAgent(t).get('/admin/products')).status).toBe(302);
  });

  it('creates a product that the shop then sells', async () => {
    const res = await postForm(staff, '/admin/products', { ...PRODUCT, groupId: await groupId('coffee') }, '/admin/products/new');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/products/TEA-900');
    const [row] = await t.sql(`select name, price_minor, vat_rate_bp, unit, active from products where number = 'TEA-900'`);
    expect(row).toEqual({ name: 'Jasmine tea 100 g', price_minor: '4550', vat_rate_bp: 1200, unit: 'pack', active: true });
    const shop = await newAgent(t).get('/products/TEA-900');
    expect(shop.status).toBe(200);
    expect(shop.text).toContain('50.96 DKK'); // 45.50 + 12 %
  });

  it('refuses invalid input with messages next to the fields and keeps what was typed', async () => {
    const res = await postForm(staff, '/admin/products',
      { ...PRODUCT, number: 'TEA 901!', name: '', price: '12.345', vatRate: '125', groupId: await groupId('coffee') }, '/admin/products/new');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Product number may only hold letters, digits and dashes');
    expect(res.text).toContain('Name is required');
    expect(res.text).toContain('must be an amount like 125.50 (“12.345” is not)');
    expect(res.text).toContain('VAT rate (%) must be a percentage from 0 to 100');
    expect(res.text).toContain('value="TEA 901!"');
    expect(res.text).toContain('value="12.345"');
    expect(res.text).toMatch(/<option value="\d+" selected>Coffee &amp; Tea<\/option>/);
    expect((await t.sql(`select 1 from products where number = 'TEA 901!'`)).length).toBe(0);
  });

  it('refuses a product number that is taken, on the edit page, with the typed values kept', async () => {
    await newProduct('DUP-1');
    const res = await postForm(staff, '/admin/products/DUP-1', { ...PRODUCT, number: 'P-1001', name: 'Renamed', groupId: await groupId('kitchen') }, '/admin/products/DUP-1');
    expect(res.status).toBe(409);
    expect(res.text).toContain('Another product already has this number');
    expect(res.text).toContain('Product number is already used by another product');
    expect(res.text).toContain('value="Renamed"');
    expect((await t.sql(`select name from products where number = 'DUP-1'`))[0].name).toBe('Product DUP-1');
  });

  it('saves an edit (number, name, price, active) and the shop shows it', async () => {
    await newProduct('EDIT-1');
    const res = await postForm(staff, '/admin/products/EDIT-1',
      { number: 'EDIT-2', name: 'Edited name', description: '', price: '80', vatRate: '25', unit: 'box', groupId: await groupId('office') }, '/admin/products/EDIT-1');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/products/EDIT-2');
    const [row] = await t.sql(`select name, price_minor, unit, active from products where number = 'EDIT-2'`);
    expect(row).toEqual({ name: 'Edited name', price_minor: '8000', unit: 'box', active: false });
    expect((await newAgent(t).get('/products/EDIT-2')).status).toBe(404); // inactive: not for sale
  });
});

describe('stock adjustments', () => {
  it('change one location and write a movement with reason, actor, change and resulting level', async () => {
    await newProduct('STK-1');
    const main = await locationId('Main warehouse');
    const res = await postForm(staff, '/admin/products/STK-1/stock', { locationId: main, change: 12, reason: 'received', note: 'PO 4711' }, '/admin/products/STK-1');
    expect(res.status).toBe(303);
    expect(await stockAt('STK-1', 'Main warehouse')).toBe(12);
    expect((await postForm(staff, '/admin/products/STK-1/stock', { locationId: main, change: -2, reason: 'damaged', note: '' }, '/admin/products/STK-1')).status).toBe(303);
    const moves = await t.sql(
      `select m.quantity_change, m.resulting_quantity, m.reason, m.note, u.email from stock_movements m join users u on u.id = m.actor_user_id
       where m.product_id = $1 order by m.id`, [await productId(t, 'STK-1')]);
    expect(moves).toEqual([
      { quantity_change: 12, resulting_quantity: 12, reason: 'received', note: 'PO 4711', email: 'admin@orderflow.test' },
      { quantity_change: -2, resulting_quantity: 10, reason: 'damaged', note: '', email: 'admin@orderflow.test' },
    ]);
    const page = await staff.get('/admin/products/STK-1');
    expect(page.text).toMatch(/Main warehouse<\/td><td class="num">10</);
    expect(page.text).toContain('Goods received');
    expect(page.text).toContain('PO 4711');
    expect(page.text).toContain('Ada Admin');
  });

  it('refuses going below zero on the product page, typed values kept, nothing written', async () => {
    await newProduct('STK-2');
    const store = await locationId('Store Copenhagen');
    await postForm(staff, '/admin/products/STK-2/stock', { locationId: store, change: 3, reason: 'counted', note: '' }, '/admin/products/STK-2');
    const res = await postForm(staff, '/admin/products/STK-2/stock', { locationId: store, change: -5, reason: 'damaged', note: 'dropped' }, '/admin/products/STK-2');
    expect(res.status).toBe(409);
    expect(res.text).toContain('has only 3 in Store Copenhagen; it cannot go down by 5');
    expect(res.text).toContain('data-testid="refused-stock"');
    expect(res.text).toContain('value="-5"');
    expect(res.text).toContain('value="dropped"');
    expect(await stockAt('STK-2', 'Store Copenhagen')).toBe(3);
    expect((await t.sql('select count(*)::int as n from stock_movements where product_id = $1', [await productId(t, 'STK-2')]))[0].n).toBe(1);

    const bad = await postForm(staff, '/admin/products/STK-2/stock', { locationId: store, change: 0, reason: 'stolen', note: '' }, '/admin/products/STK-2');
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('Change must not be 0');
  });

  it('loses no update when adjustments arrive at the same time', async () => {
    await newProduct('STK-3');
    const main = await locationId('Main warehouse');
    const token = await csrfToken(staff, '/admin/products/STK-3');
    const changes = [...Array.from({ length: 12 }, () => 5), ...Array.from({ length: 8 }, () => -1)];
    await postForm(staff, '/admin/products/STK-3/stock', { locationId: main, change: 10, reason: 'counted', note: '' }, '/admin/products/STK-3');
    const results = await Promise.all(changes.map((change) =>
      staff.post('/admin/products/STK-3/stock').type('form').send({ _csrf: token, locationId: main, change, reason: 'correction', note: '' })));
    expect(results.map((r) => r.status)).toEqual(changes.map(() => 303));
    expect(await stockAt('STK-3', 'Main warehouse')).toBe(10 + 12 * 5 - 8);
    // Each movement's resulting level is the one before it plus its change: a chain with no gaps.
    const moves = await t.sql('select quantity_change, resulting_quantity from stock_movements where product_id = $1 order by id', [await productId(t, 'STK-3')]);
    expect(moves).toHaveLength(21);
    let level = 0;
    for (const m of moves) {
      level += m.quantity_change;
      expect(m.resulting_quantity).toBe(level);
    }
  });
});

describe('dated prices', () => {
  const today = () => new Date().toISOString().slice(0, 10);
  const shift = (days: number) => new Date(Date.now() + days * 86400_000).toISOString().slice(0, 10);

  it('apply in the shop and the basket on the days of their period', async () => {
    await newProduct('DP-1', '100.00', '25');
    await t.sql(`insert into stock_levels (product_id, location_id, quantity) select $1, id, 100 from stock_locations`, [await productId(t, 'DP-1')]);
    const add = await postForm(staff, '/admin/products/DP-1/prices', { validFrom: shift(-3), validTo: shift(3), datedPrice: '80.00' }, '/admin/products/DP-1');
    expect(add.status).toBe(303);
    const page = await staff.get('/admin/products/DP-1');
    expect(page.text).toMatch(new RegExp(`${shift(-3)} <span class="tag">today</span>`));

    const shopper = newAgent(t);
    expect((await shopper.get('/products/DP-1')).text).toContain('100.00 DKK'); // 80.00 + 25 %
    expect((await shopper.get('/?q=DP-1')).text).toContain('100.00 DKK');
    await addToBasket(t, shopper, 'DP-1');
    const basket = await shopper.get('/cart');
    expect(basket.text).toContain('100.00 DKK');
    const [line] = await t.sql(`select unit_price_minor from order_lines where product_number = 'DP-1'`);
    expect(Number(line.unit_price_minor)).toBe(8000);
    expect(today() >= shift(-3)).toBe(true);
  });

  it('refuses an overlapping period with the period in the way, typed values kept', async () => {
    await newProduct('DP-2');
    expect((await postForm(staff, '/admin/products/DP-2/prices', { validFrom: '2030-01-01', validTo: '2030-01-31', datedPrice: '90' }, '/admin/products/DP-2')).status).toBe(303);
    const res = await postForm(staff, '/admin/products/DP-2/prices', { validFrom: '2030-01-31', validTo: '', datedPrice: '70' }, '/admin/products/DP-2');
    expect(res.status).toBe(409);
    expect(res.text).toContain('This period overlaps a dated price that is already there (2030-01-01 – 2030-01-31)');
    expect(res.text).toContain('value="2030-01-31"');
    expect(res.text).toContain('value="70"');
    const backwards = await postForm(staff, '/admin/products/DP-2/prices', { validFrom: '2030-03-10', validTo: '2030-03-01', datedPrice: '70' }, '/admin/products/DP-2');
    expect(backwards.status).toBe(422);
    expect(backwards.text).toContain('The price period must end on or after the day it starts.');
    // The day after the period is free.
    expect((await postForm(staff, '/admin/products/DP-2/prices', { validFrom: '2030-02-01', validTo: '', datedPrice: '70' }, '/admin/products/DP-2')).status).toBe(303);
  });

  it('lets the database refuse overlapping periods saved at the same moment', async () => {
    await newProduct('DP-3');
    const token = await csrfToken(staff, '/admin/products/DP-3');
    // Every two of these overlap, so exactly one can win whatever order the requests arrive in.
    const periods = [['2030-05-01', '2030-05-31'], ['2030-05-15', '2030-06-15'], ['2030-05-20', ''], ['2030-04-01', '2030-05-25']];
    const results = await Promise.all(periods.map(([validFrom, validTo]) =>
      staff.post('/admin/products/DP-3/prices').type('form').send({ _csrf: token, validFrom, validTo, datedPrice: '50' })));
    expect(results.filter((r) => r.status === 303)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(3);
    expect((await t.sql('select count(*)::int as n from product_prices where product_id = $1', [await productId(t, 'DP-3')]))[0].n).toBe(1);
  });

  it('follow a staff user\'s context date on the product page and in the basket', async () => {
    await newProduct('DP-4', '100.00', '25');
    await t.sql(`insert into stock_levels (product_id, location_id, quantity) select $1, id, 100 from stock_locations`, [await productId(t, 'DP-4')]);
    await postForm(staff, '/admin/products/DP-4/prices', { validFrom: '2033-12-01', validTo: '2033-12-31', datedPrice: '60.00' }, '/admin/products/DP-4');
    await t.sql('update shops set allow_context_dates = true');
    const clerk = await staffAgent(t);
    expect((await clerk.get('/products/DP-4')).text).toContain('125.00 DKK');
    const dated = await clerk.get('/products/DP-4?OrderTime=12/24/2033');
    expect(dated.text).toContain('Prices as of 2033-12-24');
    expect(dated.text).toContain('75.00 DKK'); // 60.00 + 25 %
    expect((await clerk.get('/?q=DP-4')).text).toContain('75.00 DKK');
    await addToBasket(t, clerk, 'DP-4');
    expect((await clerk.get('/cart')).text).toContain('75.00 DKK');
    // Another day of the context: the product's own price again.
    expect((await clerk.get('/products/DP-4?OrderTime=01/01/2034')).text).toContain('125.00 DKK');
    // Removing the dated price.
    const removed = await postForm(staff, '/admin/products/DP-4/prices/delete', { validFrom: '2033-12-01' }, '/admin/products/DP-4');
    expect(removed.status).toBe(303);
    expect((await clerk.get('/products/DP-4?OrderTime=12/24/2033')).text).toContain('125.00 DKK');
    await t.sql('update shops set allow_context_dates = false');
  });
});

describe('product images', () => {
  async function upload(number: string, file: Buffer, filename: string, contentType: string, alt = '') {
    const token = await csrfToken(staff, `/admin/products/${number}`);
    return staff.post(`/admin/products/${number}/image`).field('_csrf', token).field('alt', alt).attach('image', file, { filename, contentType });
  }

  it('are resized, shown with width, height and alt text on the list, product page and basket, and cached by browsers', async () => {
    await newProduct('IMG-1');
    await t.sql(`insert into stock_levels (product_id, location_id, quantity) select $1, id, 100 from stock_locations`, [await productId(t, 'IMG-1')]);
    const photo = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#2a7' } }).jpeg().toBuffer();
    const res = await upload('IMG-1', photo, 'photo.jpg', 'image/jpeg', 'A green box');
    expect(res.status).toBe(303);
    const [img] = await t.sql('select id, width, height, thumb_width, thumb_height from product_images where product_id = $1', [await productId(t, 'IMG-1')]);
    expect(img).toMatchObject({ width: 640, height: 480, thumb_width: 240, thumb_height: 180 });

    const visitor = newAgent(t);
    const page = await visitor.get('/products/IMG-1');
    expect(page.text).toContain(`<img class="product-image" src="/images/products/${img.id}.webp" alt="A green box" width="640" height="480">`);
    expect((await visitor.get('/?q=IMG-1')).text).toContain(`src="/images/products/${img.id}-thumb.webp" alt="A green box" width="240" height="180"`);
    expect((await staff.get('/admin/products?q=IMG-1')).text).toContain(`/images/products/${img.id}-thumb.webp`);
    await addToBasket(t, visitor, 'IMG-1');
    expect((await visitor.get('/cart')).text).toContain(`<img class="basket-thumb" src="/images/products/${img.id}-thumb.webp" alt="A green box" width="240" height="180">`);

    const file = await visitor.get(`/images/products/${img.id}.webp`);
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe('image/webp');
    expect(file.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(file.headers['set-cookie']).toBeUndefined();
    expect((await sharp(file.body as Buffer).metadata()).width).toBe(640);
    const again = await visitor.get(`/images/products/${img.id}.webp`).set('If-None-Match', file.headers.etag);
    expect(again.status).toBe(304);
    expect((await visitor.get('/images/products/999999.webp')).status).toBe(404);

    // A new upload replaces the image under a new address (so cached copies never go stale).
    expect((await upload('IMG-1', photo, 'again.jpg', 'image/jpeg')).status).toBe(303);
    const [next] = await t.sql('select id, alt from product_images where product_id = $1', [await productId(t, 'IMG-1')]);
    expect(next.id).not.toBe(img.id);
    expect(next.alt).toBe('Product IMG-1'); // no alt text typed: the product name
    expect((await visitor.get(`/images/products/${img.id}.webp`)).status).toBe(404);
  });

  it('refuses a file that is not a picture, whatever its name says, on the product page', async () => {
    await newProduct('IMG-2');
    const res = await upload('IMG-2', Buffer.from('<html>not a picture</html>'), 'cat.png', 'image/png', 'my alt');
    expect(res.status).toBe(422);
    expect(res.text).toContain('The image must be a JPEG, PNG, WebP or GIF picture; this file is not one.');
    expect(res.text).toContain('data-testid="refused-image"');
    expect(res.text).toContain('value="my alt"');
    const svg = await upload('IMG-2', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), 'x.svg', 'image/svg+xml');
    expect(svg.status).toBe(422);
    expect((await t.sql('select count(*)::int as n from product_images where product_id = $1', [await productId(t, 'IMG-2')]))[0].n).toBe(0);
  });

  it('refuses a file over 5 MB with a clear message', async () => {
    await newProduct('IMG-3');
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, 1);
    const res = await upload('IMG-3', big, 'huge.png', 'image/png');
    expect(res.status).toBe(422);
    expect(res.text).toContain('The image file is too big: at most 5 MB.');
    expect((await t.sql('select count(*)::int as n from product_images where product_id = $1', [await productId(t, 'IMG-3')]))[0].n).toBe(0);
  });
});
