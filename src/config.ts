import { z } from 'zod';

/** Runtime settings, read once from the environment (see SETTINGS for each variable). */
export interface AppConfig {
  /** NODE_ENV=production: cached templates, JSON logs, and the secret and cookie rules below are enforced. */
  production: boolean;
  /** The demo shop: seeded with demo data and logins. The default without DATABASE_URL outside production. */
  demo: boolean;
  port: number;
  databaseUrl?: string;
  /** Read replicas for staff reads that may be a moment stale (src/db/replicas.ts); empty = the primary serves all. */
  replicaUrls: string[];
  /** A replica further behind the primary than this is skipped. */
  replicaMaxLagMs: number;
  smtpUrl?: string;
  sessionSecret: string;
  /** Cookies get the Secure flag only when the app is served over HTTPS. */
  secureCookies: boolean;
  /** Express's `trust proxy`: which hops may tell the client's address and protocol (X-Forwarded-*). */
  trustProxy: string;
  /** Where the embedded PostgreSQL keeps its data when no DATABASE_URL is given. */
  embeddedDataDir: string;
  embeddedPort: number;
  baseUrl: string;
  /** Background workers (mail outbox) poll at this interval; tests drive them by hand. */
  workerIntervalMs: number;
  loginRateLimit: { windowMs: number; max: number };
  registerRateLimit: { windowMs: number; max: number };
  /** JSON API requests per API key (per app process). */
  apiRateLimit: { windowMs: number; max: number };
  /** Folder the automatic XML export writes `<ORDERNUMBER>.xml` into. */
  exportDir: string;
  /** An XSL file for the export; XSLT is not supported in this build, so the export worker refuses to start when set. */
  exportXslPath?: string;
  /** How long a product page's data may be served from memory (ms); 0 = always read the database. */
  catalogCacheMs: number;
  /** How long a page (GET) trusts the logged-in user kept in the session before reading the users row again. */
  sessionUserTtlMs: number;
  /** How long a page trusts the header's basket count kept in a cookie (src/http/basket-count.ts); 0: always read it. */
  basketCountTtlMs: number;
  /** Placing an order: how long reserved stock waits for a payment, and how long a payment provider may take. */
  placement: { reservationSeconds: number; gatewayTimeoutMs: number };
  /** How long a reserved capture or refund may wait for its confirmation before the job asks the provider what became of it. */
  paymentOperationStaleSeconds: number;
  /** The sandbox payment providers: answer latency (to play a real provider) and the webhook signing secret. */
  sandbox: { latencyMs: number; webhookSecret: string };
  /** Longest a statement may run, and longest a request waits for a pooled connection, before it fails (503). */
  statementTimeoutMs: number;
  poolAcquireTimeoutMs: number;
  /** The storefront's hot statements PREPAREd per connection (src/db/sql.ts); false behind PgBouncer in transaction mode. */
  preparedStatements: boolean;
  /** How long a graceful shutdown waits for in-flight requests and jobs. */
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  /** What this process does: `all` serves HTTP and runs every background job; `web` only serves; `worker` only runs the jobs. */
  processRole: ProcessRole;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const PROCESS_ROLES = ['all', 'web', 'worker'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** The session secret of the demo; refused outside it. */
export const DEMO_SESSION_SECRET = 'orderflow-dev-secret-change-me';
const MIN_PRODUCTION_SECRET_LENGTH = 32;
const MINUTE_MS = 60_000;

/** A setting read from a string: `parse` answers undefined for a value that is not of the `expected` form. */
function setting<T>(expected: string, parse: (raw: string) => T | undefined, opts: { echo?: boolean } = {}) {
  return z.string().transform((raw, ctx) => {
    const value = parse(raw.trim());
    if (value === undefined) {
      // URLs may carry a password: their value is not repeated.
      const got = opts.echo === false ? '' : `, got ${JSON.stringify(raw.slice(0, 100))}`;
      ctx.addIssue({ code: 'custom', message: `expected ${expected}${got}` });
      return z.NEVER;
    }
    return value;
  });
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER, expected = `a whole number from ${min}`) =>
  setting(expected, (s) => (/^\d+$/.test(s) && Number(s) >= min && Number(s) <= max ? Number(s) : undefined));
const port = int(1, 65535, 'a port number (1–65535)');
const milliseconds = (min = 0) => int(min, Number.MAX_SAFE_INTEGER, `a number of milliseconds (${min} or more)`);
const BOOLEANS: Record<string, boolean> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };
const bool = setting('true or false', (s) => BOOLEANS[s.toLowerCase()]);
const url = (protocols: string[]) => setting(`a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`, (s) => {
  try {
    return protocols.includes(new URL(s).protocol) ? s : undefined;
  } catch {
    return undefined;
  }
}, { echo: false });
/** Comma-separated URLs, e.g. DATABASE_REPLICA_URLS. */
const urlList = (protocols: string[]) => setting(`comma-separated URLs starting with ${protocols.map((p) => p + '//').join(' or ')}`, (s) => {
  const urls = s.split(',').map((u) => u.trim()).filter(Boolean);
  return urls.every((u) => URL.canParse(u) && protocols.includes(new URL(u).protocol)) ? urls : undefined;
}, { echo: false });
const oneOf = <const T extends readonly string[]>(values: T) => setting(`one of ${values.join(', ')}`, (s) => values.find((v) => v === s) as T[number] | undefined);
const text = z.string();

/**
 * Every environment variable the app reads, with its form and default: one line per setting. An empty value
 * counts as unset. README "Run in production" lists them.
 */
const SETTINGS = z.object({
  NODE_ENV: oneOf(['development', 'production', 'test']).default('development'),
  DEMO: bool.optional(),
  PORT: port.default(3000),
  BASE_URL: url(['http:', 'https:']).optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  DATABASE_REPLICA_URLS: urlList(['postgres:', 'postgresql:']).optional(),
  REPLICA_MAX_LAG_MS: milliseconds().default(2000),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  SESSION_SECRET: text.optional(),
  SECURE_COOKIES: bool.default(false),
  TRUST_PROXY: text.default('loopback'),
  EMBEDDED_PG_DIR: text.default('.data/pg'),
  EMBEDDED_PG_PORT: port.default(54329),
  WORKER_INTERVAL_MS: milliseconds(10).default(2000),
  LOGIN_RATE_LIMIT: int(1).default(10),
  REGISTER_RATE_LIMIT: int(1).default(5),
  API_RATE_LIMIT: int(1).default(600),
  EXPORT_DIR: text.default('.data/exports'),
  EXPORT_XSL: text.optional(),
  CATALOG_CACHE_MS: milliseconds().default(1000),
  SESSION_USER_TTL_MS: milliseconds().default(60_000),
  BASKET_COUNT_TTL_MS: milliseconds().default(60_000),
  STOCK_RESERVATION_SECONDS: int(1, Number.MAX_SAFE_INTEGER, 'a number of seconds (1 or more)').default(900),
  PAYMENT_GATEWAY_TIMEOUT_MS: milliseconds(1).default(20_000),
  PAYMENT_OPERATION_STALE_SECONDS: int(1, Number.MAX_SAFE_INTEGER, 'a number of seconds (1 or more)').default(60),
  SANDBOX_GATEWAY_LATENCY_MS: milliseconds().default(0),
  SANDBOX_WEBHOOK_SECRET: text.default('orderflow-sandbox-webhook-secret'),
  STATEMENT_TIMEOUT_MS: milliseconds(100).default(15_000),
  POOL_ACQUIRE_TIMEOUT_MS: milliseconds(100).default(5000),
  SHUTDOWN_TIMEOUT_MS: milliseconds(0).default(10_000),
  LOG_LEVEL: oneOf(LOG_LEVELS).default('info'),
  PROCESS_ROLE: oneOf(PROCESS_ROLES).default('all'),
}).superRefine((s, ctx) => {
  // The recovery job settles a payment call left pending this long: never while the call may still be waited for.
  if (s.PAYMENT_OPERATION_STALE_SECONDS * 1000 <= s.PAYMENT_GATEWAY_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom', path: ['PAYMENT_OPERATION_STALE_SECONDS'],
      message: `must be longer than PAYMENT_GATEWAY_TIMEOUT_MS (${s.PAYMENT_GATEWAY_TIMEOUT_MS} ms), or the recovery job could settle a payment call still waiting for its answer; got ${s.PAYMENT_OPERATION_STALE_SECONDS} s`,
    });
  }
});

export type Settings = z.output<typeof SETTINGS>;

/** Settings that stop the start; `message` names each variable and the expected form, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Orderflow cannot start; fix these settings:\n${problems.map((p) => '  ' + p).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment; throws ConfigError listing every bad or refused value. Command-line tools that serve no
 * pages (`serving: false`) skip the session and cookie rules.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: { serving?: boolean } = {}): AppConfig {
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = SETTINGS.safeParse(given);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const s = parsed.data;
  const production = s.NODE_ENV === 'production';
  const demo = s.DEMO ?? (!s.DATABASE_URL && !production);
  const baseUrl = s.BASE_URL ?? `http://localhost:${s.PORT}`;
  const refused = opts.serving === false ? [] : productionRefusals(s, { production, demo, baseUrl });
  if (refused.length) throw new ConfigError(refused);
  return {
    production,
    demo,
    port: s.PORT,
    databaseUrl: s.DATABASE_URL,
    replicaUrls: s.DATABASE_REPLICA_URLS ?? [],
    replicaMaxLagMs: s.REPLICA_MAX_LAG_MS,
    smtpUrl: s.SMTP_URL,
    sessionSecret: s.SESSION_SECRET ?? DEMO_SESSION_SECRET,
    secureCookies: s.SECURE_COOKIES,
    trustProxy: s.TRUST_PROXY,
    embeddedDataDir: s.EMBEDDED_PG_DIR,
    embeddedPort: s.EMBEDDED_PG_PORT,
    baseUrl,
    workerIntervalMs: s.WORKER_INTERVAL_MS,
    loginRateLimit: { windowMs: 15 * MINUTE_MS, max: s.LOGIN_RATE_LIMIT },
    registerRateLimit: { windowMs: 60 * MINUTE_MS, max: s.REGISTER_RATE_LIMIT },
    apiRateLimit: { windowMs: MINUTE_MS, max: s.API_RATE_LIMIT },
    exportDir: s.EXPORT_DIR,
    exportXslPath: s.EXPORT_XSL,
    catalogCacheMs: s.CATALOG_CACHE_MS,
    sessionUserTtlMs: s.SESSION_USER_TTL_MS,
    basketCountTtlMs: s.BASKET_COUNT_TTL_MS,
    statementTimeoutMs: s.STATEMENT_TIMEOUT_MS,
    preparedStatements: s.DATABASE_PREPARED_STATEMENTS,
    poolAcquireTimeoutMs: s.POOL_ACQUIRE_TIMEOUT_MS,
    shutdownTimeoutMs: s.SHUTDOWN_TIMEOUT_MS,
    logLevel: s.LOG_LEVEL,
    processRole: s.PROCESS_ROLE,
    placement: { reservationSeconds: s.STOCK_RESERVATION_SECONDS, gatewayTimeoutMs: s.PAYMENT_GATEWAY_TIMEOUT_MS },
    paymentOperationStaleSeconds: s.PAYMENT_OPERATION_STALE_SECONDS,
    sandbox: { latencyMs: s.SANDBOX_GATEWAY_LATENCY_MS, webhookSecret: s.SANDBOX_WEBHOOK_SECRET },
  };
}

/**
 * Values that parse but are unsafe for a real shop: the demo's session secret outside the demo, a short secret in
 * production, cookies without the Secure flag on an https:// site; and a web or worker process without a shared database.
 */
function productionRefusals(s: Settings, mode: { production: boolean; demo: boolean; baseUrl: string }): string[] {
  const problems: string[] = [];
  const secret = s.SESSION_SECRET;
  const howTo = `a random string of at least ${MIN_PRODUCTION_SECRET_LENGTH} characters, e.g. from \`openssl rand -base64 48\``;
  if (!secret && (mode.production || !mode.demo)) {
    problems.push(`SESSION_SECRET: required ${mode.production ? 'in production' : 'outside the demo (DATABASE_URL is set)'}; set ${howTo}`);
  } else if (secret === DEMO_SESSION_SECRET && (mode.production || !mode.demo)) {
    problems.push(`SESSION_SECRET: the demo's secret is published in the source; set ${howTo}`);
  } else if (secret && mode.production && secret.length < MIN_PRODUCTION_SECRET_LENGTH) {
    problems.push(`SESSION_SECRET: too short for production (${secret.length} characters); set ${howTo}`);
  }
  if (mode.production && mode.baseUrl.startsWith('https:') && !s.SECURE_COOKIES) {
    problems.push('SECURE_COOKIES: must be true when BASE_URL is https:// (cookies would be sent without the Secure flag)');
  }
  if (s.PROCESS_ROLE !== 'all' && !s.DATABASE_URL) {
    // The embedded PostgreSQL lives inside the one process that started it: no other process could share it.
    problems.push(`PROCESS_ROLE: ${s.PROCESS_ROLE} needs DATABASE_URL, the PostgreSQL server the web and worker processes share (the embedded PostgreSQL runs only inside a PROCESS_ROLE=all process)`);
  }
  return problems;
}
