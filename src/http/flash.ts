import { createHmac, timingSafeEqual } from 'node:crypto';
import { BoundedMap } from '../shared/bounded-map';
import type { Express, Request, Response } from 'express';
import { z } from 'zod';
import { replaceCookie } from './cookies';
import { openedSession } from './lazy-session';

/**
 * Messages for the next page ("Added to your basket.") travel in a signed cookie, not in the session: an add to the
 * basket and the page after it then write no session row (they wrote it twice, to keep the message and to drop it), and
 * a visitor gets no session just for a message. The cookie is HMAC-signed with the session secret, so nobody can make
 * the shop say something it did not say; a tampered or unreadable cookie is ignored (and dropped). Messages too long
 * for a cookie (a reorder of a large order lists every line) are kept in the session as before.
 */
export const FLASH_COOKIE = 'orderflow.flash';
export type FlashMessage = { type: 'success' | 'error'; message: string };

/** Browsers keep cookies up to 4,096 bytes, name and attributes included. */
const MAX_COOKIE_VALUE = 3_800;
const MAX_AGE_MS = 3600 * 1000;
/** Signed values kept for messages queued again (bounded: messages naming an order or a product vary). */
const MAX_KEPT = 500;
const MAX_KEPT_LENGTH = 300;
const stored = z.array(z.object({ type: z.enum(['success', 'error']), message: z.string() })).max(50);

/** This request's messages not shown yet, and whether the browser sent the cookie (so it must be dropped once shown). */
interface FlashState { messages: FlashMessage[]; inCookie: boolean }
const STATE = Symbol('flash messages of this request');
const FLASH = Symbol('the flash cookie of this app');
type WithFlash = Request & { [STATE]?: FlashState; [FLASH]?: FlashCookie };

export class FlashCookie {
  private readonly encoded = new BoundedMap<string, string>(MAX_KEPT);

  constructor(private readonly secret: string, private readonly secureCookies: boolean) {}

  /** Makes flash() and takeFlash() work for this app's requests (its request prototype holds this cookie). */
  install(app: Express): void {
    (app.request as WithFlash)[FLASH] = this;
  }

  /** The messages the request came with (read on first use: most requests never look). */
  state(req: Request): FlashState {
    const r = req as WithFlash;
    if (!r[STATE]) {
      const raw: unknown = req.cookies?.[FLASH_COOKIE];
      const messages = typeof raw === 'string' ? this.decode(raw) : undefined;
      r[STATE] = { messages: messages ?? [], inCookie: typeof raw === 'string' };
    }
    return r[STATE];
  }

  /** Writes the pending messages where the next page finds them: the cookie, or the session when too long for it. */
  keep(req: Request, res: Response, state: FlashState): void {
    let value = state.messages.length ? this.encode(state.messages) : '';
    if (value.length > MAX_COOKIE_VALUE) {
      req.session.flash = [...(req.session.flash ?? []), ...state.messages];
      state.messages = [];
      value = '';
    }
    setCookieHeader(res, value, this.secureCookies, state.inCookie);
  }

  encode(messages: FlashMessage[]): string {
    const json = JSON.stringify(messages);
    // The same few short messages are queued again and again ("Added to your basket."): their signed value is kept.
    let value = this.encoded.get(json);
    if (value === undefined) {
      const payload = Buffer.from(json).toString('base64url');
      value = `${payload}.${this.sign(payload)}`;
      if (json.length <= MAX_KEPT_LENGTH) this.encoded.set(json, value);
    }
    return value;
  }

  /** The messages of a cookie this app signed; undefined for anything else. */
  decode(value: string): FlashMessage[] | undefined {
    const dot = value.lastIndexOf('.');
    if (dot < 1) return undefined;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(this.sign(payload));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const parsed = stored.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.secret).update('flash:' + payload).digest('base64url');
  }
}

function flashCookieOf(req: Request): FlashCookie {
  const cookie = (req as WithFlash)[FLASH];
  if (!cookie) throw new Error('flash messages are not set up for this app (FlashCookie.install)');
  return cookie;
}

/** A message for the next page; one not shown yet is not queued again (ten quick adds say "Added" once, not ten times). */
export function flash(req: Request, type: FlashMessage['type'], message: string): void {
  const cookie = flashCookieOf(req);
  const state = cookie.state(req);
  if ([...(openedSession(req)?.flash ?? []), ...state.messages].some((m) => m.type === type && m.message === message)) return;
  state.messages = [...state.messages, { type, message }];
  cookie.keep(req, req.res!, state);
}

/** The messages for the page being rendered: shown once, so they are dropped from the cookie (and the session). */
export function takeFlash(req: Request, res: Response): FlashMessage[] {
  const cookie = flashCookieOf(req);
  const state = cookie.state(req);
  const session = openedSession(req);
  const messages = [...(session?.flash ?? []), ...state.messages];
  if (session?.flash) delete session.flash;
  if (state.messages.length || state.inCookie) {
    state.messages = [];
    cookie.keep(req, res, state);
  }
  return messages;
}

function setCookieHeader(res: Response, value: string, secure: boolean, inBrowser: boolean): void {
  replaceCookie(res, FLASH_COOKIE, value || null, { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: MAX_AGE_MS }, inBrowser);
}
