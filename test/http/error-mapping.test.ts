import { ConnectionException, DriverException, OptimisticLockError } from '@mikro-orm/core';
import express from 'express';
import request from 'supertest';
import { isDatabaseUnavailable, unavailableReason } from '../../src/db/unavailable';
import { errorHandler, toHttpProblem } from '../../src/http/error-handler';
import { DomainError } from '../../src/shared/errors';
import { parse } from '../../src/http/validate';
import { z } from 'zod';

describe('error mapping', () => {
  it('maps each domain error code to one HTTP status and keeps the message', () => {
    expect(toHttpProblem(new DomainError('NOT_FOUND', 'x'))).toMatchObject({ status: 404, message: 'x' });
    expect(toHttpProblem(new DomainError('INSUFFICIENT_STOCK', 'y')).status).toBe(409);
    expect(toHttpProblem(new DomainError('PAYMENT_DECLINED', 'z')).status).toBe(402);
    expect(toHttpProblem(new DomainError('VALIDATION', 'v', { a: 'b' }))).toMatchObject({ status: 422, fields: { a: 'b' } });
    expect(toHttpProblem(OptimisticLockError.lockFailed('Order')).status).toBe(409);
  });

  it('names a refused field as people write it: "VAT rate", not "vat rate"', () => {
    const refusal = (() => { try { parse(z.object({ vatRate: z.number({ error: 'must be a number' }) }), { vatRate: 'x' }); } catch (e) { return e as DomainError; } })();
    expect(refusal).toMatchObject({ code: 'VALIDATION', message: 'Please check VAT rate: must be a number', fields: { vatRate: 'must be a number' } });
  });

  it('turns unknown errors into a 500 with a generic message and a log id, never the internals', () => {
    const p = toHttpProblem(new Error('password=hunter2 at db.query'));
    expect(p.status).toBe(500);
    expect(p.message).not.toContain('hunter2');
    expect(p.logId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('database unavailable', () => {
  const unavailable = (err: unknown) => {
    const p = toHttpProblem(err);
    return p.status === 503 && p.code === 'UNAVAILABLE' && p.retryAfterSeconds! > 0 && /try again in a minute/.test(p.message);
  };
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

  it('maps every way PostgreSQL can be out of reach to 503 UNAVAILABLE with a Retry-After', () => {
    // PostgreSQL stopped or restarting: the server's own error codes
    expect(unavailable(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(unavailable(withCode('the database system is shutting down', '57P03'))).toBe(true);
    expect(unavailable(withCode('the database system is starting up', '57P03'))).toBe(true);
    expect(unavailable(withCode('sorry, too many clients already', '53300'))).toBe(true);
    // the socket: refused while down, reset when the server went away mid-query
    expect(unavailable(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toBe(true);
    expect(unavailable(withCode('read ECONNRESET', 'ECONNRESET'))).toBe(true);
    expect(unavailable(Object.assign(new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''), {}))).toBe(true);
    // pg and knex messages without a code
    expect(unavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(unavailable(new Error('Client has encountered a connection error and is not queryable'))).toBe(true);
    expect(unavailable(Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }))).toBe(true);
    // wrapped: MikroORM's DriverException copies the driver error's code; cause chains
    expect(unavailable(new DriverException(withCode('terminating connection due to administrator command', '57P01')))).toBe(true);
    expect(unavailable(new ConnectionException(new Error('whatever the driver said')))).toBe(true);
    expect(unavailable(new Error('session store failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED') }))).toBe(true);
  });

  it('leaves other errors alone: SQL errors stay 500, client errors stay 4xx, domain errors keep their status', () => {
    expect(toHttpProblem(withCode('relation "x" does not exist', '42P01')).status).toBe(500);
    expect(toHttpProblem(new DriverException(withCode('division by zero', '22012'))).status).toBe(500);
    expect(toHttpProblem(Object.assign(new Error('request aborted'), { code: 'ECONNABORTED', status: 400, type: 'request.aborted' })).status).toBe(400);
    expect(toHttpProblem(new DomainError('CONFLICT', 'Connection terminated by the customer')).status).toBe(409);
    expect(isDatabaseUnavailable(new Error('Something went wrong'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});

describe('the 503 answer', () => {
  // A tiny app whose session and locals explode when touched: the 503 must be sent without either.
  const app = express();
  app.use((req, res, next) => {
    Object.defineProperty(req, 'session', { get: () => { throw new Error('the session was touched'); } });
    Object.defineProperty(res.locals, 'csrfToken', { enumerable: true, get: () => { throw new Error('the CSRF token was generated'); } });
    next();
  });
  app.get(['/', '/api/v1/orders'], () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }); });
  app.use(errorHandler);

  it('is a self-contained HTML page with Retry-After, for browsers', async () => {
    const res = await request(app).get('/').set('Accept', 'text/html');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).toContain("We're briefly unavailable");
    expect(res.text).toContain('try again in a minute');
    expect(res.text).not.toMatch(/<link[^>]+stylesheet|<script/); // nothing else to fetch from a struggling server
  });

  it('is JSON for the API and for JSON clients', async () => {
    const api = await request(app).get('/api/v1/orders');
    expect(api.status).toBe(503);
    expect(api.headers['retry-after']).toBe('30');
    expect(api.body).toEqual({ error: { code: 'UNAVAILABLE', message: expect.stringContaining('try again'), fields: {} } });
    const json = await request(app).get('/').set('Accept', 'application/json');
    expect(json.status).toBe(503);
    expect(json.body.error.code).toBe('UNAVAILABLE');
  });
});

describe('what a 503 logs', () => {
  it('is the driver reason, without the SQL (and its values) MikroORM puts in front of it', () => {
    const err = new DriverException(Object.assign(new Error(`select * from users where email = 'kim@example.test' - terminating connection due to administrator command`), { code: '57P01' }));
    expect(unavailableReason(err)).toBe('57P01 terminating connection due to administrator command');
    expect(isDatabaseUnavailable(new DriverException(new Error('Transaction query already complete, run with DEBUG=knex:tx for more info')))).toBe(true);
  });
});
