import { createHash } from 'node:crypto';
import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import rateLimit from 'express-rate-limit';
import { z, type ZodType } from 'zod';
import { requireStaff } from '../http/auth';
import { toHttpProblem } from '../http/error-handler';
import { renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, inputKey, parse, requiredText } from '../http/validate';
import { PaymentRefused } from '../payments/payment.service';
import type { Services } from '../services';
import { DomainError, notFound } from '../shared/errors';
import { API_SCOPE_LABELS, API_SCOPES, type ApiScope } from './api.entities';
import { ApiError, type ApiAnswer, type ApiCaller, type WriteProgress } from './api.service';
import { log } from '../shared/log';
import { captureBody, exportedBody, IDEMPOTENCY_KEY, openApiDocument, orderListQuery, orderNumberParam, stateChangeBody, trackingBody } from './openapi';

/** Input at the API's edge: a failure is a 422 whose fields name the bad parts (as in the document). */
function parseInput<T>(schema: ZodType<T>, input: unknown, where: 'body' | 'query'): T {
  return parse(schema, input, {
    message: (fields) => `The request ${where === 'body' ? 'body' : 'query'} is not valid: ${Object.entries(fields).map(([k, v]) => (k === '_' ? v : `${k} ${v}`)).join('; ')}.`,
  });
}

/** A path's order id; anything that cannot be one is an order that does not exist. */
function orderNumber(raw: unknown): string {
  const r = orderNumberParam.safeParse(raw);
  if (!r.success) throw notFound(`Order ${String(raw).slice(0, 60)}`);
  return r.data;
}

function idempotencyKeyOf(req: Request): string | null {
  const raw = req.get('idempotency-key');
  if (raw == null) return null;
  if (!IDEMPOTENCY_KEY.safeParse(raw).success) {
    throw new DomainError('VALIDATION', 'The Idempotency-Key header must be 1–255 printable characters without spaces, e.g. a UUID.',
      { 'Idempotency-Key': 'must be 1–255 printable characters' });
  }
  return raw;
}

/** What makes two requests "the same": method, path and body (keys sorted, so key order does not matter). */
function fingerprint(req: Request): string {
  return createHash('sha256').update(`${req.method} ${req.baseUrl}${req.path}\n${canonicalJson(req.body ?? {})}`).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The one mapping from an error to the API's JSON answer; payment refusals also say why (reason). */
export function apiProblem(err: unknown): ApiAnswer & { body: { error: Record<string, unknown> } } {
  const p = toHttpProblem(err);
  const error: Record<string, unknown> = { code: err instanceof ApiError ? err.apiCode : p.code, message: p.message, fields: p.fields };
  if (err instanceof PaymentRefused) error.reason = err.refusal;
  return { status: p.status, body: { error } };
}

/** The largest write body accepted (413 TOO_LARGE above it). */
export const MAX_BODY = '256kb';
const parseJson = express.json({ limit: MAX_BODY });

/**
 * A write's body: JSON or nothing. Parsed only after the key was checked (401/403 first), and only on writes, so a
 * read never answers 400 or 413 for a body it does not use. A non-empty body of another type is a 415.
 */
const jsonBody: RequestHandler = (req, res, next) => {
  const sent = req.get('transfer-encoding') != null || Number(req.get('content-length') ?? 0) > 0;
  if (sent && !req.is('application/json')) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as JSON with “Content-Type: application/json”.',
      { 'Content-Type': 'must be application/json' });
  }
  parseJson(req, res, next);
};

const callers = new WeakMap<Request, ApiCaller>();
const callerOf = (req: Request): ApiCaller => callers.get(req)!;

/**
 * Mounted at /api/v1 BEFORE sessions and CSRF (API keys, no cookies). JSON in and out. At most `rateLimit.max`
 * requests per API key and window (in this process's memory), counted once the key and its permission are checked.
 */
export function apiRoutes(s: Services, opts: { rateLimit?: { windowMs: number; max: number } } = {}): Router {
  const r = Router();
  const api = s.api;

  r.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  r.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });

  const limit = opts.rateLimit ?? { windowMs: 60_000, max: 600 };
  const perKey = rateLimit({
    windowMs: limit.windowMs,
    limit: limit.max,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => `api-key:${callerOf(req).keyId}`,
    handler: (_req, res, next) => {
      res.set('Retry-After', String(Math.ceil(limit.windowMs / 1000)));
      next(new ApiError('RATE_LIMITED', 'RATE_LIMITED', `This API key sent more than ${limit.max} requests in ${Math.round(limit.windowMs / 1000)} seconds. Wait for Retry-After seconds, then continue.`));
    },
  });

  /** Authenticates the Bearer key, checks the endpoint's permission, then the key's request rate. */
  const allow = (scope: ApiScope): RequestHandler => async (req, res, next) => {
    const caller = await api.authenticate(req.get('authorization'));
    api.assertScope(caller, scope);
    callers.set(req, caller);
    await perKey(req, res, next);
  };

  /**
   * A write: validated input, then the service call, at most once per Idempotency-Key. Refusals the client caused
   * (4xx) are part of the stored answer, so a retry gets the same refusal; a 5xx stores nothing and may be retried.
   * A capture calls the payment provider, so its key is claimed and committed first ('claimed': no transaction open
   * across the call; a concurrent repeat waits for the answer, see ApiService.idempotent).
   */
  const write = <T>(schema: ZodType<T>, run: (caller: ApiCaller, number: string, input: T, progress: WriteProgress) => Promise<unknown>, mode: 'one_transaction' | 'claimed' = 'one_transaction'): RequestHandler => async (req, res) => {
    const caller = callerOf(req);
    const number = orderNumber(req.params.number);
    const input = parseInput(schema, req.body ?? {}, 'body');
    const key = idempotencyKeyOf(req);
    const progress: WriteProgress = { unknownOutcome: null };
    const answer = await api.idempotent(caller, key, fingerprint(req), async () => {
      try {
        return { status: 200, body: await run(caller, number, input, progress) };
      } catch (e) {
        const problem = apiProblem(e);
        if (problem.status < 500) return problem;
        if (!progress.unknownOutcome) throw e;
        // The provider may have acted: the outcome is unknown, which is the answer (stored, so a retry never calls again).
        log.error({ err: e, requestId: req.id }, `[api] ${req.method} ${req.originalUrl} failed after the payment provider was asked`);
        return apiProblem(progress.unknownOutcome);
      }
    }, mode);
    if (answer.replayed) res.set('Idempotent-Replayed', 'true');
    res.status(answer.status).type('application/json').send(answer.json);
  };

  r.get('/orders', allow('orders:read'), async (req, res) => {
    const q = parseInput(orderListQuery, req.query, 'query');
    res.json(await api.listOrders({ ...q, exported: q.exported == null ? undefined : q.exported === 'true' }));
  });

  r.get('/orders/:number', allow('orders:read'), async (req, res) => {
    res.json(await api.order(orderNumber(req.params.number)));
  });

  r.post('/orders/:number/state', allow('orders:write'), jsonBody, write(stateChangeBody, (caller, number, input) => api.changeState(caller, number, input, s.flows)));
  r.post('/orders/:number/tracking', allow('orders:write'), jsonBody, write(trackingBody, (caller, number, input) => api.setTracking(caller, number, input)));
  r.post('/orders/:number/capture', allow('payments:capture'), jsonBody, write(captureBody, (caller, number, input, progress) => api.capture(caller, number, input.amountMinor, s.paymentDesk, progress), 'claimed'));
  r.post('/orders/:number/exported', allow('orders:write'), jsonBody, write(exportedBody, (caller, number) => api.markExported(caller, number)));

  // Nothing else lives here: unknown paths are JSON 404s and never reach the session, CSRF or page routes.
  r.use((req, _res, next) => next(notFound(`The endpoint ${req.method} ${req.baseUrl}${req.path}`)));

  const onError: ErrorRequestHandler = (err, req, res, next) => {
    const problem = apiProblem(err);
    if (problem.status >= 500) return next(err);
    if (problem.status === 401) res.set('WWW-Authenticate', 'Bearer realm="orderflow"');
    res.status(problem.status).json({ error: { ...problem.body.error, requestId: req.id } });
  };
  r.use(onError);
  return r;
}

// ——— staff: /admin/settings/api-keys ———

const BASE = '/admin/settings/api-keys';
const keyForm = z.object({
  name: requiredText(100),
  scopes: z.preprocess((v) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]),
    z.array(z.enum(API_SCOPES, { error: 'contains an unknown permission' })).min(1, { error: 'choose at least one' }).max(API_SCOPES.length)),
});

function keyId(raw: unknown): number {
  const r = typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? idParam.safeParse(raw) : null;
  if (!r?.success) throw notFound('The API key');
  return r.data;
}

/** Mounted at /admin/settings/api-keys (after sessions; staff only). Create (the secret shown once), list, revoke. */
export function apiKeyAdminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  const renderList = async (res: Response, status = 200, extra: Record<string, unknown> = {}) => {
    res.status(status).render('admin/api-keys/list.njk', {
      keys: await s.api.listKeys(), scopeLabels: API_SCOPE_LABELS, scopes: API_SCOPES, values: { scopes: ['orders:read'] }, fields: {}, base: BASE, ...extra,
    });
  };

  r.get('/', async (_req, res) => renderList(res));

  r.post('/', async (req, res) => {
    let created;
    try {
      const form = parse(keyForm, req.body, {
        key: inputKey,
        message: (fields) => `Nothing was created. Please check: ${Object.entries(fields).map(([k, v]) => `${k === 'scopes' ? 'Permissions' : 'Name'} ${v}`).join('; ')}.`,
      });
      created = await s.api.createKey(form, req.user!.id);
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => {
        const body = req.body ?? {};
        const scopes = (Array.isArray(body.scopes) ? body.scopes : [body.scopes]).filter((x: unknown): x is string => typeof x === 'string');
        return renderList(res, status, { error: refusal.message, fields: refusal.fields, values: { name: typeof body.name === 'string' ? body.name : '', scopes } });
      });
    }
    // Shown this once: rendered straight from the POST (never put in the session or a redirect) and not cached.
    res.set('Cache-Control', 'no-store');
    res.status(201).render('admin/api-keys/created.njk', { key: created.key, secret: created.secret, scopeLabels: API_SCOPE_LABELS, base: BASE });
  });

  r.post('/:id/revoke', async (req, res) => {
    const { key, alreadyRevoked } = await s.api.revokeKey(keyId(req.params.id), req.user!.id);
    flash(req, 'success', alreadyRevoked ? `“${key.name}” was already revoked.` : `Revoked “${key.name}”: requests with it are refused from now on.`);
    res.redirect(303, BASE);
  });

  return r;
}
