import type { Response } from 'express';

/**
 * The header's basket count on a page answering a POST (GET pages read it up front, see src/app.ts): a confirmation,
 * a refusal shown in context or an error page shows the real count too. Rendering waits for the one small query; if
 * it fails, the header shows a plain basket link.
 */
export function renderWithBasketCount(res: Response, read: () => Promise<number>): void {
  const render = res.render.bind(res) as (...args: unknown[]) => void;
  res.render = ((...args: unknown[]) => {
    read().then((n) => { res.locals.basketCount = n; }, () => undefined).finally(() => render(...args));
  }) as typeof res.render;
}
