import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { type ActionError, inContext, renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, orderNumber, parse } from '../http/validate';
import { orderDetailsPage } from '../orders/order-details.page';
import type { Services } from '../services';
import { invalid } from '../shared/errors';
import { trackingNumberField } from './tracking-number';
import { TRACKING_PARAMETERS, type NewShipment, type ShipmentActor, type ShipmentDeps, type TrackingInput } from './shipment.service';

const ORDERS = '/admin/orders';
const TRACK_AND_TRACE = '/admin/track-and-trace';
const MAX_LINE_QUANTITY = 100000;

const trackingNumber = trackingNumberField({ required: false }).default('');
const trackAndTraceId = z.preprocess((v) => (v == null || v === '' ? null : v), idParam.nullable());
const trackingForm = z.object({ trackingNumber, trackAndTraceId });
const trackAndTraceForm = z.object({
  name: z.string({ error: 'is required' }).max(1000, { error: 'must be at most 100 characters' }),
  urlTemplate: z.string({ error: 'is required' }).max(5000, { error: 'must be at most 2000 characters' }),
});

/**
 * The "Ship now" quantities arrive as qty_<order line id> = units (empty or 0: not in this shipment). Anything else
 * that looks like a quantity but is not a whole number from 0 to 100000 is a 422.
 */
function quantitiesOf(body: Record<string, unknown>): NewShipment['quantities'] {
  const out: NewShipment['quantities'] = [];
  const entries = Object.entries(body ?? {}).filter(([k]) => k.startsWith('qty_'));
  if (entries.length > 500) throw invalid('Please check the quantities: too many lines in one form.');
  for (const [key, raw] of entries) {
    const id = /^qty_([1-9][0-9]{0,14})$/.exec(key);
    if (!id) throw invalid('Please check the quantities: the form does not match this order. Reload the page and try again.');
    const value = typeof raw === 'string' ? raw.trim() : raw;
    if (value === '' || value == null) continue;
    if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) > MAX_LINE_QUANTITY) {
      throw invalid(`Please check the quantities: “${String(Array.isArray(value) ? value.join(',') : value).slice(0, 20)}” is not a whole number from 0 to ${MAX_LINE_QUANTITY}.`, { [key]: 'must be a whole number' });
    }
    out.push({ lineId: Number(id[1]), quantity: Number(value) });
  }
  return out;
}

const actor = (req: Request): ShipmentActor => ({ userId: req.user!.id });
const orderUrl = (number: string) => `${ORDERS}/${encodeURIComponent(number)}`;

/**
 * Mounted at /admin. Shipments under /admin/orders/:number/shipments… (a refusal is shown on the order details page
 * next to the form), and the track & trace settings under /admin/track-and-trace. Staff only.
 */
export function shipmentAdminRoutes(s: Services): Router {
  const r = Router();
  const deps = (): ShipmentDeps => ({ payments: s.paymentDesk, outbox: s.outbox });
  const staff: RequestHandler = requireStaff;

  const detailsPage = orderDetailsPage(s, 'order');

  r.post('/orders/:number/shipments', staff, inContext('shipment', detailsPage, async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const form = parse(trackingForm, req.body);
    const outcome = await s.shipments.createShipment(number, { quantities: quantitiesOf(req.body), ...form }, actor(req), deps());
    flash(req, 'success', `${outcome.number}: ${outcome.message}`);
    res.redirect(303, `${orderUrl(outcome.number)}#shipments`);
  }));

  r.post('/orders/:number/shipments/capture-shipping-fee', staff, inContext('shipping-fee', detailsPage, async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const outcome = await s.shipments.captureShippingFee(number, actor(req), deps());
    flash(req, 'success', `${outcome.number}: ${outcome.message}`);
    res.redirect(303, `${orderUrl(outcome.number)}#shipments`);
  }));

  /** A shipment's page; refused tracking is shown in its form with what was typed (see inContext). */
  const shipmentPage = async (req: Request, res: Response, actionError?: ActionError) => {
    const data = await s.shipments.shipment(parse(orderNumber(), req.params.number), parse(idParam, req.params.no));
    res.render('admin/shipments/shipment.njk', { ...data, base: ORDERS, actionError: actionError ?? null });
  };

  r.get('/orders/:number/shipments/:no', staff, (req, res) => shipmentPage(req, res));

  r.post('/orders/:number/shipments/:no/tracking', staff, inContext('tracking', shipmentPage, async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const no = parse(idParam, req.params.no);
    const form: TrackingInput = parse(trackingForm, req.body);
    const outcome = await s.shipments.addTracking(number, no, form, actor(req), deps());
    flash(req, 'success', `${outcome.number}: ${outcome.message}`);
    res.redirect(303, `${orderUrl(outcome.number)}/shipments/${outcome.shipmentNo}`);
  }));

  // ——— track & trace configurations ———

  const renderList = async (res: Parameters<RequestHandler>[1], extra: Record<string, unknown> = {}) =>
    res.render('admin/shipments/track-and-trace.njk', { configs: await s.shipments.trackAndTraceList(), parameters: TRACKING_PARAMETERS, form: { name: '', urlTemplate: '' }, fields: {}, ...extra });

  // Track & trace configurations are a shop setting: read-only without 'settings.shop', saves refused.
  const settings = s.staffRoles.writesNeed('settings.shop');
  r.get('/track-and-trace', staff, settings, async (_req, res) => renderList(res));

  r.post('/track-and-trace', staff, settings, async (req, res) => {
    try {
      const form = parse(trackAndTraceForm, req.body);
      const config = await s.shipments.saveTrackAndTrace(null, form);
      flash(req, 'success', `Track & trace configuration “${config.name}” created.`);
      res.redirect(303, TRACK_AND_TRACE);
    } catch (e) {
      await renderInvalid(res, e, (refusal) => renderList(res, { form: formEcho(req.body), error: refusal.message, fields: refusal.fields }));
    }
  });

  r.get('/track-and-trace/:id', staff, settings, async (req, res) => {
    const config = await s.shipments.trackAndTrace(parse(idParam, req.params.id));
    res.render('admin/shipments/track-and-trace-edit.njk', { config, form: { name: config.name, urlTemplate: config.urlTemplate }, parameters: TRACKING_PARAMETERS, fields: {} });
  });

  r.post('/track-and-trace/:id', staff, settings, async (req, res) => {
    const id = parse(idParam, req.params.id);
    try {
      const form = parse(trackAndTraceForm, req.body);
      const config = await s.shipments.saveTrackAndTrace(id, form);
      flash(req, 'success', `Track & trace configuration “${config.name}” saved.`);
      res.redirect(303, TRACK_AND_TRACE);
    } catch (e) {
      await renderInvalid(res, e, 'admin/shipments/track-and-trace-edit.njk', async () => ({
        config: await s.shipments.trackAndTrace(id), form: formEcho(req.body), parameters: TRACKING_PARAMETERS,
      }));
    }
  });

  r.post('/track-and-trace/:id/delete', staff, settings, async (req, res) => {
    const done = await s.shipments.deleteTrackAndTrace(parse(idParam, req.params.id));
    flash(req, 'success', `Track & trace configuration “${done.name}” deleted.${done.shipments ? ` ${done.shipments} ${done.shipments === 1 ? 'shipment keeps its' : 'shipments keep their'} tracking link.` : ''}`);
    res.redirect(303, TRACK_AND_TRACE);
  });

  return r;
}

/** What the user typed, shown again next to the error (strings only, cut to a sane length). */
function formEcho(body: Record<string, unknown>): { name: string; urlTemplate: string } {
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 2000) : '');
  return { name: str(body?.name), urlTemplate: str(body?.urlTemplate) };
}
