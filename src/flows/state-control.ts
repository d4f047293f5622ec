import type { Request, Response } from 'express';
import { z } from 'zod';
import type { StateChangeActor } from './flow.service';
import { REFUSED_MOVES } from '../shared/errors';
import { wantsJson } from '../http/error-handler';
import { renderInvalid } from '../http/in-context';
import { idParam, parse, text } from '../http/validate';

export const staffActor = (req: Request, source: StateChangeActor['source']): StateChangeActor => ({ userId: req.user!.id, kind: 'staff', source });

/** A staff state change that was refused: its reason and what was chosen and typed, shown again next to the control. */
export interface RefusedMove { reason: string; stateId: number | null; message: string }
const stateForm = z.object({ stateId: idParam, version: z.coerce.number().int().min(1), message: text(2000).default('') });

/**
 * Runs one staff state change from the state control's form. A refusal (the rules, a concurrent change, a bad value)
 * is rendered by `again` on the same page with status 409 / 422; returns whether the state changed.
 */
export async function changeStateInContext(req: Request, res: Response, change: (form: z.infer<typeof stateForm>) => Promise<unknown>,
  again: (refused: RefusedMove) => Promise<void>): Promise<boolean> {
  try {
    await change(parse(stateForm, req.body));
    return true;
  } catch (e) {
    if (wantsJson(req)) throw e;
    const typed = req.body as { stateId?: unknown; message?: unknown };
    await renderInvalid(res, e, (refusal) => again({
      reason: refusal.message, stateId: Number(typed.stateId) || null, message: typeof typed.message === 'string' ? typed.message.slice(0, 2000) : '',
    }), [...REFUSED_MOVES, 'VALIDATION']);
    return false;
  }
}
