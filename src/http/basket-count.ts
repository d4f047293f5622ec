import type { Response } from 'express';

/**
 * The header's basket count, read when a page renders (GET pages, and pages answering a POST: confirmations,
 * refusals shown in context, error pages), so redirects and assets never query it. A page that has the basket at hand
 * (the basket page, the checkout steps) passes `basketCount` itself and saves the query. Rendering waits for the one
 * small query; if it fails, the header shows a plain basket link.
 */
export function renderWithBasketCount(res: Response, read: () => Promise<number>): void {
  const render = res.render.bind(res) as (...args: unknown[]) => void;
  res.render = ((...args: unknown[]) => {
    const locals = args[1] !== null && typeof args[1] === 'object' ? (args[1] as Record<string, unknown>) : undefined;
    if (locals?.basketCount !== undefined || res.locals.basketCount !== undefined) return render(...args);
    read().then((n) => { res.locals.basketCount = n; }, () => undefined).finally(() => render(...args));
  }) as typeof res.render;
}
