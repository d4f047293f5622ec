import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { inContext, type PageRenderer, renderInvalid } from '../http/in-context';
import { clearBasketCookie, flash, shopperOf } from '../http/shopper';
import type { PlacedOrdersCookie } from '../http/placed-orders';
import { idParam, orderNumber, parse, requiredText, text } from '../http/validate';
import { COUNTRIES } from '../shared/countries';
import { ADDRESS_FIELDS, type Address } from '../orders/order.entities';
import type { CheckoutPage } from './checkout-page';
import type { Services } from '../services';

const email = z.string().trim().min(1, { error: 'is required' }).max(200).email({ error: 'must be an e-mail address' });
const country = z.string().trim().regex(/^[A-Z]{2}$/, { error: 'is required: choose one from the list' });
const addressSchema = z.object({
  name: requiredText(120), company: text(120), address: requiredText(200), address2: text(200),
  zip: requiredText(20), city: requiredText(100), country, region: text(60), phone: text(40), email,
});
const optionalAddress = addressSchema.partial().extend({ email: z.string().trim().max(200).default(''), country: z.string().trim().max(2).default('') });

const placeForm = z.object({
  orderNumber: orderNumber(),
  customerComment: text(2000).default(''),
  cardNumber: z.string().trim().max(30).optional(),
  cardExpiry: z.string().trim().max(7).optional(),
  cardCvc: z.string().trim().max(4).optional(),
  cardHolder: text(120).optional(),
  shownTotalMinor: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

const FIELD_LABELS: Record<string, string> = {
  name: 'Full name', company: 'Company', address: 'Street address', address2: 'Address line 2', zip: 'Postal code',
  city: 'City', country: 'Country', region: 'Region', phone: 'Phone', email: 'E-mail',
};

/** Reads one address from the form; errors name the field as its label does and point at the prefixed input. */
function addressFrom(body: Record<string, unknown>, prefix: 'billing' | 'delivery', required: boolean): Address {
  const raw: Record<string, unknown> = {};
  for (const f of ADDRESS_FIELDS) raw[f] = body[`${prefix}_${f}`] ?? '';
  const parsed: Partial<Address> = parse<Partial<Address>>(required ? addressSchema : optionalAddress, raw, {
    key: (path) => `${prefix}_${String(path[0])}`,
    // Every field that needs attention, not only the first: the banner is what a screen reader hears first.
    message: (fields) => `Please check the ${prefix} address: ${Object.entries(fields)
      .map(([key, message]) => `${FIELD_LABELS[key.slice(prefix.length + 1)]} ${message}`).join('; ')}.`,
  });
  const out = {} as Address;
  for (const f of ADDRESS_FIELDS) out[f] = parsed[f] ?? '';
  return out;
}

const methodsForm = z.object({ shippingMethodId: idParam, paymentMethodId: idParam });
// Built once: a zod schema costs more to build than to check (~15–25 µs against < 1 µs).
const receiptNumber = orderNumber();
const voucherCode = text(36);
const paymentReference = z.string().regex(/^[A-Za-z0-9-]{1,80}$/, { error: 'is not a payment reference' });

export function checkoutRoutes(s: Services, placedOrders: PlacedOrdersCookie): Router {
  const r = Router();

  r.get('/', (_req, res) => res.redirect(303, '/checkout/addresses'));

  // Checkout starts: the cart becomes an order and takes its number here (the pages only read).
  r.post('/', async (req, res) => {
    await s.checkout.begin(shopperOf(req));
    res.redirect(303, '/checkout/addresses');
  });

  r.get('/addresses', async (req, res) => {
    const page = await s.checkout.page(shopperOf(req));
    res.render('checkout/addresses.njk', { ...page, delivery: page.order.deliverySameAsBilling ? null : page.delivery, countries: COUNTRIES });
  });

  r.post('/addresses', async (req, res) => {
    const sameAsBilling = req.body.deliverySameAsBilling === 'on' || req.body.deliverySameAsBilling === 'true';
    try {
      const billing = addressFrom(req.body, 'billing', true);
      const delivery = sameAsBilling ? billing : addressFrom(req.body, 'delivery', true);
      await s.checkout.saveAddresses(shopperOf(req), { billing, deliverySameAsBilling: sameAsBilling, delivery });
    } catch (e) {
      // Show the form again with what was typed, so nothing the shopper entered is lost.
      return renderInvalid(res, e, 'checkout/addresses.njk', async () => ({
        ...(await s.checkout.page(shopperOf(req))), billing: rawAddress(req, 'billing'), delivery: sameAsBilling ? null : rawAddress(req, 'delivery'), countries: COUNTRIES,
      }));
    }
    res.redirect(303, '/checkout/methods');
  });

  r.get('/methods', async (req, res) => {
    const page = await s.checkout.page(shopperOf(req), true);
    if (!pastStep(page, 'addresses')) return res.redirect(303, '/checkout/addresses');
    res.render('checkout/methods.njk', page);
  });

  r.post('/methods', async (req, res) => {
    const form = parse(methodsForm, req.body);
    await s.checkout.saveMethods(shopperOf(req), form);
    res.redirect(303, '/checkout/review');
  });

  /** The review step; after a refused placement (a declined card, stock gone) with the message and the typed comment. */
  const reviewPage: PageRenderer = async (req, res, actionError) => {
    const page = await s.checkout.page(shopperOf(req));
    // A refusal for a basket no longer at this step (changed in another window) goes with the shopper to the step.
    const backTo = (step: string) => {
      if (actionError) flash(req, 'error', actionError.message);
      res.redirect(303, `/checkout/${step}`);
    };
    if (!pastStep(page, 'addresses')) return backTo('addresses');
    if (!pastStep(page, 'methods')) return backTo('methods');
    const provider = page.order.paymentMethod ? s.payments.get(page.order.paymentMethod.provider) : undefined;
    res.render('checkout/review.njk', { ...page, needsCard: provider?.flow === 'direct' && provider.needsCard, hostedPayment: provider?.flow === 'hosted', actionError });
  };
  r.get('/review', (req, res) => reviewPage(req, res));

  // A code that is not valid is shown by the voucher field on the review page, as typed.
  r.post('/voucher', inContext('voucher', reviewPage, async (req, res) => {
    const code = parse(voucherCode, req.body.voucherCode ?? '');
    await s.checkout.applyVoucher(shopperOf(req), req.body.remove ? '' : code);
    flash(req, 'success', req.body.remove || !code ? 'Voucher removed.' : 'Voucher applied.');
    res.redirect(303, '/checkout/review');
  }));

  r.post('/place', inContext('place', reviewPage, async (req, res) => {
    const form = parse(placeForm, req.body);
    const card = form.cardNumber ? { number: form.cardNumber, expiry: form.cardExpiry ?? '', cvc: form.cardCvc ?? '', holder: form.cardHolder ?? '' } : undefined;
    const origin = `${req.protocol}://${req.get('host')}`;
    const placed = await s.checkout.place(shopperOf(req), {
      orderNumber: form.orderNumber, customerComment: form.customerComment, card, ip: req.ip ?? '', placedInSession: placedOrders.read(req), shownTotalMinor: form.shownTotalMinor,
      urls: { returnUrl: `${origin}/checkout/payment-return`, webhookUrl: `${origin}/payments/webhooks/sandbox_hosted` },
    });
    if (placed.redirectUrl !== undefined) return res.redirect(303, placed.redirectUrl); // the provider's payment page
    showReceipt(req, res, placed);
  }));

  // Back from a hosted payment page: the provider (not the redirect's query) says how it went.
  r.get('/payment-return', async (req, res) => {
    const reference = parse(paymentReference, req.query.reference);
    const outcome = await s.checkout.returnFromPaymentPage(shopperOf(req), reference, placedOrders.read(req));
    if (outcome.kind === 'placed') return showReceipt(req, res, outcome);
    flash(req, 'error', outcome.kind === 'failed' ? outcome.message : 'Your payment was not finished, so the order has not been placed yet. You can pay again below.');
    res.redirect(303, '/checkout/review');
  });

  r.get('/receipt/:number', async (req, res) => {
    const number = parse(receiptNumber, req.params.number);
    res.render('checkout/receipt.njk', await s.checkout.receipt(shopperOf(req), number, placedOrders.read(req)));
  });

  /** A placed order: remembered for this browser (a guest's receipt, src/http/placed-orders.ts), basket cookie gone, on to the receipt. */
  function showReceipt(req: Request, res: Response, placed: { orderId: number; number: string }): void {
    placedOrders.remember(req, res, placed.orderId);
    clearBasketCookie(res);
    res.redirect(303, `/checkout/receipt/${encodeURIComponent(placed.number)}`);
  }

  return r;
}

/**
 * Whether the shopper has done `step`: a later page needs it. A cart (checkout not started, or the basket changed
 * since) goes back to the addresses page, whose POST starts checkout again.
 */
function pastStep(page: CheckoutPage, step: 'addresses' | 'methods'): boolean {
  return page.order.type === 'order' && page.order.checkoutStep !== step;
}


function rawAddress(req: Request, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ADDRESS_FIELDS) out[f] = typeof req.body[`${prefix}_${f}`] === 'string' ? String(req.body[`${prefix}_${f}`]).slice(0, 300) : '';
  return out;
}
