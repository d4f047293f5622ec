import type { Response } from 'express';

/**
 * The header's basket count for a page answering a POST (GET pages read it up front, see src/app.ts): an error
 * page or a refusal shown in context must show the real count too. If it cannot be read, the header shows a
 * plain basket link.
 */
export async function withBasketCount(res: Response): Promise<void> {
  const read = res.locals.readBasketCount as (() => Promise<number>) | undefined;
  if (res.locals.basketCount !== undefined || !read) return;
  try {
    res.locals.basketCount = await read();
  } catch {
    // The page still renders; the header falls back to the plain link.
  }
}
