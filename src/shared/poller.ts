import { isDatabaseUnavailable, unavailableReason } from '../db/unavailable';
import { log } from './log';

/** Stops a poller: no new tick starts, and the promise resolves when the tick in progress (if any) has finished. */
export type StopPoller = () => Promise<void>;

/**
 * Runs `drainBatch` every interval until stopped. A tick keeps draining while a batch comes back full, and a
 * slow tick is never overlapped by the next one. Errors are logged, and the next tick tries again.
 *
 * While the database is unreachable every tick fails the same way: that is logged once when it starts and once
 * when the database answers again, not at every tick; the poller itself keeps going and resumes by itself.
 */
export function startPoller(name: string, intervalMs: number, batchSize: number, drainBatch: (limit: number) => Promise<number>): StopPoller {
  let running: Promise<void> | undefined;
  let stopped = false;
  let databaseDownSince: number | undefined;
  const tick = async () => {
    try {
      while (!stopped && (await drainBatch(batchSize)) === batchSize);
      if (databaseDownSince !== undefined) {
        log.warn(`[${name}] database reachable again after ${((Date.now() - databaseDownSince) / 1000).toFixed(1)} s; working again`);
        databaseDownSince = undefined;
      }
    } catch (e) {
      if (isDatabaseUnavailable(e)) {
        if (databaseDownSince === undefined) {
          databaseDownSince = Date.now();
          log.warn(`[${name}] database unreachable (${unavailableReason(e)}); retrying every ${intervalMs} ms`);
        }
      } else {
        log.error({ err: e }, `[${name}] worker error`);
      }
    }
  };
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = tick().finally(() => { running = undefined; });
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
