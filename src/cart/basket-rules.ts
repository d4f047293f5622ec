import { DomainError } from '../shared/errors';

/** The refusals both add-to-basket paths share (CartService.addProduct and quick-add.ts), so both refuse alike. */
import { MAX_LINE_QUANTITY } from '../shared/quantity';

export function stockRefusal(allowOutOfStock: boolean, inStock: number, wanted: number, productName: string): DomainError | null {
  if (allowOutOfStock || inStock >= wanted) return null;
  return new DomainError('INSUFFICIENT_STOCK', inStock > 0 ? `Only ${inStock} × ${productName} in stock.` : `${productName} is out of stock.`, { quantity: `at most ${inStock}` });
}

export function notEditable(): DomainError {
  return new DomainError('CART_NOT_EDITABLE', 'This order is being placed and can no longer be changed.');
}

export function tooMany(): DomainError {
  return new DomainError('VALIDATION', `A basket line can hold at most ${MAX_LINE_QUANTITY} items.`, { quantity: `must be at most ${MAX_LINE_QUANTITY}` });
}
