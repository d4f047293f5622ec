import { z } from 'zod';

/** The longest tracking number kept (the staff forms' maxlength and the API's limit). */
export const TRACKING_NUMBER_MAX = 60;
const FORM = /^[A-Za-z0-9][A-Za-z0-9 ._/-]*$/;

/**
 * The one rule for a carrier's tracking number, for the staff shipment forms and the JSON API alike: surrounding
 * spaces trimmed, at most 60 characters, A–Z letters (as carriers write them), digits, spaces and . _ / - starting with a letter or digit.
 * `required: false` (a shipment sent without one) lets an empty value through as "".
 */
export function trackingNumberField(opts: { required: boolean }) {
  const trimmed = z.string({ error: 'must be text' }).trim();
  return (opts.required ? trimmed.min(1, { error: 'is required' }) : trimmed)
    .max(TRACKING_NUMBER_MAX, { error: `must be at most ${TRACKING_NUMBER_MAX} characters` })
    .regex(opts.required ? FORM : new RegExp(`^$|${FORM.source}`), { error: 'may contain only the letters A–Z, digits, spaces and . _ / -, as carriers write them' });
}
