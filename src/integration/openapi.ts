import { z } from 'zod';
import { API_SCOPES } from './api.entities';
import { MAX_PAGE_SIZE } from './api.service';
import { trackingNumberField } from '../shipping/tracking-number';

/**
 * The JSON API's contract: the zod schemas the routes parse input with, and the OpenAPI 3.1 document served at
 * GET /api/v1/openapi.json. Request bodies and query parameters in the document are generated from the same zod
 * schemas, so what is documented is what is accepted; test/integration/api.test.ts checks routes and examples.
 */

// ——— input (parsed by src/integration/api.routes.ts) ———

export const orderNumberParam = z.string().regex(/^[A-Za-z0-9._-]{1,60}$/);

export const orderListQuery = z.object({
  changedSince: z.iso.datetime({ offset: true })
    // PostgreSQL has no year 0000 (it would answer with an error, not with orders).
    .refine((v) => !v.startsWith('0000'), { error: 'must be a moment in year 0001 or later' })
    .meta({ description: 'Only orders changed at or after this moment (ISO 8601 with Z or an offset).', examples: ['2026-11-24T08:00:00Z'] })
    .optional(),
  state: z.coerce.number().int().positive().max(2147483647)
    .meta({ description: 'Only orders in this flow state (state id).', examples: [5] })
    .optional(),
  shop: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/)
    .meta({ description: 'Only orders of this shop (shop id).', examples: ['DK'] })
    .optional(),
  exported: z.enum(['true', 'false'])
    .meta({ description: 'Only orders that are (true) or are not yet (false) marked as exported.', examples: ['false'] })
    .optional(),
  cursor: z.string().max(200)
    .meta({ description: 'nextCursor from the previous page; leave out for the first page.' })
    .optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50)
    .meta({ description: `Orders per page (1–${MAX_PAGE_SIZE}, default 50).`, examples: [100] }),
}).strict();

export const stateChangeBody = z.object({
  stateId: z.number().int().positive().max(2147483647).meta({ description: 'The flow state to move the order to.' }),
  expectedVersion: z.number().int().min(1).max(2147483647)
    .meta({ description: 'The order version you last read; if the order has changed since, nothing happens and the answer is 409.' })
    .optional(),
}).strict();

export const trackingBody = z.object({
  trackingNumber: trackingNumberField({ required: true })
    .meta({ description: 'The carrier\u2019s tracking number, as on the staff shipment form: up to 60 letters, digits, spaces and . _ / -, starting with a letter or digit.' }),
  trackingUrl: z.string().trim().max(2000).regex(/^https?:\/\/[^\s]+$/i).refine((v) => URL.canParse(v), { error: 'must be a web address' })
    .meta({ description: 'The carrier\u2019s tracking page (http or https); shown to the customer.' })
    .nullable().optional(),
}).strict();

export const captureBody = z.object({
  amountMinor: z.number().int().positive().max(Number.MAX_SAFE_INTEGER)
    .meta({ description: 'The amount to capture in minor units (øre/cents); at most what is left to capture.' }),
}).strict();

/** Marking as exported takes no input; an empty object (or no body) is accepted. */
export const exportedBody = z.object({}).strict();

export const IDEMPOTENCY_KEY = z.string().regex(/^[\x21-\x7e]{1,255}$/);

// ——— the document ———

type Json = Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Json) => ({ anyOf: [schema, { type: 'null' }] });

function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  return rest;
}

function queryParameters(schema: typeof orderListQuery): Json[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const s = jsonSchema(field as z.ZodType);
    const { description, examples, ...rest } = s as { description?: string; examples?: unknown[] };
    return { name, in: 'query', required: false, description, schema: rest, ...(examples?.length ? { example: examples[0] } : {}) };
  });
}

const address = {
  type: 'object',
  required: ['name', 'company', 'address', 'address2', 'zip', 'city', 'country', 'region', 'phone', 'email'],
  properties: Object.fromEntries(['name', 'company', 'address', 'address2', 'zip', 'city', 'country', 'region', 'phone', 'email'].map((k) => [k, { type: 'string' }])),
};

const SUMMARY_REQUIRED = ['number', 'shopId', 'state', 'version', 'createdAt', 'completedAt', 'updatedAt', 'currencyCode', 'totalMinor',
  'captureState', 'paymentStatus', 'capturedMinor', 'refundedMinor', 'exported', 'trackingNumber', 'trackingUrl', 'customer'];
const summaryProperties: Json = {
  number: { type: 'string', description: 'The order id, e.g. ORDER1001.', examples: ['ORDER1001'] },
  shopId: { type: 'string' },
  state: nullable({
    type: 'object', required: ['id', 'name', 'flowId', 'flowName'],
    properties: { id: { type: 'integer' }, name: { type: 'string' }, flowId: { type: 'integer' }, flowName: { type: 'string' } },
  }),
  version: { type: 'integer', description: 'Raised by every change; send it as expectedVersion to change the state only if nobody changed the order meanwhile.' },
  createdAt: { type: 'string', format: 'date-time' },
  completedAt: nullable({ type: 'string', format: 'date-time' }),
  updatedAt: { type: 'string', format: 'date-time', description: 'Last change, to the microsecond; orders are listed by (updatedAt, number).' },
  currencyCode: { type: 'string', examples: ['DKK'] },
  totalMinor: { type: 'integer', description: 'Total incl. VAT in minor units.' },
  captureState: nullable({ type: 'string', enum: ['not_supported', 'not_captured', 'split_captured', 'captured'] }),
  paymentStatus: { type: 'string', enum: ['none', 'authorized', 'partly_captured', 'captured', 'declined', 'cancelled', 'refunded', 'partly_refunded'] },
  capturedMinor: { type: 'integer' },
  refundedMinor: { type: 'integer' },
  exported: { type: 'boolean' },
  trackingNumber: nullable({ type: 'string' }),
  trackingUrl: nullable({ type: 'string' }),
  customer: {
    type: 'object', required: ['name', 'email', 'customerNumber'],
    properties: { name: { type: 'string' }, email: { type: 'string' }, customerNumber: nullable({ type: 'string' }) },
  },
};

/** After a write: the whole order for a key that may read orders (orders:read), otherwise only OrderRef. */
const writtenOrder = {
  anyOf: [ref('Order'), ref('OrderRef')],
  description: 'The order as it is now: in full (Order) when the key also has the permission `orders:read`, otherwise OrderRef.',
};

/** Every error code the API answers with (error.code); test/integration/api-statuses.test.ts drives each one. */
export const API_ERROR_CODES = ['BAD_REQUEST', 'UNAUTHENTICATED', 'PAYMENT_DECLINED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'TRANSITION_NOT_ALLOWED',
  'TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'VALIDATION', 'IDEMPOTENCY_KEY_REUSED', 'RATE_LIMITED', 'INTERNAL', 'UNAVAILABLE'] as const;

const components = {
  securitySchemes: {
    apiKey: { type: 'http', scheme: 'bearer', description: 'An API key created by staff at /admin/settings/api-keys: `Authorization: Bearer of_live_…`.' },
  },
  schemas: {
    Address: address,
    OrderSummary: { type: 'object', required: SUMMARY_REQUIRED, properties: summaryProperties },
    Order: {
      type: 'object',
      required: [...SUMMARY_REQUIRED, 'billingAddress', 'deliveryAddress', 'shippingMethod', 'paymentMethod', 'voucherCode', 'customerComment', 'lines', 'totals'],
      properties: {
        ...summaryProperties,
        billingAddress: ref('Address'),
        deliveryAddress: { ...ref('Address'), description: 'Where the goods go (the billing address unless a separate one was given).' },
        shippingMethod: nullable({ type: 'object', required: ['code', 'name'], properties: { code: { type: 'string' }, name: { type: 'string' } } }),
        paymentMethod: nullable({ type: 'object', required: ['code', 'name'], properties: { code: { type: 'string' }, name: { type: 'string' } } }),
        voucherCode: { type: 'string' },
        customerComment: { type: 'string' },
        lines: {
          type: 'array',
          items: {
            type: 'object',
            required: ['productNumber', 'productName', 'unit', 'quantity', 'unitPriceMinor', 'vatRateBp', 'discountMinor', 'totalExclVatMinor', 'totalMinor'],
            properties: {
              productNumber: { type: 'string' }, productName: { type: 'string' }, unit: { type: 'string' }, quantity: { type: 'integer' },
              unitPriceMinor: { type: 'integer', description: 'Excl. VAT.' }, vatRateBp: { type: 'integer', description: 'Basis points: 2500 = 25 %.' },
              discountMinor: { type: 'integer', description: 'Line discount excl. VAT.' },
              totalExclVatMinor: { type: 'integer' }, totalMinor: { type: 'integer', description: 'Incl. VAT.' },
            },
          },
        },
        totals: {
          type: 'object',
          description: 'Amounts incl. VAT unless named ExclVat, in minor units.',
          required: ['subtotalMinor', 'discountMinor', 'shippingFeeMinor', 'paymentFeeMinor', 'totalExclVatMinor', 'vatMinor', 'totalMinor', 'vat'],
          properties: {
            subtotalMinor: { type: 'integer' }, discountMinor: { type: 'integer' }, shippingFeeMinor: { type: 'integer' }, paymentFeeMinor: { type: 'integer' },
            totalExclVatMinor: { type: 'integer' }, vatMinor: { type: 'integer' }, totalMinor: { type: 'integer' },
            vat: {
              type: 'array',
              items: { type: 'object', required: ['rateBp', 'netMinor', 'vatMinor'], properties: { rateBp: { type: 'integer' }, netMinor: { type: 'integer' }, vatMinor: { type: 'integer' } } },
            },
          },
        },
      },
    },
    OrderPage: {
      type: 'object', required: ['data', 'nextCursor'],
      properties: {
        data: { type: 'array', items: ref('OrderSummary') },
        nextCursor: { ...nullable({ type: 'string' }), description: 'Pass as cursor to get the next page; null on the last page.' },
      },
    },
    OrderRef: {
      type: 'object',
      description: 'What a write answers about the order to a key without the permission `orders:read`: what the write changed, nothing about the customer, the addresses or the lines.',
      required: ['number', 'version', 'state', 'paymentStatus', 'captureState', 'capturedMinor', 'exported', 'trackingNumber'],
      properties: Object.fromEntries(['number', 'version', 'state', 'paymentStatus', 'captureState', 'capturedMinor', 'exported', 'trackingNumber'].map((k) => [k, summaryProperties[k]])),
    },
    WriteResult: {
      type: 'object', required: ['message', 'order'],
      properties: { message: { type: 'string' }, order: writtenOrder },
    },
    CaptureResult: {
      type: 'object', required: ['message', 'amountMinor', 'order'],
      properties: { message: { type: 'string' }, amountMinor: { type: 'integer' }, order: writtenOrder },
    },
    Error: {
      type: 'object', required: ['error'],
      properties: {
        error: {
          type: 'object', required: ['code', 'message', 'fields'],
          properties: {
            code: { type: 'string', enum: [...API_ERROR_CODES] },
            message: { type: 'string', description: 'A sentence for people; match on code, not on the message.' },
            fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'Field (or header) → what is wrong with it.' },
            requestId: { type: 'string', description: 'This request\'s id (also the X-Request-Id header): quote it when asking about a failure.' },
            reason: {
              type: 'string', description: 'For payment refusals: why.',
              enum: ['CAPTURE_NOT_SUPPORTED', 'NOT_CAPTURABLE', 'AMOUNT_TOO_HIGH', 'PROVIDER_REFUSED', 'PROVIDER_NO_ANSWER'],
            },
          },
        },
      },
    },
  },
  parameters: {
    OrderNumber: { name: 'number', in: 'path', required: true, description: 'The order id, e.g. ORDER1001.', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,60}$' } },
    IdempotencyKey: {
      name: 'Idempotency-Key', in: 'header', required: false,
      description: 'Any unique string (e.g. a UUID), up to 255 printable characters. Repeating a write with the same key returns the first answer (status and body) and never applies the write twice, also while the first is still running. The same key with a different request is refused with 422 IDEMPOTENCY_KEY_REUSED.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    },
  },
  responses: {
    BadRequest: {
      description: 'The request cannot be read: the body is not valid JSON, or the path has a broken %-escape (code BAD_REQUEST).',
      content: { 'application/json': { schema: ref('Error') } },
    },
    Unauthenticated: {
      description: 'No API key, an unknown key or a revoked key (code UNAUTHENTICATED).',
      headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
      content: { 'application/json': { schema: ref('Error') } },
    },
    Forbidden: { description: 'The key lacks the permission (scope) this endpoint needs (code FORBIDDEN).', content: { 'application/json': { schema: ref('Error') } } },
    NotFound: { description: 'No placed order with this id (code NOT_FOUND).', content: { 'application/json': { schema: ref('Error') } } },
    Unprocessable: {
      description: 'Invalid input (code VALIDATION, with fields), or an Idempotency-Key reused for another request (code IDEMPOTENCY_KEY_REUSED).',
      content: { 'application/json': { schema: ref('Error') } },
    },
    TooLarge: { description: 'The body is larger than 256 kB (code TOO_LARGE).', content: { 'application/json': { schema: ref('Error') } } },
    UnsupportedMediaType: {
      description: 'The body is not sent as `Content-Type: application/json` (code UNSUPPORTED_MEDIA_TYPE).',
      content: { 'application/json': { schema: ref('Error') } },
    },
    TooManyRequests: {
      description: 'The key sent more requests in the last minute than this shop allows (code RATE_LIMITED); nothing was done. Retry after the Retry-After header\u2019s seconds.',
      headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
      content: { 'application/json': { schema: ref('Error') } },
    },
    Internal: {
      description: 'A fault on our side (code INTERNAL); quote requestId when asking about it. Nothing was changed.',
      content: { 'application/json': { schema: ref('Error') } },
    },
    Unavailable: {
      description: 'The database cannot be reached just now (code UNAVAILABLE); nothing was changed. Retry after the Retry-After header\u2019s seconds, with the same Idempotency-Key.',
      headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
      content: { 'application/json': { schema: ref('Error') } },
    },
  },
};

const json = (schema: Json) => ({ 'application/json': { schema } });
const replayedHeader = { 'Idempotent-Replayed': { description: '“true” when this is the stored answer to an earlier request with the same Idempotency-Key.', schema: { type: 'string', enum: ['true'] } } };
const ERROR_RESPONSES = {
  400: 'BadRequest', 401: 'Unauthenticated', 403: 'Forbidden', 404: 'NotFound', 413: 'TooLarge', 415: 'UnsupportedMediaType', 422: 'Unprocessable',
  429: 'TooManyRequests', 500: 'Internal', 503: 'Unavailable',
} as const;
const errors = (...codes: (keyof typeof ERROR_RESPONSES)[]) => Object.fromEntries(codes.map((c) => [c, { $ref: `#/components/responses/${ERROR_RESPONSES[c]}` }]));
/**
 * Every operation that needs a key may be over the key's rate (429), and, since it reads the database, fail on our
 * side (500) or while the database is unreachable (503).
 */
const faults = errors(429, 500, 503);

function write(opts: { summary: string; description: string; scope: string; body: z.ZodType; example: Json; result: string; conflicts?: string; extra?: Json; required?: boolean }) {
  return {
    post: {
      summary: opts.summary,
      description: `${opts.description}\n\nNeeds the permission \`${opts.scope}\`.`,
      security: [{ apiKey: [opts.scope] }],
      parameters: [{ $ref: '#/components/parameters/OrderNumber' }, { $ref: '#/components/parameters/IdempotencyKey' }],
      requestBody: { required: opts.required ?? true, content: { 'application/json': { schema: jsonSchema(opts.body), example: opts.example } } },
      responses: {
        200: { description: 'Done; the order as it is now.', headers: replayedHeader, content: json(ref(opts.result)) },
        ...errors(400, 401, 403, 404),
        ...(opts.conflicts ? { 409: { description: opts.conflicts, headers: replayedHeader, content: json(ref('Error')) } } : {}),
        ...opts.extra,
        ...errors(413, 415, 422),
        ...faults,
      },
    },
  };
}

let cached: Json | null = null;

/** The OpenAPI 3.1 document (built once). */
export function openApiDocument(): Json {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'Orderflow API',
      version: '1.0.0',
      description: [
        'For ERP and fulfilment systems: read placed orders, move them through their flow, report tracking, capture payments and mark orders as exported.',
        'Authenticate with an API key created by staff (Settings → API keys): `Authorization: Bearer of_live_…`. Each key has permissions (scopes): '
          + `${API_SCOPES.map((s) => `\`${s}\``).join(', ')}.`,
        'Money is in integer minor units (øre/cents). Errors are `{ "error": { "code", "message", "fields" } }` with a stable code.',
        'Syncing: page through `GET /orders?changedSince=…` with `cursor` until `nextCursor` is null, and start the next sync from a little before the last `updatedAt` you saw.',
      ].join('\n\n'),
    },
    servers: [{ url: '/api/v1' }],
    security: [{ apiKey: [] }],
    paths: {
      '/openapi.json': {
        get: {
          summary: 'This document', security: [],
          responses: { 200: { description: 'The OpenAPI 3.1 document.', content: json({ type: 'object' }) } },
        },
      },
      '/orders': {
        get: {
          summary: 'List placed orders',
          description: 'Placed orders (not carts, not orders still in checkout, not deleted), oldest change first, ordered by (updatedAt, id) so paging is stable. Needs the permission `orders:read`.',
          security: [{ apiKey: ['orders:read'] }],
          parameters: queryParameters(orderListQuery),
          responses: { 200: { description: 'One page of orders.', content: json(ref('OrderPage')) }, ...errors(401, 403, 422), ...faults },
        },
      },
      '/orders/{number}': {
        get: {
          summary: 'One order with lines, totals and addresses',
          description: 'Needs the permission `orders:read`.',
          security: [{ apiKey: ['orders:read'] }],
          parameters: [{ $ref: '#/components/parameters/OrderNumber' }],
          responses: { 200: { description: 'The order.', content: json(ref('Order')) }, ...errors(400, 401, 403, 404), ...faults },
        },
      },
      '/orders/{number}/state': write({
        summary: 'Change the order\u2019s flow state',
        description: 'The same rules as the staff order page: a state with transition rules allows only those moves; the order may move into another order flow. The change is in the order history with source “api” and the key\u2019s name, and the state\u2019s notification e-mails are sent.',
        scope: 'orders:write', body: stateChangeBody, example: { stateId: 2, expectedVersion: 3 }, result: 'WriteResult',
        conflicts: 'The transition is not allowed (code TRANSITION_NOT_ALLOWED), or the order changed since expectedVersion (code CONFLICT).',
      }),
      '/orders/{number}/tracking': write({
        summary: 'Report the tracking number',
        description: 'Stores the carrier\u2019s tracking number on the order, and the tracking link (shown to the customer) when given. Sending it again replaces it.',
        scope: 'orders:write', body: trackingBody, example: { trackingNumber: '00370712345678901234', trackingUrl: 'https://tracking.example.com/00370712345678901234' },
        result: 'WriteResult',
      }),
      '/orders/{number}/capture': write({
        summary: 'Capture payment',
        description: 'Captures an amount through the payment desk, with its limits: never more than is left to capture; a capture that reaches the total closes it, a smaller one is a split capture.',
        scope: 'payments:capture', body: captureBody, example: { amountMinor: 10000 }, result: 'CaptureResult',
        conflicts: 'The order cannot be captured (not capturable, already captured, amount above what is left, payment method without capture, another payment call under way): code CONFLICT with reason. Reason PROVIDER_NO_ANSWER: the capture was sent but its outcome is unknown (the provider did not answer, or the shop failed while recording it); the order shows the outcome within a few minutes — read it before capturing again, with a new Idempotency-Key.',
        extra: { 402: { description: 'The payment provider refused the capture (code PAYMENT_DECLINED).', content: json(ref('Error')) } },
      }),
      '/orders/{number}/exported': write({
        summary: 'Mark the order as exported',
        description: 'Marks the order as taken over by your system (list with exported=false to get the ones still to fetch). Marking it again changes nothing.',
        scope: 'orders:write', body: exportedBody, example: {}, result: 'WriteResult', required: false,
      }),
    },
    components,
  };
  return cached;
}
