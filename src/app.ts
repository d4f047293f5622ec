import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import connectPgSimple from 'connect-pg-simple';
import cookieParser from 'cookie-parser';
import express, { type Express } from 'express';
import session from 'express-session';
import pg from 'pg';
import { accountRoutes } from './accounts/accounts.routes';
import { adminCustomerRoutes, companyAdminRoutes } from './accounts/company.routes';
import { adminRoutes } from './admin/admin.routes';
import { cartRoutes } from './cart/cart.routes';
import { catalogRoutes } from './catalog/catalog.routes';
import { contextDateMiddleware, contextDateRoutes } from './catalog/context-date';
import { firstVisitProductPage } from './catalog/first-visit-page';
import { catalogAdminRoutes, productImageUpload } from './catalog/catalog-admin.routes';
import { productImageRoute } from './catalog/product-images';
import { AnonymousCsrf } from './http/anonymous-csrf';
import { checkoutRoutes } from './checkout/checkout.routes';
import type { AppConfig } from './config';
import { flowSettingsRoutes } from './flows/flow-settings.routes';
import { configurePassport, installPassport } from './accounts/passport';
import { BasketCountCookie } from './http/basket-count';
import { PlacedOrdersCookie } from './http/placed-orders';
import { FlashCookie, takeFlash } from './http/flash';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { SESSION_COOKIE, safeNext, shopperOf } from './http/shopper';
import { orderAdminRoutes } from './orders/order-admin.routes';
import { customerCenterRoutes } from './customer-center/customer-center.routes';
import { orderHistoryRoutes } from './customer-center/order-history.routes';
import { paymentAdminRoutes } from './payments/payment-admin.routes';
import { adminQuoteRoutes, customerQuoteRoutes, requestQuoteRoute } from './quotes/quote.routes';
import { shipmentAdminRoutes } from './shipping/shipment.routes';
import { orderEditRoutes } from './orders/order-edit.routes';
import { recurringRoutes } from './recurring/recurring.routes';
import { statisticsRoutes } from './stats/statistics.routes';
import { returnRoutes } from './returns/return.routes';
import { apiKeyAdminRoutes, apiRoutes } from './integration/api.routes';
import { importRoutes } from './integration/import.routes';
import { STAFF_ROLES_PATH, staffRoleRoutes } from './accounts/staff-roles.routes';
import { MAIL_TEMPLATES_PATH, mailTemplateRoutes } from './mail/mail-templates.routes';
import { EXPORT_SETTINGS_PATH, exportSettingsRoutes, exportSettingsUpload } from './exports/export-settings.routes';
import { createViewEnv } from './shared/views';
import { ReadRouter } from './db/replicas';
import { requestContext } from './db/request-context';
import { HealthChecks } from './http/health';
import { requestLog } from './http/request-log';
import { securityHeaders } from './http/security-headers';
import { connectionTimeouts } from '../mikro-orm.config';
import { createServices, type Services } from './services';
import { paymentWebhookRoutes } from './payments/payment-webhook.routes';
import { sandboxPaymentPageRoutes } from './payments/sandbox-payment-page';
import { log } from './shared/log';
import { PUBLIC_DIR } from './shared/paths';
import { sessionCsrf } from './http/session-csrf';
import { hasSession, lazySession, openedSession } from './http/lazy-session';

const DAY_MS = 24 * 3600 * 1000;
/** A guest's own pages: the basket, checkout and its receipts (the customer center needs a login). */
const PERSONAL_PATHS = /^\/(cart|checkout|customer-center)(\/|$)/;
const SESSION_MAX_AGE_MS = 14 * DAY_MS;

/**
 * Sliding expiry without a database write on every request: a stored session whose expiry is more than a day
 * old is marked changed, so express-session saves it (new expiry in the store and in the cookie) once a day.
 */
const refreshSessionExpiry: express.RequestHandler = (req, _res, next) => {
  const expires = openedSession(req)?.cookie.expires;
  if (expires && expires.getTime() < Date.now() + SESSION_MAX_AGE_MS - DAY_MS) req.session.expiryRefreshedAt = Date.now();
  next();
};

const LOADED_SESSION = Symbol('the session as read from the store');
type WithLoadedSession = express.Request & { [LOADED_SESSION]?: string };

/** Keeps the session as it was read, so a redirect can tell whether this request changed it (sessionChanged). */
const rememberLoadedSession: express.RequestHandler = (req, _res, next) => {
  const loaded = openedSession(req);
  if (loaded) (req as WithLoadedSession)[LOADED_SESSION] = JSON.stringify(loaded);
  next();
};

/** True when the request changed its session (a flash message, a login, a CSRF token, a refreshed expiry …). */
const sessionChanged = (req: express.Request) => JSON.stringify(req.session) !== (req as WithLoadedSession)[LOADED_SESSION];

/**
 * Saves the session before redirecting, so the next page sees what this request stored (a login …). A session this
 * request did not change is not written again, and a visitor with nothing to keep gets no session row. Set once on
 * the app's response prototype (no wrapper per request); a request that opened no session just redirects.
 */
function saveSessionBeforeRedirect(app: Express): void {
  const keepSession = (req: express.Request) => {
    const opened = openedSession(req);
    if (!opened) return false;
    return hasSession(req) ? sessionChanged(req) : Object.keys(opened).some((k) => k !== 'cookie');
  };
  app.response.redirect = function redirectAfterSaving(this: express.Response, ...args: unknown[]) {
    if (!keepSession(this.req)) return sendRedirect(this, args);
    this.req.session.save(() => sendRedirect(this, args));
  } as typeof app.response.redirect;
}

/**
 * Express's redirect (`redirect(url)` is a 302, `redirect(status, url)`; the Location encoded by res.location) with a
 * plain-text body, without its negotiation of an HTML or text body that browsers following the redirect never show
 * (the POST → redirect → page of every form pays it).
 */
function sendRedirect(res: express.Response, args: unknown[]): void {
  const [status, url] = args.length >= 2 ? [Number(args[0]), String(args[1])] : [302, String(args[0])];
  res.location(url);
  const body = `${STATUS_CODES[status] ?? 'Redirect'}. Redirecting to ${String(res.get('Location'))}`;
  res.status(status).setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}


export interface BuiltApp { app: Express; services: Services; pruneSessions(): Promise<void>; close(): Promise<void> }

/** Builds the Express app; src/server.ts boots the database and listens, tests use it with supertest. */
export function createApp(orm: MikroORM, config: AppConfig, databaseUrl: string): BuiltApp {
  const app = express();
  const views = createViewEnv(app, { cache: config.production });
  const reads = ReadRouter.attach(orm, config.replicaUrls, { maxLagMs: config.replicaMaxLagMs });
  const services = createServices(orm, views, { catalogCacheMs: config.catalogCacheMs, placement: config.placement, paymentOperationStaleSeconds: config.paymentOperationStaleSeconds, sandbox: config.sandbox, exportDir: config.exportDir, exportXslPath: config.exportXslPath });
  const pass = configurePassport(services.accounts, config.sessionUserTtlMs);
  installPassport(app, pass);
  const sessionPool = new pg.Pool({
    connectionString: databaseUrl, max: 10,
    ...connectionTimeouts({ statementTimeoutMs: config.statementTimeoutMs, acquireTimeoutMs: config.poolAcquireTimeoutMs }),
  });
  // An idle connection dropped by the server (restart, failover) must not crash the process; the pool reconnects.
  sessionPool.on('error', (e) => log.warn(`[session-store] idle connection lost: ${e.message}`));
  const PgStore = connectPgSimple(session);

  app.set('trust proxy', config.trustProxy);
  app.use(requestLog());
  app.set('view engine', 'njk');
  app.disable('x-powered-by');
  // Referrer: our own pages only (the error page's way back to the form); other sites never learn a page's address.
  app.use(securityHeaders({ contentSecurityPolicy: { directives: { 'script-src': ["'self'"], 'img-src': ["'self'", 'data:'], 'form-action': ["'self'"] } }, referrerPolicy: { policy: 'same-origin' } }));
  app.use('/public', express.static(PUBLIC_DIR, { maxAge: '1h' }));
  // Everything a page needs, cheaply (one cached `select 1` per pool); 503 while any is down. No session, no CSRF.
  // Replicas are reported beside it: one down or lagging is "degraded" (the primary serves its reads), not down.
  const health = new HealthChecks()
    .add('database', () => orm.em.getConnection().execute('select 1'))
    .add('sessions', () => sessionPool.query('select 1'));
  app.get('/healthz', async (_req, res) => {
    const [{ ok, components }, replicas] = await Promise.all([health.status(), reads.health()]);
    const status = !ok ? 'down' : replicas.some((r) => r.state !== 'up') ? 'degraded' : 'ok';
    res.status(ok ? 200 : 503).set('Cache-Control', 'no-store')
      .json({ ok, status, database: ok ? 'up' : 'down', components, ...(reads.configured ? { replicas } : {}) });
  });
  // The JSON API authenticates with API keys: no session, no cookies, no CSRF. Its own error format.
  // Which reads may go to a replica (GET without a change of this person's in the last moment); see replicas.ts.
  // Set next to the RequestContext, after the session store's callbacks (which lose the async context).
  const replicaRouting = reads.middleware();
  const perRequestEm = requestContext(orm.em);
  app.use('/api/v1', replicaRouting, perRequestEm, apiRoutes(services, { rateLimit: config.apiRateLimit }));
  // Hosted payment providers: their signed webhooks (raw body, no session) and the sandbox's own payment page.
  app.use('/payments/webhooks', paymentWebhookRoutes(services));
  app.use(cookieParser());
  const anonymousCsrf = new AnonymousCsrf(config.sessionSecret, config.secureCookies);
  const flashCookie = new FlashCookie(config.sessionSecret, config.secureCookies);
  const basketCount = new BasketCountCookie(config.sessionSecret, config.secureCookies, config.basketCountTtlMs);
  flashCookie.install(app);
  app.get('/images/products/:file', productImageRoute(orm));
  app.get('/products/:number', firstVisitProductPage(services.catalog, views, anonymousCsrf, basketCount, (shopper) => services.carts.itemCount(shopper), config.catalogCacheMs));
  // Bodies are read after the two GET routes above (a cached page, an image), which have none to read.
  app.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }));
  app.use('/sandbox-pay', sandboxPaymentPageRoutes(services));
  app.use(express.json({ limit: '64kb' }));
  app.use(lazySession(session({
    // No write per request just to push the expiry forward: refreshSessionExpiry below does that once a day.
    store: new PgStore({ pool: sessionPool, tableName: 'session', createTableIfMissing: false, pruneSessionInterval: false, disableTouch: true }), // pruned by a job (pruneSessions)
    name: SESSION_COOKIE,
    // Every request without a session cookie gets an id that is never stored unless something is kept (a guest's
    // pages and adds): randomUUID draws from a cached pool of random bytes (122 random bits), uid-safe reads 24 each time.
    genid: () => randomUUID(),
    secret: config.sessionSecret,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: config.secureCookies, maxAge: SESSION_MAX_AGE_MS },
  })));
  app.use(rememberLoadedSession, refreshSessionExpiry);
  app.use(replicaRouting);
  // One identity map per request, before passport reads the user.
  app.use(perRequestEm);
  // A user is signed in only in a stored session: a request without a session cookie has none to read.
  const passportSession = pass.session();
  app.use((req, res, next) => (hasSession(req) ? passportSession(req, res, next) : next()));

  // A multipart upload's fields (its CSRF token among them) are read before the CSRF check.
  app.post('/admin/products/:number/image', productImageUpload);
  app.post(EXPORT_SETTINGS_PATH, exportSettingsUpload);
  const { csrfSynchronisedProtection, generateToken } = sessionCsrf;
  // No session row for a visitor until something must be kept (a login; messages and a guest's placed orders travel in
  // signed cookies, src/http/flash.ts, placed-orders.ts): until then forms carry the signed double-submit token (src/http/anonymous-csrf.ts).
  // A guest who has a session (a long flash message) keeps it for pages opened before (another tab): it is as
  // unforgeable as the session's. After a login only the session's token counts (new rights, new token).
  app.use((req, res, next) => {
    if (!hasSession(req)) return anonymousCsrf.protect(req, res, next);
    if (!req.user && anonymousCsrf.verify(req)) return next();
    return csrfSynchronisedProtection(req, res, next);
  });

  app.use((req, res, next) => {
    // A signed-in person's pages, and anyone's basket, checkout and receipts, are not kept by the browser: after a
    // log-out (or on a shared computer) Back must not show them again from its cache.
    if (req.user || PERSONAL_PATHS.test(req.path)) res.setHeader('Cache-Control', 'no-store');
    res.locals.user = req.user ?? null;
    res.locals.path = req.path;
    // Where "Log in" brings a visitor back to: the page they were on (a GET page; the login pages themselves aside).
    res.locals.loginNext = req.method === 'GET' && req.path !== '/' && !/^\/(login|register)\b/.test(req.path) ? safeNext(req.originalUrl, '') : '';
    // Read lazily: a token (and so a stored session) only for pages that show a form, and flash messages are
    // used up only by the page that displays them, not by a stray request in between.
    Object.defineProperty(res.locals, 'csrfToken', { get: () => (hasSession(req) ? generateToken(req) : anonymousCsrf.issue(req, res)), enumerable: true });
    Object.defineProperty(res.locals, 'flash', { enumerable: true, get: () => takeFlash(req, res) });
    basketCount.attach(req, res);
    next();
  });
  // The header's mini-cart is only needed on pages: it is read when a page renders (redirects and assets skip the
  // query), unless the page has the basket at hand and passes its count, or the count cookie holds it (src/http/basket-count.ts).
  basketCount.install(app, (req) => services.carts.itemCount(shopperOf(req)));
  saveSessionBeforeRedirect(app);
  // A context date is a staff user's (the middleware ignores everyone else): other requests skip its async step.
  const contextDate = contextDateMiddleware(orm, services);
  app.use((req, res, next) => (req.user?.role === 'staff' ? contextDate(req, res, next) : next()));

  // The shopping path first: a basket or checkout request does not walk the route groups mounted at `/` (their
  // paths — /, /products/…, /login, /register, /logout, /context-date/… — never start with /cart or /checkout).
  app.use('/cart', cartRoutes(services));
  app.use('/checkout/quote', requestQuoteRoute(services));
  app.use('/checkout', checkoutRoutes(services, new PlacedOrdersCookie(config.sessionSecret, config.secureCookies)));
  app.use('/', accountRoutes(services, pass, config));
  app.use('/', contextDateRoutes(services));
  app.use('/', catalogRoutes(services));
  app.use('/customer-center/orders', orderHistoryRoutes(services));
  app.use('/customer-center/quotes', customerQuoteRoutes(services));
  app.use('/customer-center/company', companyAdminRoutes(services));
  app.use('/customer-center', customerCenterRoutes(services));
  app.use('/', returnRoutes(services));
  app.use('/', recurringRoutes(services));
  app.use('/admin/statistics', statisticsRoutes(services));
  app.use('/admin', shipmentAdminRoutes(services));
  app.use('/admin', orderEditRoutes(services));
  app.use('/admin/settings/api-keys', apiKeyAdminRoutes(services));
  app.use(EXPORT_SETTINGS_PATH, exportSettingsRoutes(services));
  app.use(STAFF_ROLES_PATH, staffRoleRoutes(services));
  app.use(MAIL_TEMPLATES_PATH, mailTemplateRoutes(services));
  app.use('/admin/settings', flowSettingsRoutes(services));
  app.use('/admin/quotes', adminQuoteRoutes(services));
  app.use('/admin/customers', adminCustomerRoutes(services));
  app.use('/admin/orders/import', importRoutes(services));
  app.use('/admin/orders', paymentAdminRoutes(services));
  app.use('/admin/orders', orderAdminRoutes(services, 'order'));
  app.use('/admin/carts', orderAdminRoutes(services, 'cart'));
  app.use('/admin/products', catalogAdminRoutes(services));
  app.use('/admin', adminRoutes(services));
  app.use(notFoundHandler);
  app.use(errorHandler);

  return {
    app, services,
    /** Deletes expired sessions: the `prune-sessions` job (src/server.ts), once for all processes. */
    pruneSessions: async () => { await sessionPool.query('delete from session where expire < now()'); },
    close: async () => { await reads.close(); await sessionPool.end(); },
  };
}
