import type { MikroORM } from '@mikro-orm/postgresql';
import { takeStockWith } from '../catalog/stock';
import type { Shopper } from '../cart/cart.service';
import { sqlTransaction } from '../db/sql';
import { ENQUEUE_ORDER_EXPORT_SQL } from '../exports/auto-export.service';
import type { OutboxService } from '../mail/outbox.service';
import { totalsColumns } from '../orders/order-lifecycle';
import type { PaymentProviders } from '../payments/payment-providers';
import { priceOrder } from './pricing';
import { PRICING_COLUMNS, PRICING_JOINS, pricingInputOf, type PricingRow } from './pricing-sql';
import { assertReadyToPlace, cardRequired, outOfStockMessage, PaymentDeclined, placedMessage, receiptMail, type PlaceInput, type PlaceResult } from './placement';

/**
 * Placing an order at the review step in three SQL statements (one more per extra line) in one transaction, for the
 * common case: the order row is locked and read with everything the rules need; stock is taken line by line; the
 * payment is authorized; one statement, sent with the COMMIT, completes the order and writes its payment
 * transaction, history entry, receipt mail and export job. The rules and messages are CheckoutService.place's
 * (./placement.ts), the money math is pricing.ts's. Anything unusual — no such order, one that is not at the review
 * step, catalog prices that changed since, a staff context date — answers null, and CheckoutService takes its ORM
 * path, which also gives the precise refusal.
 */
export async function quickPlace(orm: MikroORM, deps: { payments: PaymentProviders; outbox: OutboxService }, shopper: Shopper, input: PlaceInput): Promise<PlaceResult | null> {
  if (shopper.priceDate) return null;
  return sqlTransaction(orm, async (sql) => {
    const owner = shopper.userId != null ? 'o.user_id = ?' : 'o.user_id is null and o.anonymous_token = ?::uuid';
    const [order] = await sql<LockedOrder>(lockOrderSql(owner), [input.orderNumber, shopper.userId ?? shopper.anonymousToken ?? NO_TOKEN, input.placedInSession]);
    if (!order) return null;
    const orderId = Number(order.id);
    if (order.completed) return { orderId, number: order.number, alreadyPlaced: true };
    if (order.type !== 'order' || order.basket_status !== 'basket' || order.lines.some((l) => l.stale)) return null;
    assertReadyToPlace({
      lineCount: order.lines.length, hasShipping: order.shipping_name != null, hasPayment: order.payment_provider != null,
      billing: { name: order.billing_name, address: order.billing_address, zip: order.billing_zip, city: order.billing_city, country: order.billing_country, email: order.billing_email },
    });
    const totals = priceOrder(pricingInputOf(order));

    const taken = await takeStockWith(sql, order.lines.map((l) => ({ ...l, product: l.productId == null ? null : { id: l.productId } })), order.allow_out_of_stock, outOfStockMessage);
    const provider = deps.payments.get(order.payment_provider!);
    if (provider.needsCard && !input.card) throw cardRequired();
    const auth = await provider.authorize({ orderNumber: order.number, amountMinor: totals.totalMinor, currencyCode: order.currency_code, card: input.card });
    if (!auth.success) throw new PaymentDeclined(orderId, totals.totalMinor, auth.message);

    const completed = {
      number: order.number, billingName: order.billing_name, billingEmail: order.billing_email, currencyCode: order.currency_code,
      cardType: auth.cardType ?? '', cardLast4: auth.cardLast4 ?? '', customerComment: input.customerComment || order.customer_comment,
    };
    const receipt = deps.outbox.insertStatement(receiptMail(orderId, completed, order.lines, totals, order.shipping_name != null ? { name: order.shipping_name } : null, { name: order.payment_name! }));
    const columns = totalsColumns(totals);
    await sql.commitWith(
      `with placed as (
         update orders set ${columns.assignments}, basket_status = null, completed = true, completed_at = now(), checkout_step = 'confirmation',
           capture_state = ?, payment_status = 'authorized', transaction_number = ?, card_type = ?, card_last4 = ?, stock_reserved = true,
           customer_comment = ?, ip = ?, price_calculation_date = coalesce(price_calculation_date, now()), version = version + 1, updated_at = now()
         where id = ?),
       located as (
         update order_lines l set stock_location_id = t.location_id from unnest(array[?]::bigint[], array[?]::int[]) t(line_id, location_id) where l.id = t.line_id),
       payment as (
         insert into payment_transactions (order_id, operation, amount_minor, success, message, provider_reference) values (?, 'authorize', ?, true, ?, ?)),
       history as (
         insert into order_state_history (order_id, event, message, actor_user_id, actor_kind, source) values (?, 'placed', ?, ?, 'customer', 'checkout')),
       receipt as (${receipt.text}),
       export as (${ENQUEUE_ORDER_EXPORT_SQL})
       select 1`,
      [
        ...columns.values, provider.initialCaptureState, auth.reference, completed.cardType, completed.cardLast4, completed.customerComment, input.ip, orderId,
        [...taken.keys()].map((l) => l.id), [...taken.values()],
        orderId, totals.totalMinor, auth.message, auth.reference,
        orderId, placedMessage(order.payment_name!, auth.message), shopper.userId,
        ...receipt.values,
        orderId,
      ],
    );
    return { orderId, number: order.number, alreadyPlaced: false };
  });
}

/** Matches no basket: a guest without a basket cookie can only reach orders placed in this browser session. */
const NO_TOKEN = '00000000-0000-0000-0000-000000000000';

interface LockedOrder extends PricingRow {
  id: string; number: string; type: string; basket_status: string | null; completed: boolean;
  billing_name: string; billing_address: string; billing_zip: string; billing_city: string; billing_country: string; billing_email: string;
  currency_code: string; customer_comment: string;
}

/**
 * Values: the order number, the owner (user id or basket token), the ids of orders placed in this browser session.
 * The order row is locked (FOR UPDATE), so a double click waits and then finds the order placed.
 */
function lockOrderSql(owner: string): string {
  return `with target as (
      select o.* from orders o where o.number = ? and not o.deleted and (${owner} or o.id = any(array[?]::bigint[])) for update)
    select o.id, o.number, o.type, o.basket_status, o.completed, o.billing_name, o.billing_address, o.billing_zip, o.billing_city,
      o.billing_country, o.billing_email, o.currency_code, o.customer_comment, ${PRICING_COLUMNS}
    from target o
    ${PRICING_JOINS}`;
}
