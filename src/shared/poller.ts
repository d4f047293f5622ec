import { isDatabaseUnavailable, unavailableReason } from '../http/error-handler';

/**
 * Runs `drainBatch` every interval until stopped. A tick keeps draining while a batch comes back full, and a
 * slow tick is never overlapped by the next one. Errors are logged, and the next tick tries again.
 *
 * While the database is unreachable every tick fails the same way: that is logged once when it starts and once
 * when the database answers again, not at every tick; the poller itself keeps going and resumes by itself.
 */
export function startPoller(name: string, intervalMs: number, batchSize: number, drainBatch: (limit: number) => Promise<number>): () => void {
  let running = false;
  let databaseDownSince: number | undefined;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      while ((await drainBatch(batchSize)) === batchSize);
      if (databaseDownSince !== undefined) {
        console.error(`[${name}] database reachable again after ${((Date.now() - databaseDownSince) / 1000).toFixed(1)} s; working again`);
        databaseDownSince = undefined;
      }
    } catch (e) {
      if (isDatabaseUnavailable(e)) {
        if (databaseDownSince === undefined) {
          databaseDownSince = Date.now();
          console.error(`[${name}] database unreachable (${unavailableReason(e)}); retrying every ${intervalMs} ms`);
        }
      } else {
        console.error(`[${name}] worker error`, e);
      }
    } finally {
      running = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
