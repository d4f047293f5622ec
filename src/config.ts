/** Runtime settings, read once from the environment. */
export interface AppConfig {
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
  /** Where the embedded PostgreSQL keeps its data when no DATABASE_URL is given. */
  embeddedDataDir: string;
  embeddedPort: number;
  baseUrl: string;
  /** Background workers (mail outbox) poll at this interval; tests drive them by hand. */
  workerIntervalMs: number;
  loginRateLimit: { windowMs: number; max: number };
  /** Folder the automatic XML export writes `<ORDERNUMBER>.xml` into. */
  exportDir: string;
  /** An XSL file for the export; XSLT is not supported in this build, so the export worker refuses to start when set. */
  exportXslPath?: string;
  /** How long a product page's data may be served from memory (ms); 0 = always read the database. */
  catalogCacheMs: number;
  /** Placing an order: how long reserved stock waits for a payment, and how long a payment provider may take. */
  placement: { reservationSeconds: number; gatewayTimeoutMs: number };
  /** The sandbox payment providers: answer latency (to play a real provider) and the webhook signing secret. */
  sandbox: { latencyMs: number; webhookSecret: string };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const port = Number(env.PORT ?? 3000);
  return {
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    replicaUrls: (env.DATABASE_REPLICA_URLS ?? '').split(',').map((u) => u.trim()).filter(Boolean),
    replicaMaxLagMs: Number(env.REPLICA_MAX_LAG_MS ?? 2000),
    smtpUrl: env.SMTP_URL || undefined,
    sessionSecret: env.SESSION_SECRET ?? 'orderflow-dev-secret-change-me',
    secureCookies: env.SECURE_COOKIES === 'true',
    embeddedDataDir: env.EMBEDDED_PG_DIR ?? '.data/pg',
    embeddedPort: Number(env.EMBEDDED_PG_PORT ?? 54329),
    baseUrl: env.BASE_URL ?? `http://localhost:${port}`,
    workerIntervalMs: Number(env.WORKER_INTERVAL_MS ?? 2000),
    loginRateLimit: { windowMs: 15 * 60 * 1000, max: Number(env.LOGIN_RATE_LIMIT ?? 10) },
    exportDir: env.EXPORT_DIR || '.data/exports',
    exportXslPath: env.EXPORT_XSL || undefined,
    catalogCacheMs: Number(env.CATALOG_CACHE_MS ?? 1000),
    placement: { reservationSeconds: Number(env.STOCK_RESERVATION_SECONDS ?? 900), gatewayTimeoutMs: Number(env.PAYMENT_GATEWAY_TIMEOUT_MS ?? 20_000) },
    sandbox: { latencyMs: Number(env.SANDBOX_GATEWAY_LATENCY_MS ?? 0), webhookSecret: env.SANDBOX_WEBHOOK_SECRET ?? 'orderflow-sandbox-webhook-secret' },
  };
}
