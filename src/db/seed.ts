import type { EntityManager } from '@mikro-orm/postgresql';
import { hashPassword } from '../accounts/password';
import { demoProductImage, saveProductImage } from '../catalog/product-images';
import { openingStock } from '../stock/stock';
import { emSql } from './sql';

/** Demo logins printed at start-up and used by the README. */
export const DEMO_USERS = [
  { email: 'shopper@orderflow.test', password: 'shopper-pass-1', name: 'Sam Shopper', role: 'shopper' as const, company: null },
  { email: 'buyer1@acme.test', password: 'buyer-pass-1', name: 'Bea Buyer', role: 'buyer' as const, company: 'C-10001' },
  { email: 'buyer2@acme.test', password: 'buyer-pass-2', name: 'Bo Buyer', role: 'buyer' as const, company: 'C-10001' },
  { email: 'admin@orderflow.test', password: 'admin-pass-1', name: 'Ada Admin', role: 'staff' as const, company: null, staffRole: 'administrator' },
  { email: 'clerk@orderflow.test', password: 'clerk-pass-1', name: 'Otto Clerk', role: 'staff' as const, company: null, staffRole: 'order_clerk' },
] as { email: string; password: string; name: string; role: 'shopper' | 'buyer' | 'staff'; company: string | null; staffRole?: string }[];

/**
 * Acme's company roles: Bea buys and may order carts up to 250.00 DKK without approval (above that Bo approves);
 * Bo buys, approves colleagues' carts and manages Acme's users, with a limit of 5,000.00 DKK.
 */
const DEMO_COMPANY_ACCESS = [
  { email: 'buyer1@acme.test', roles: ['buyer'], spendLimitMinor: 25000 },
  { email: 'buyer2@acme.test', roles: ['buyer', 'approver', 'admin'], spendLimitMinor: 500000 },
];

const GROUPS = [
  { slug: 'coffee', name: 'Coffee & Tea', vat: 1200, items: ['Espresso beans 1 kg', 'Filter coffee 500 g', 'Green tea 100 g', 'Earl Grey 100 g', 'Decaf beans 500 g', 'Chai blend 200 g', 'Cold brew pack', 'Cocoa powder 250 g', 'Rooibos 100 g', 'Single-origin Kenya 250 g', 'Oolong 100 g', 'Matcha 50 g'] },
  { slug: 'kitchen', name: 'Kitchen', vat: 2500, items: ['Chef knife 20 cm', 'Cutting board oak', 'Cast iron pan 28 cm', 'Saucepan 2 l', 'Pour-over kettle', 'Coffee grinder', 'French press 1 l', 'Measuring cups set', 'Mixing bowls set', 'Silicone spatula', 'Pepper mill', 'Espresso cups (4)', 'Tea infuser', 'Apron linen'] },
  { slug: 'office', name: 'Office', vat: 2500, items: ['Notebook A5 dotted', 'Fountain pen', 'Desk lamp LED', 'Monitor stand', 'Paper A4 500 sheets', 'Stapler', 'Sticky notes (12)', 'Ballpoint pens (10)', 'Desk organizer', 'Whiteboard 60x90', 'Highlighters (6)', 'Document tray'] },
  { slug: 'outdoor', name: 'Outdoor', vat: 2500, items: ['Water bottle 0.75 l', 'Thermos 1 l', 'Picnic blanket', 'Camping mug', 'Head torch', 'Rain poncho', 'Day pack 20 l', 'Folding chair', 'Trail mix 500 g', 'First aid kit', 'Hammock', 'Seat pad'] },
];

/**
 * Seeds the demo shop: the shop's basics (seedShopBasics) plus demo customers, staff, products, stock, the sandbox
 * card gateway, vouchers and the B2B cart flow. Idempotent: every insert is keyed on a natural key with ON CONFLICT
 * DO NOTHING, so running it at every start never duplicates anything and never overwrites what staff changed.
 */
export async function seedDemoData(em: EntityManager): Promise<void> {
  await em.transactional(async (tx) => {
    const x = (sql: string, params: unknown[] = []) => tx.execute(sql, params);
    // In this order, so ids are those of the demo before basics were split from it.
    await x(`insert into companies (name, customer_number) values ('Acme Retail A/S', 'C-10001') on conflict do nothing`);
    await x(`insert into payment_methods (code, name, description, provider, fee_minor, sort_order) values
      ('CARD', 'Card', 'Visa or Mastercard. The amount is reserved now and charged when we ship.', 'sandbox_card', 0, 1) on conflict do nothing`);
    await seedFlows(x, DEMO_FLOWS);
    await basics(x, 'Orderflow Demo Shop');
    for (const u of DEMO_USERS) {
      const exists = await x('select 1 from users where lower(email) = ?', [u.email]);
      if (exists.length) continue;
      const access = DEMO_COMPANY_ACCESS.find((a) => a.email === u.email);
      await x(
        `insert into users (email, password_hash, name, role, staff_role, company_id, can_reopen_records, company_roles, spend_limit_minor)
         values (?, ?, ?, ?, ?, (select id from companies where customer_number = ?), ?, ?::text[], ?) on conflict do nothing`,
        [u.email, await hashPassword(u.password), u.name, u.role, u.staffRole ?? null, u.company, u.role === 'staff', `{${access?.roles.join(',') ?? ''}}`, access?.spendLimitMinor ?? null],
      );
    }
    // Also on a database seeded before company roles existed: only while the users still have the migration's default.
    for (const a of DEMO_COMPANY_ACCESS) {
      await x(`update users set company_roles = ?::text[], spend_limit_minor = ? where lower(email) = ? and company_roles = '{buyer}' and spend_limit_minor is null`,
        [`{${a.roles.join(',')}}`, a.spendLimitMinor, a.email]);
    }
    await x(`insert into stock_locations (code, name) values ('store-copenhagen', 'Store Copenhagen') on conflict do nothing`);
    // By code: staff may have renamed them.
    const locations = await x(`select id, code from stock_locations where code in ('main', 'store-copenhagen')`) as { id: number; code: string }[];
    let n = 1000;
    const newProducts: { id: number; number: string; name: string }[] = [];
    for (const [gi, g] of GROUPS.entries()) {
      await x('insert into product_groups (slug, name, sort_order) values (?, ?, ?) on conflict do nothing', [g.slug, g.name, gi]);
      for (const [i, name] of g.items.entries()) {
        n++;
        const number = `P-${n}`;
        const price = 2900 + ((n * 7919) % 60) * 500; // 29.00 – 324.00 net, deterministic
        const inserted = await x(
          `insert into products (number, name, description, group_id, price_minor, vat_rate_bp, unit)
           values (?, ?, ?, (select id from product_groups where slug = ?), ?, ?, ?) on conflict (number) do nothing returning id, number, name`,
          [number, name, `${name} from our ${g.name.toLowerCase()} range.`, g.slug, price, g.vat, g.slug === 'coffee' ? 'pack' : 'pcs'],
        );
        newProducts.push(...(inserted as typeof newProducts));
        const main = i === 3 ? 0 : 20 + ((n * 31) % 80);
        const store = i % 4 === 0 ? 5 : 0;
        const [product] = await x('select id from products where number = ?', [number]) as { id: number }[];
        await openingStock(emSql(tx), product.id, locations.map((l) => ({ locationId: l.id, quantity: l.code === 'main' ? main : store })));
      }
    }
    // The sandbox hosted page is a test provider like the sandbox card: demo only (after basics' invoice, as before the split).
    await x(`insert into payment_methods (code, name, description, provider, fee_minor, sort_order) values
      ('PAYPAGE', 'Sandbox Pay', 'Pay by card on the payment provider''s secure page; you come back here when it is done.', 'sandbox_hosted', 0, 3) on conflict do nothing`);
    await x(`insert into vouchers (code, kind, value) values ('WELCOME10', 'percent', 10), ('SAVE50', 'amount', 5000) on conflict do nothing`);
    // Only products created just now: an image staff removed or replaced stays so.
    const pictures = await Promise.all(newProducts.map((p) => demoProductImage(p.name, p.number))); // drawn on libuv's threads
    for (const [i, p] of newProducts.entries()) await saveProductImage(emSql(tx), p.id, pictures[i], p.name);
  });
}

/**
 * What a real shop needs before staff set it up, and nothing of the demo (no users, products or sandbox gateway):
 * the shop's settings row, a stock location, shipping methods, invoice payment and the default flows. The first
 * staff user comes from `npm run staff:create`.
 */
export async function seedShopBasics(em: EntityManager): Promise<void> {
  await em.transactional(async (tx) => basics((sql: string, params: unknown[] = []) => tx.execute(sql, params), 'My shop'));
}

async function basics(x: Exec, shopName: string): Promise<void> {
  // Its order numbers start at 1001: the sequence the database makes for a new shop.
  await x(`insert into shops (id, name, currency_code, currency_name, currency_rate, order_prefix, order_number_padding, cart_prefix)
           values ('SHOP1', ?, 'DKK', 'Danish krone', 1, 'ORDER', 0, 'CART') on conflict do nothing`, [shopName]);
  await x(`insert into stock_locations (code, name) values ('main', 'Main warehouse') on conflict do nothing`);
  await x(`insert into shipping_methods (code, name, description, fee_minor, free_above_minor, sort_order) values
    ('STANDARD', 'Standard delivery', '2–4 working days. Free for orders of 500.00 DKK or more.', 3900, 50000, 1),
    ('EXPRESS', 'Express delivery', 'Next working day.', 9900, null, 2) on conflict do nothing`);
  await x(`insert into payment_methods (code, name, description, provider, fee_minor, sort_order) values
    ('INVOICE', 'Invoice', 'Pay within 14 days of receiving the invoice.', 'invoice', 2000, 2) on conflict do nothing`);
  await seedFlows(x, DEMO_FLOWS.filter((f) => f.isDefault));
}

type Exec = (sql: string, params?: unknown[]) => Promise<unknown[]>;

interface SeedState {
  /** The state's code within its seed flow: transitions name states by it, never by their display name. */
  key: string;
  name: string; color: string; role: string; final?: boolean; isDefault?: boolean; allowOrder?: boolean; allowEdit?: boolean; excludeFromStatistics?: boolean;
  /** Keys of the states this one may move to; none = any state of the flow type. */
  to?: string[];
  /** Per target key: the customers who may make that move besides staff (none: staff only). */
  customers?: Record<string, string[]>;
  notify?: { subject: string; customer?: boolean; others?: string; template?: string; othersTemplate?: string };
}
interface SeedFlow { type: string; code: string; name: string; isDefault: boolean; description: string; states: SeedState[] }

/** The demo flows the seeds describe. A flow is seeded once, by its code; staff changes to it (a new name too) are kept. */
export const DEMO_FLOWS: SeedFlow[] = [
  { type: 'order', code: 'standard-order', name: 'Standard order flow', isDefault: true, description: 'From a placed order to delivery.', states: [
    { key: 'new', name: 'New', role: 'new', color: '#2563eb', isDefault: true, allowEdit: true, to: ['received', 'cancelled'] },
    { key: 'received', name: 'Received', role: 'processing', color: '#0891b2', allowEdit: true, to: ['picked', 'cancelled'] },
    { key: 'picked', name: 'Picked', role: 'processing', color: '#7c3aed', to: ['shipped', 'cancelled'] },
    { key: 'shipped', name: 'Shipped', role: 'shipped', color: '#059669', to: ['completed'], notify: { subject: 'Your order {OrderID} has been shipped', customer: true, template: 'mail/flow/order-shipped.njk' } },
    { key: 'completed', name: 'Completed', role: 'completed', final: true, color: '#374151', to: [] },
    { key: 'cancelled', name: 'Cancelled', role: 'cancelled', final: true, color: '#dc2626', excludeFromStatistics: true, to: [] },
  ] },
  { type: 'cart', code: 'standard-cart', name: 'Standard cart', isDefault: true, description: 'Shoppers check out whenever they like.', states: [
    { key: 'open', name: 'Open', role: 'open', color: '#2563eb', isDefault: true, allowOrder: true, allowEdit: true },
  ] },
  { type: 'cart', code: 'b2b-cart-approval', name: 'B2B cart approval', isDefault: false, description: 'Company carts are approved before they are ordered.', states: [
    { key: 'open', name: 'New', role: 'open', color: '#2563eb', isDefault: true, allowOrder: false, allowEdit: true, to: ['submitted'], customers: { submitted: ['owner', 'buyer'] } },
    { key: 'submitted', name: 'Submitted for approval', role: 'submitted', color: '#d97706', allowOrder: false, to: ['approved', 'rejected'], customers: { approved: ['approver'], rejected: ['approver'] },
      notify: { subject: 'Cart {OrderID} is waiting for your approval', others: 'approver@acme.test', othersTemplate: 'mail/flow/staff-notice.njk' } },
    { key: 'approved', name: 'Approved', role: 'approved', color: '#059669', allowOrder: true, to: ['open'], customers: { open: ['owner', 'buyer', 'approver'] }, notify: { subject: 'Cart {OrderID} was approved', customer: true } },
    { key: 'rejected', name: 'Rejected', role: 'rejected', color: '#dc2626', allowOrder: false, to: ['open'], customers: { open: ['owner', 'buyer', 'approver'] }, notify: { subject: 'Cart {OrderID} was rejected', customer: true } },
  ] },
  { type: 'quote', code: 'standard-quote', name: 'Quote flow', isDefault: true, description: 'Requests for a quote, offers and answers.', states: [
    { key: 'requested', name: 'Requested', role: 'requested', color: '#2563eb', isDefault: true, allowEdit: true, to: ['in_review', 'offered', 'rejected'] },
    { key: 'in_review', name: 'In review', role: 'in_review', color: '#d97706', allowEdit: true, to: ['offered', 'rejected'] },
    { key: 'offered', name: 'Offered', role: 'offered', color: '#7c3aed', to: ['accepted', 'rejected', 'expired', 'in_review'],
      customers: { accepted: ['owner', 'buyer'], rejected: ['owner', 'buyer'] }, notify: { subject: 'Your quote {OrderID} is ready', customer: true } },
    { key: 'accepted', name: 'Accepted', role: 'accepted', final: true, color: '#059669', to: [] },
    { key: 'rejected', name: 'Rejected', role: 'rejected', final: true, color: '#dc2626', excludeFromStatistics: true, to: [] },
    { key: 'expired', name: 'Expired', role: 'expired', final: true, color: '#6b7280', excludeFromStatistics: true, to: [], notify: { subject: 'Your quote {OrderID} has expired', customer: true } },
  ] },
  { type: 'return', code: 'standard-return', name: 'Return flow', isDefault: true, description: 'Returned goods (RMA).', states: [
    { key: 'requested', name: 'Requested', role: 'requested', color: '#2563eb', isDefault: true, to: ['approved', 'rejected'] },
    { key: 'approved', name: 'Approved', role: 'approved', color: '#0891b2', to: ['received'] },
    { key: 'rejected', name: 'Rejected', role: 'rejected', final: true, color: '#dc2626', to: [] },
    { key: 'received', name: 'Goods received', role: 'received', color: '#7c3aed', to: ['refunded', 'replaced'] },
    { key: 'refunded', name: 'Refunded', role: 'refunded', final: true, color: '#059669', to: [] },
    { key: 'replaced', name: 'Replaced', role: 'replaced', final: true, color: '#059669', to: [] },
  ] },
];

async function seedFlows(x: Exec, flows: SeedFlow[]): Promise<void> {
  for (const f of flows) {
    const existing = await x('select id from flows where code = ?', [f.code]);
    if (existing.length) continue;
    const hasDefault = (await x('select 1 from flows where type = ? and is_default', [f.type])).length > 0;
    const [flow] = (await x('insert into flows (type, code, name, description, is_default) values (?, ?, ?, ?, ?) returning id',
      [f.type, f.code, f.name, f.description, f.isDefault && !hasDefault])) as { id: number }[];
    const ids = new Map<string, number>();
    for (const [i, s] of f.states.entries()) {
      const [row] = (await x(
        `insert into flow_states (flow_id, name, role, final, is_default, sort_order, color, allow_order, allow_edit, exclude_from_statistics,
           mail_subject, send_to_billing_email, mail_template, others_recipients, others_template)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`,
        [flow.id, s.name, s.role, s.final ?? false, s.isDefault ?? false, i, s.color, s.allowOrder ?? true, s.allowEdit ?? false, s.excludeFromStatistics ?? false,
          s.notify?.subject ?? '', s.notify?.customer ?? false, s.notify?.customer ? (s.notify.template ?? 'mail/flow/state-changed.njk') : '',
          s.notify?.others ?? '', s.notify?.others ? (s.notify.othersTemplate ?? 'mail/flow/staff-notice.njk') : ''],
      )) as { id: number }[];
      ids.set(s.key, row.id);
    }
    for (const s of f.states) {
      for (const to of s.to ?? []) {
        await x('insert into flow_state_rules (from_state_id, to_state_id, actors) values (?, ?, ?::text[])', [ids.get(s.key), ids.get(to), `{${(s.customers?.[to] ?? []).join(',')}}`]);
      }
    }
    if (f.code === 'b2b-cart-approval') {
      await x(`update companies set cart_flow_id = ? where customer_number = 'C-10001' and cart_flow_id is null`, [flow.id]);
    }
  }
}
