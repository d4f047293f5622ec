import type { Request, Response } from 'express';
import type { ActionError } from '../http/in-context';
import { orderNumber, parse } from '../http/validate';
import type { Services } from '../services';


/**
 * The staff details page of one order or cart (/admin/orders/:number, /admin/carts/:number): the record with its
 * lines and history, and the boxes each area owns (payment desk, shipments, additional information). Every action
 * form on the page is rendered again through here when it is refused (see inContext), so the page looks the same.
 */
export function orderDetailsPage(s: Services, type: 'order' | 'cart') {
  const base = type === 'order' ? '/admin/orders' : '/admin/carts';
  return async (req: Request, res: Response, actionError?: ActionError, extra: Record<string, unknown> = {}) => {
    const number = parse(orderNumber(), req.params.number);
    const details = await s.orderAdmin.details(number, type === 'cart' ? 'cart' : undefined, req.user!.id);
    const isOrder = details.order.type === 'order';
    const paymentBox = isOrder ? await s.paymentDesk.box(number) : null;
    const shipmentBox = isOrder ? await s.shipments.box(number) : null;
    const orderEdit = await s.orderEdit.detailsBox(number, req.user!);
    // A refused "Additional information" save: the messages by their fields and what was typed — unless the order
    // changed meanwhile, when its values as they are now are shown instead.
    if (orderEdit && actionError?.action === 'fields') {
      orderEdit.fields = actionError.fields;
      if (actionError.code !== 'CONFLICT') Object.assign(orderEdit.formValues, actionError.values);
    }
    res.render('admin/orders/details.njk', { ...details, paymentBox, shipmentBox, orderEdit, base, type, actionError: actionError ?? null, ...extra });
  };
}
