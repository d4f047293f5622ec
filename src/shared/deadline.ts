/**
 * `work`, or a rejection with `message` when it has not settled within `ms`. The work itself is not stopped (a
 * provider may still carry the call out); only its answer is no longer waited for.
 */
export async function withinMs<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
