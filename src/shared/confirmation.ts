/**
 * What an action that cannot be undone will do, shown before it runs (views/admin/payments/confirm.njk, or a dialog
 * with JavaScript): the confirmed second submit of the same form runs it. Refund, cancel and delete on the payment
 * desk, a return's refund, cancelling a recurring order.
 */
export interface Confirmation { number: string; title: string; consequences: string[]; confirmLabel: string }

/** A form's second submit, from the confirmation page or the dialog. */
export const isConfirmed = (body: unknown): boolean => (body as { confirmed?: unknown } | undefined)?.confirmed === '1';
