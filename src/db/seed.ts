import type { EntityManager } from '@mikro-orm/postgresql';
import { hashPassword } from '../accounts/password';

/** Demo logins printed at start-up and used by the README. */
export const DEMO_USERS = [
  { email: 'shopper@orderflow.test', password: 'shopper-pass-1', name: 'Sam Shopper', role: 'shopper' as const, company: null },
  { email: 'buyer1@acme.test', password: 'buyer-pass-1', name: 'Bea Buyer', role: 'buyer' as const, company: 'C-10001' },
  { email: 'buyer2@acme.test', password: 'buyer-pass-2', name: 'Bo Buyer', role: 'buyer' as const, company: 'C-10001' },
  { email: 'admin@orderflow.test', password: 'admin-pass-1', name: 'Ada Admin', role: 'staff' as const, company: null },
];

const GROUPS = [
  { slug: 'coffee', name: 'Coffee & Tea', vat: 1200, items: ['Espresso beans 1 kg', 'Filter coffee 500 g', 'Green tea 100 g', 'Earl Grey 100 g', 'Decaf beans 500 g', 'Chai blend 200 g', 'Cold brew pack', 'Cocoa powder 250 g', 'Rooibos 100 g', 'Single-origin Kenya 250 g', 'Oolong 100 g', 'Matcha 50 g'] },
  { slug: 'kitchen', name: 'Kitchen', vat: 2500, items: ['Chef knife 20 cm', 'Cutting board oak', 'Cast iron pan 28 cm', 'Saucepan 2 l', 'Pour-over kettle', 'Coffee grinder', 'French press 1 l', 'Measuring cups set', 'Mixing bowls set', 'Silicone spatula', 'Pepper mill', 'Espresso cups (4)', 'Tea infuser', 'Apron linen'] },
  { slug: 'office', name: 'Office', vat: 2500, items: ['Notebook A5 dotted', 'Fountain pen', 'Desk lamp LED', 'Monitor stand', 'Paper A4 500 sheets', 'Stapler', 'Sticky notes (12)', 'Ballpoint pens (10)', 'Desk organizer', 'Whiteboard 60x90', 'Highlighters (6)', 'Document tray'] },
  { slug: 'outdoor', name: 'Outdoor', vat: 2500, items: ['Water bottle 0.75 l', 'Thermos 1 l', 'Picnic blanket', 'Camping mug', 'Head torch', 'Rain poncho', 'Day pack 20 l', 'Folding chair', 'Trail mix 500 g', 'First aid kit', 'Hammock', 'Seat pad'] },
];

/**
 * Seeds the demo shop. Idempotent: every insert is keyed on a natural key with ON CONFLICT DO NOTHING,
 * so running it at every start never duplicates anything and never overwrites what staff changed.
 */
export async function seedDemoData(em: EntityManager): Promise<void> {
  await em.transactional(async (tx) => {
    const x = (sql: string, params: unknown[] = []) => tx.execute(sql, params);
    await x(`insert into shops (id, name, currency_code, currency_name, currency_rate, order_prefix, order_next_number, order_number_padding, cart_prefix)
             values ('SHOP1', 'Orderflow Demo Shop', 'DKK', 'Danish krone', 1, 'ORDER', 1001, 0, 'CART') on conflict do nothing`);
    await x(`insert into companies (name, customer_number) values ('Acme Retail A/S', 'C-10001') on conflict do nothing`);
    for (const u of DEMO_USERS) {
      const exists = await x('select 1 from users where lower(email) = ?', [u.email]);
      if (exists.length) continue;
      await x(
        `insert into users (email, password_hash, name, role, company_id)
         values (?, ?, ?, ?, (select id from companies where customer_number = ?)) on conflict do nothing`,
        [u.email, await hashPassword(u.password), u.name, u.role, u.company],
      );
    }
    await x(`insert into stock_locations (name) values ('Main warehouse'), ('Store Copenhagen') on conflict do nothing`);
    let n = 1000;
    for (const [gi, g] of GROUPS.entries()) {
      await x('insert into product_groups (slug, name, sort_order) values (?, ?, ?) on conflict do nothing', [g.slug, g.name, gi]);
      for (const [i, name] of g.items.entries()) {
        n++;
        const number = `P-${n}`;
        const price = 2900 + ((n * 7919) % 60) * 500; // 29.00 – 324.00 net, deterministic
        await x(
          `insert into products (number, name, description, group_id, price_minor, vat_rate_bp, unit)
           values (?, ?, ?, (select id from product_groups where slug = ?), ?, ?, ?) on conflict (number) do nothing`,
          [number, name, `${name} from our ${g.name.toLowerCase()} range.`, g.slug, price, g.vat, g.slug === 'coffee' ? 'pack' : 'pcs'],
        );
        const main = i === 3 ? 0 : 20 + ((n * 31) % 80);
        const store = i % 4 === 0 ? 5 : 0;
        await x(
          `insert into stock_levels (product_id, location_id, quantity)
           select p.id, l.id, case l.name when 'Main warehouse' then ?::int else ?::int end from products p, stock_locations l where p.number = ?
           on conflict do nothing`,
          [main, store, number],
        );
      }
    }
    await x(`insert into shipping_methods (code, name, description, fee_minor, free_above_minor, sort_order) values
      ('STANDARD', 'Standard delivery', '2–4 working days. Free for orders of 500.00 DKK or more.', 3900, 50000, 1),
      ('EXPRESS', 'Express delivery', 'Next working day.', 9900, null, 2) on conflict do nothing`);
    await x(`insert into payment_methods (code, name, description, provider, fee_minor, sort_order) values
      ('CARD', 'Card', 'Visa or Mastercard. The amount is reserved now and charged when we ship.', 'sandbox_card', 0, 1),
      ('INVOICE', 'Invoice', 'Pay within 14 days of receiving the invoice.', 'invoice', 2000, 2) on conflict do nothing`);
    await x(`insert into vouchers (code, kind, value) values ('WELCOME10', 'percent', 10), ('SAVE50', 'amount', 5000) on conflict do nothing`);
    await seedFlows(x);
  });
}

type Exec = (sql: string, params?: unknown[]) => Promise<unknown[]>;

/** The demo flows of the seeds; states are seeded only when their flow is new. */
async function seedFlows(x: Exec): Promise<void> {
  const flows: { type: string; name: string; states: { name: string; color: string; isDefault?: boolean; allowOrder?: boolean; allowEdit?: boolean }[] }[] = [
    { type: 'order', name: 'Standard order flow', states: [
      { name: 'New', color: '#2563eb', isDefault: true, allowEdit: true }, { name: 'Received', color: '#0891b2', allowEdit: true },
      { name: 'Picked', color: '#7c3aed' }, { name: 'Shipped', color: '#059669' }, { name: 'Completed', color: '#374151' }, { name: 'Cancelled', color: '#dc2626' }] },
    { type: 'cart', name: 'B2B cart approval', states: [
      { name: 'New', color: '#2563eb', isDefault: true, allowOrder: false, allowEdit: true }, { name: 'Submitted for approval', color: '#d97706', allowOrder: false },
      { name: 'Approved', color: '#059669', allowOrder: true }, { name: 'Rejected', color: '#dc2626', allowOrder: false }] },
    { type: 'quote', name: 'Quote flow', states: [
      { name: 'Requested', color: '#2563eb', isDefault: true, allowEdit: true }, { name: 'In review', color: '#d97706', allowEdit: true }, { name: 'Offered', color: '#7c3aed' },
      { name: 'Accepted', color: '#059669' }, { name: 'Rejected', color: '#dc2626' }, { name: 'Expired', color: '#6b7280' }] },
    { type: 'return', name: 'Return flow', states: [
      { name: 'Requested', color: '#2563eb', isDefault: true }, { name: 'Approved', color: '#0891b2' }, { name: 'Rejected', color: '#dc2626' },
      { name: 'Goods received', color: '#7c3aed' }, { name: 'Refunded', color: '#059669' }, { name: 'Replaced', color: '#059669' }] },
  ];
  for (const f of flows) {
    const existing = await x('select id from flows where type = ? and is_default', [f.type]);
    if (existing.length) continue;
    const [flow] = (await x('insert into flows (type, name, is_default) values (?, ?, true) returning id', [f.type, f.name])) as { id: number }[];
    for (const [i, s] of f.states.entries()) {
      await x('insert into flow_states (flow_id, name, is_default, sort_order, color, allow_order, allow_edit) values (?, ?, ?, ?, ?, ?, ?)',
        [flow.id, s.name, s.isDefault ?? false, i, s.color, s.allowOrder ?? true, s.allowEdit ?? false]);
    }
  }
}
