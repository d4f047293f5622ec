/**
 * The add-to-cart yardstick: pgbench replaying the SQL statements the app sends for one add-to-cart, with the same
 * number of clients, each on its own basket and session, so "app req/s ÷ pgbench tps" says how much the app adds on
 * top of the database work it cannot avoid.
 *
 * How the script is made: one shopper's add-to-cart is recorded (sql-recorder.ts); parameter values are inlined as
 * literals; the shopper's keys (session id, basket token, order id, line ids) are replaced by per-client copies that
 * are cloned here (negative ids, so they never collide with the app's sequences); the optimistic-lock predicate
 * `and "version" = N` is dropped, because replayed literally it would match no row after the first run.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { preparedStatementBody } from '../src/db/sql';
import { copyColumns, type BenchSql } from './bench-db';
import type { RecordedStatement } from './sql-recorder';

/** sid: the shopper's session, when the add reads one (a visitor without a session sends none). */
export interface ShopperKeys { sid?: string; basketToken: string }

export interface PgbenchResult { tps: number; transactions: number; failed: number; latencyMs: number; statements: number; script: string }

const clientToken = (c: string) => `00000000-0000-4000-8000-000000${c}`;

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const s = v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return `'${s.replace(/'/g, "''")}'`;
}

/** `$1`, `$2` … replaced by the recorded values, as the ORM already does for its own statements. */
function inline(st: RecordedStatement): string {
  return st.text.replace(/\s+/g, ' ').trim().replace(/\$(\d+)/g, (_, n: string) => literal(st.values[Number(n) - 1]));
}

/** Clones the shopper's session and basket once per pgbench client and writes the pgbench script. */
export async function preparePgbench(sql: BenchSql, recorded: RecordedStatement[], keys: ShopperKeys, clients: number): Promise<{ script: string; statements: number }> {
  const [order] = await sql<{ id: number }>('select id from orders where anonymous_token = $1', [keys.basketToken]);
  const lines = await sql<{ id: number }>('select id from order_lines where order_id = $1 order by id', [order.id]);
  await sql('delete from order_lines where order_id <= -100000');
  await sql('delete from orders where id <= -100000');
  await sql(`delete from session where sid like 'pgbench-%'`);
  const orders = await copyColumns(sql, 'orders', 'r');
  const orderLines = await copyColumns(sql, 'order_lines', 'r');
  for (let c = 0; c < clients; c++) {
    const orderId = -(100000 + c);
    if (keys.sid) await sql(`insert into session (sid, sess, expire) select $2, sess, expire from session where sid = $1`, [keys.sid, `pgbench-${c}`]);
    await sql(
      `insert into ${orders.into} select ${orders.select} from orders o, jsonb_populate_record(null::orders, to_jsonb(o) || jsonb_build_object('id', $2::int, 'number', $3::text, 'anonymous_token', $4::text)) r where o.id = $1`,
      [order.id, orderId, `PGBENCH-${c}`, clientToken(String(100000 + c))],
    );
    for (const [k, line] of lines.entries()) {
      await sql(
        `insert into ${orderLines.into} select ${orderLines.select} from order_lines l, jsonb_populate_record(null::order_lines, to_jsonb(l) || jsonb_build_object('id', $2::int, 'order_id', $3::int)) r where l.id = $1`,
        [line.id, -(1000000 + c * 10 + k), orderId],
      );
    }
  }
  const header = [
    '\\set oid -100000 - :client_id',
    '\\set tok 100000 + :client_id',
    ...lines.map((_, k) => `\\set l${k} -1000000 - :client_id * 10 - ${k}`),
  ];
  // A statement the recording connection had not prepared yet comes with its PREPARE (or a probe of its own, a message
  // of its own: src/db/sql.ts, tryPrepare); the script prepares each name once per client below, so both are left out.
  const body = recorded.filter((st) => !/from pg_prepared_statements where name = /.test(st.text)).map((st) => {
    let q = (keys.sid ? inline(st).split(keys.sid).join('pgbench-:client_id') : inline(st))
      .split(keys.basketToken).join(clientToken(':tok'))
      .replace(/ and "version" = \d+/, '');
    // The ORM quotes identifiers, the hand-written statements (src/cart/quick-add.ts) do not.
    q = q.replace(/(update "?orders"? set .* where "?id"? = )'?\d+'?/, '$1:oid');
    lines.forEach((line, k) => { q = q.replace(new RegExp(`(update "?order_lines"? set [^)]*? where "?id"? = )'?${line.id}'?\\b`), `$1:l${k}`); });
    // A prepared statement's ids are among its EXECUTE's values (src/db/sql.ts).
    q = q.replace(/(execute of_[0-9a-f]+\()(.*)(\))/, (_, head: string, args: string, tail: string) =>
      head + [[order.id, ':oid'], ...lines.map((line, k) => [line.id, `:l${k}`])].reduce((a, [id, v]) => a.replace(new RegExp(`\\b${id}\\b`, 'g'), String(v)), args) + tail);
    // BEGIN and COMMIT that travel with a statement (src/db/sql.ts) stay one round trip: pgbench's compound `\;`.
    q = q.replace(/prepare of_[0-9a-f]+ as [^;]*; /g, ''); // a prepared statement's text holds no `;` (src/db/sql.ts)
    q = q.replace(/^begin; /i, 'begin\\; ').replace(/; commit$/i, '\\; commit');
    return q.endsWith(';') ? q : q + ';';
  });
  // What the app PREPAREs once per connection, each client prepares in its first transaction (-D prepared=0).
  const names = [...new Set(body.flatMap((q) => [...q.matchAll(/execute (of_[0-9a-f]+)\(/g)].map((m) => m[1])))];
  const prepare = names.length === 0 ? [] : ['\\if :prepared = 0', ...names.map((name) => {
    const statement = preparedStatementBody(name);
    if (!statement) throw new Error(`pgbench: the app's prepared statement ${name} is unknown`);
    return `prepare ${name} as ${statement.replace(/\s+/g, ' ').trim()};`;
  }), '\\set prepared 1', '\\endif'];
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-pgbench-')), 'add-to-cart.sql');
  fs.writeFileSync(script, [...header, ...prepare, ...body].join('\n') + '\n');
  return { script, statements: body.length };
}

/** Runs pgbench (simple protocol, like the ORM's inlined statements) and parses its summary. */
export function runPgbench(databaseUrl: string, script: string, clients: number, seconds: number, settings = ''): Promise<Omit<PgbenchResult, 'statements' | 'script'>> {
  const args = ['-n', '-M', 'simple', '-D', 'prepared=0', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', script, databaseUrl];
  return new Promise((resolve, reject) => {
    // `settings`, e.g. '-c synchronous_commit=off': server settings for pgbench's own sessions (PGOPTIONS).
    const env = settings ? { ...process.env, PGOPTIONS: `${process.env.PGOPTIONS ?? ''} ${settings}`.trim() } : process.env;
    execFile(process.env.PGBENCH ?? 'pgbench', args, { maxBuffer: 16 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`pgbench failed: ${err.message}\n${stderr}`));
      const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
      resolve({
        tps: num(/tps = ([\d.]+)/),
        transactions: num(/number of transactions actually processed: (\d+)/),
        failed: num(/number of failed transactions: (\d+)/),
        latencyMs: num(/latency average = ([\d.]+) ms/),
      });
    });
  });
}
