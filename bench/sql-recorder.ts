/**
 * Records the SQL the app sends to PostgreSQL while a function runs: every pg Client query (the ORM, knex and the
 * session store all go through it), with its parameter values. The bench uses it to replay exactly the app's
 * statements for one add-to-cart through pgbench. The job queue's own statements (pg-boss polls and maintains its
 * tables on the same process) are left out: they are not part of the request.
 */
import pg from 'pg';

export interface RecordedStatement { text: string; values: unknown[] }

export async function recordStatements(run: () => Promise<unknown>): Promise<RecordedStatement[]> {
  const recorded: RecordedStatement[] = [];
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const [config, values] = args;
    const text = typeof config === 'string' ? config : config && typeof config === 'object' && 'text' in config ? String((config as { text: unknown }).text) : '';
    if (/\bpgboss\./i.test(text)) return original.apply(this, args);
    if (typeof config === 'string') recorded.push({ text: config, values: Array.isArray(values) ? values : [] });
    else if (config && typeof config === 'object' && 'text' in config) {
      const c = config as { text: string; values?: unknown[] };
      recorded.push({ text: c.text, values: c.values ?? (Array.isArray(values) ? values : []) });
    }
    return original.apply(this, args);
  };
  try {
    await run();
  } finally {
    proto.query = original;
  }
  return recorded;
}
