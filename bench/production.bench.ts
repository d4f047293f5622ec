/**
 * What the production start costs and saves, run by hand after `npm run build`: `npm run bench:production`.
 *
 * On a fresh database `bench_prod_<random>` on PG_SERVER_URL's server (default postgres://postgres@127.0.0.1:5432/postgres),
 * migrated and seeded with the demo shop by the built CLI (dropped at the end):
 *
 *   1. start: BENCH_RUNS (3) starts each of `node --import tsx src/server.ts` and `node dist/src/server.js`, taking
 *      turns, NODE_ENV=production: milliseconds from spawn to the first /healthz 200, and RSS then and after 200
 *      page views.
 *   2. CPU per request: the app in a child process (createApp, logging at warn), once with templates cached (as in
 *      production) and once compiled on every render (as in development); after 200 warm-up requests, BENCH_REQUESTS
 *      (2000) GETs of a page, 4 at a time, and the child's process.cpuUsage() before and after.
 *
 * Timings belong here, never in test assertions.
 */
import { execFileSync, fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { initOrm } from '../src/db/database';
import { configureLogging } from '../src/shared/log';
import { createDatabase, envInt, freePort, get, ROOT, spawnApp } from '../test/load/helpers';

const SERVER_URL = process.env.PG_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PAGES = ['/', '/products/P-1050'];

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function fetchPage(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent, headers: { accept: 'text/html' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

async function load(port: number, urlPath: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const status = await fetchPage(port, urlPath);
      if (status !== 200) throw new Error(`${urlPath} answered ${status}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function startTimes(databaseUrl: string, runs: number) {
  const modes = { tsx: ['--import', 'tsx', 'src/server.ts'], 'node dist': ['dist/src/server.js'] } as const;
  const results: Record<string, { ms: number[]; rss: number[]; rssAfter: number[] }> = {};
  for (let run = 0; run < runs; run++) {
    for (const [mode, script] of Object.entries(modes)) {
      const started = Date.now();
      const app = await spawnApp({ name: mode, databaseUrl, port: await freePort(), script: [...script], env: { DEMO: 'false', CATALOG_CACHE_MS: '0' } });
      while ((await get(app.port, '/healthz').catch(() => ({ status: 0 }))).status !== 200) {
        if (!app.alive()) throw new Error(`${mode} exited:\n${app.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const ms = Date.now() - started;
      const rss = rssMb(app.pid);
      for (const p of PAGES) await load(app.port, p, 100);
      const r = (results[mode] ??= { ms: [], rss: [], rssAfter: [] });
      r.ms.push(ms);
      r.rss.push(rss);
      r.rssAfter.push(rssMb(app.pid));
      await app.stop();
    }
  }
  console.log('\n1. start to first /healthz 200, RSS (NODE_ENV=production, migrated database)');
  for (const [mode, r] of Object.entries(results)) {
    console.log(`  ${mode.padEnd(10)} start ms ${r.ms.join(' / ')} (median ${median(r.ms)}); RSS MB at healthy ${r.rss.map((x) => x.toFixed(0)).join(' / ')}, after 200 page views ${r.rssAfter.map((x) => x.toFixed(0)).join(' / ')}`);
  }
}

/** The child: the app with templates cached or not, on a free port; answers "cpu" with its process.cpuUsage(). */
async function serve(databaseUrl: string, cached: boolean): Promise<void> {
  configureLogging({ production: true, level: 'warn' });
  const orm = await initOrm(databaseUrl, { poolMax: 10 });
  const config = loadConfig({ DATABASE_URL: databaseUrl, CATALOG_CACHE_MS: '0' }, { serving: false });
  const { app } = createApp(orm, { ...config, production: cached }, databaseUrl);
  const server = app.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('message', (m) => {
    if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
    if (m === 'exit') process.exit(0);
  });
}

async function cpuPerRequest(databaseUrl: string, requests: number) {
  console.log(`\n2. CPU per request in the app process (${requests} GETs after 200 warm-up, 4 at a time)`);
  for (const cached of [true, false]) {
    const child = fork(__filename, ['serve', databaseUrl, String(cached)], { execArgv: ['--import', 'tsx'], cwd: ROOT });
    const ask = <T>(msg?: string) => new Promise<T>((resolve) => { child.once('message', (m) => resolve(m as T)); if (msg) child.send(msg); });
    const { port } = await ask<{ port: number }>();
    for (const p of PAGES) {
      await load(port, p, 200);
      const before = (await ask<{ cpu: NodeJS.CpuUsage }>('cpu')).cpu;
      const t0 = Date.now();
      await load(port, p, requests);
      const wall = Date.now() - t0;
      const after = (await ask<{ cpu: NodeJS.CpuUsage }>('cpu')).cpu;
      const us = (after.user - before.user + after.system - before.system) / requests;
      console.log(`  ${(cached ? 'cached' : 'uncached').padEnd(9)} GET ${p.padEnd(17)} ${(us / 1000).toFixed(2)} ms CPU per request (${Math.round(requests / (wall / 1000))} req/s)`);
    }
    child.send('exit');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main() {
  if (process.argv[2] === 'serve') return serve(process.argv[3], process.argv[4] === 'true');
  if (!fs.existsSync(path.join(ROOT, 'dist/src/server.js'))) throw new Error('Run `npm run build` first.');
  const db = await createDatabase(SERVER_URL, { prefix: 'bench_prod' });
  try {
    execFileSync(process.execPath, ['dist/src/db/cli.js', '--seed'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url }, stdio: 'ignore' });
    await startTimes(db.url, envInt('BENCH_RUNS', 3));
    await cpuPerRequest(db.url, envInt('BENCH_REQUESTS', 2000));
  } finally {
    agent.destroy();
    await db.drop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
