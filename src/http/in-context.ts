import type { Request, RequestHandler, Response } from 'express';
import { DomainError, type DomainErrorCode } from '../shared/errors';
import { toHttpProblem } from './error-handler';

/** A refused action, shown on the page it was tried on: which control, why, per-field messages and what was typed. */
export interface ActionError {
  /** The control the message belongs next to (e.g. 'refund', 'edit', 'shipment'). */
  action: string;
  /** The refusal's code (e.g. 'VALIDATION', 'CONFLICT'), for pages that show a changed record rather than what was typed. */
  code: string;
  message: string;
  fields: Record<string, string>;
  /** The form as typed (strings only, CSRF token left out), so nothing typed is lost. */
  values: Record<string, string>;
}

/** Renders the page a form is on, optionally with a refused action on it. */
export type PageRenderer = (req: Request, res: Response, actionError?: ActionError) => Promise<void>;

/** Refusals a page can show (business rules, validation, conflicts); not "not found", a stale form or the database down. */
const SHOWN_IN_CONTEXT = (status: number, code: string) => status >= 400 && status < 500 && code !== 'NOT_FOUND' && code !== 'CSRF';

export function actionErrorOf(err: unknown, action: string, body: unknown): { status: number; actionError: ActionError } | null {
  const problem = toHttpProblem(err);
  if (!SHOWN_IN_CONTEXT(problem.status, problem.code)) return null;
  return { status: problem.status, actionError: { action, code: problem.code, message: problem.message, fields: problem.fields, values: typedValues(body) } };
}

/**
 * Runs a form's handler; when the action is refused, the page the form is on is rendered again with the refusal's
 * status, the message next to the control and the typed values — never the generic error page. `action` names the
 * control (from the request when a page has one per record, e.g. a basket line). Anything else
 * (a 500, a missing record, the database down) goes on to the one error handler.
 */
export function inContext(action: string | ((req: Request) => string), page: PageRenderer, handler: RequestHandler): RequestHandler {
  return async (req, res, next) => {
    try {
      await handler(req, res, next);
    } catch (err) {
      const shown = actionErrorOf(err, typeof action === 'string' ? action : action(req), req.body);
      if (!shown || res.headersSent) throw err;
      res.status(shown.status);
      try {
        await page(req, res, shown.actionError);
      } catch {
        throw err;
      }
    }
  };
}

/** The page's context, built only when the form is shown again. */
type Context = () => object | Promise<object>;
/** Shows a refused form again on a page with its own renderer; the status is already set on the response. */
type RenderRefusal = (refusal: DomainError, status: number) => unknown;

/**
 * The one re-render of a refused form: a domain error whose code is in `codes` (default: validation only) renders
 * the form again with the status the one error mapper gives it (422, 409, …), the message and the per-field messages —
 * either `view` with the page's context (built only then), or through the page's own `render`. Anything else goes on
 * to the error handler.
 */
export async function renderInvalid(res: Response, err: unknown, view: string, context?: Context, codes?: readonly DomainErrorCode[]): Promise<void>;
export async function renderInvalid(res: Response, err: unknown, render: RenderRefusal, codes?: readonly DomainErrorCode[]): Promise<void>;
export async function renderInvalid(res: Response, err: unknown, view: string | RenderRefusal,
  contextOrCodes?: Context | readonly DomainErrorCode[], moreCodes?: readonly DomainErrorCode[]): Promise<void> {
  const codes = (typeof contextOrCodes === 'function' ? moreCodes : contextOrCodes ?? moreCodes) ?? ['VALIDATION'];
  if (!(err instanceof DomainError) || !codes.includes(err.code)) throw err;
  const status = toHttpProblem(err).status;
  if (typeof view === 'function') {
    res.status(status);
    await view(err, status);
    return;
  }
  const context = typeof contextOrCodes === 'function' ? contextOrCodes : () => ({});
  res.status(status).render(view, { ...(await context()), error: err.message, fields: err.fields });
}

function typedValues(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!body || typeof body !== 'object') return out;
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string' && k !== '_csrf') out[k] = v.slice(0, 5000);
  return out;
}
