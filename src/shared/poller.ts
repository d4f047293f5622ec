/**
 * Runs `drainBatch` every interval until stopped. A tick keeps draining while a batch comes back full, and a
 * slow tick is never overlapped by the next one. Errors are logged, and the next tick tries again.
 */
export function startPoller(name: string, intervalMs: number, batchSize: number, drainBatch: (limit: number) => Promise<number>): () => void {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      while ((await drainBatch(batchSize)) === batchSize);
    } catch (e) {
      console.error(`[${name}] worker error`, e);
    } finally {
      running = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
