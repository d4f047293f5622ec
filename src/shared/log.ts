import pino from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from '../config';

/**
 * The app's one logger (pino): JSON lines in production, readable lines in development. src/server.ts configures it
 * from the settings at start; until then (and in tests) it logs readable lines at `info`, `warn` under jest.
 *
 * Nothing secret reaches a line: fields that may carry a password, token, card number, cookie or session id are
 * redacted by name, and every message string is scrubbed of card numbers and cookie values (see scrub).
 */

const SECRET_FIELDS = ['password', 'passwordHash', 'cardNumber', 'cardCvc', 'token', '_csrf', 'sessionId', 'sid', 'secret', 'apiKey', 'authorization', 'cookie', 'set-cookie'];
const REDACT = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), ...SECRET_FIELDS.map((f) => `*.*.${f}`)];

/** 13–19 digits, optionally grouped by spaces or dashes: a card number. */
const CARD_NUMBER = /\b\d(?:[ -]?\d){12,18}\b/g;
/** A cookie or auth header value: `orderflow.sid=s%3A…`, `basket=…`, `Bearer of_live_…`. */
const SECRET_VALUE = /\b(orderflow\.sid|orderflow\.csrf|basket|_csrf|password|token)=([^;&\s"]+)|\b(Bearer) [\w.~+/-]+=*/gi;

/** Removes card numbers and secret values from a message. */
export function scrub(text: string): string {
  return text.replace(CARD_NUMBER, '[card number]').replace(SECRET_VALUE, (_m, name?: string, _v?: string, bearer?: string) => (bearer ? `${bearer} [redacted]` : `${name}=[redacted]`));
}

export function createLogger(opts: { production: boolean; level: LogLevel; destination?: pino.DestinationStream }): pino.Logger {
  return createLoggers(opts).log;
}

/**
 * The logger and the request log's logger, writing to one destination. The request line's fields are the app's own
 * (request id, method, path, status, time: src/http/request-log.ts), never a secret by name, so its logger skips the
 * redaction pass — ~30 µs a line with REDACT's wildcard paths, a tenth of a page's CPU.
 */
function createLoggers(opts: { production: boolean; level: LogLevel; destination?: pino.DestinationStream }): { log: pino.Logger; requests: pino.Logger } {
  const options: pino.LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid },
    serializers: { err: (e: unknown) => scrubbedError(e) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  // process.stdout writes synchronously to files, pipes and terminals on Linux, so nothing is lost at exit.
  const destination = opts.destination ?? process.stdout;
  const stream = opts.production ? destination : prettyStreamInto(destination);
  // The request line's message is the constant 'request': no scrubbing hook either.
  return { log: pino({ ...options, redact: { paths: REDACT, censor: '[redacted]' } }, stream), requests: pino({ ...options, hooks: {} }, stream) };
}

/** Where a destination keeps its pretty stream: a global symbol, so modules loaded again (jest) find it too. */
const PRETTY_STREAM = Symbol.for('orderflow.prettyStream');

/**
 * The one readable-lines stream that writes into `destination`. pino-pretty pipes each stream it makes into its
 * destination with five listeners, so a stream per logger (a test worker makes one per app) piles listeners onto stdout.
 */
function prettyStreamInto(destination: pino.DestinationStream): pino.DestinationStream {
  const holder = destination as pino.DestinationStream & { [PRETTY_STREAM]?: pino.DestinationStream };
  holder[PRETTY_STREAM] ??= pretty({ sync: true, colorize: false, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination });
  return holder[PRETTY_STREAM];
}

let loggers = createLoggers({ production: process.env.NODE_ENV === 'production', level: process.env.JEST_WORKER_ID ? 'warn' : 'info' });
export let log: pino.Logger = loggers.log;

/** The request log's line (src/http/request-log.ts): only the fields given there, at `level`. */
export function logRequest(level: 'info' | 'debug', line: { reqId: string; method: string; path: string; status: number; ms: number }): void {
  loggers.requests[level](line, 'request');
}

/** Switches the app's logger (src/server.ts, at start). */
export function configureLogging(opts: { production: boolean; level: LogLevel; destination?: pino.DestinationStream }): pino.Logger {
  loggers = createLoggers(opts);
  log = loggers.log;
  return log;
}

/** An error for a log line: its type, code and first message line (scrubbed), and the stack frames. */
function scrubbedError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: scrub(String(e)) };
  const err = e as Error & { code?: unknown };
  return {
    type: err.name,
    ...(typeof err.code === 'string' ? { code: err.code } : {}),
    message: scrub(withoutSql(String(err.message).split('\n')[0]).slice(0, 500)),
    stack: err.stack?.split('\n').slice(1, 12).join('\n'),
  };
}

/** MikroORM puts the failed statement with its values in front of the driver's reason ("<sql> - <reason>"): keep the reason. */
function withoutSql(message: string): string {
  return /^\s*(select|insert|update|delete|with|begin|copy)\b/i.test(message) ? message.split(' - ').pop()! : message;
}
