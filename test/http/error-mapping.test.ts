import { OptimisticLockError } from '@mikro-orm/core';
import { toHttpProblem } from '../../src/http/error-handler';
import { DomainError } from '../../src/shared/errors';

describe('error mapping', () => {
  it('maps each domain error code to one HTTP status and keeps the message', () => {
    expect(toHttpProblem(new DomainError('NOT_FOUND', 'x'))).toMatchObject({ status: 404, message: 'x' });
    expect(toHttpProblem(new DomainError('INSUFFICIENT_STOCK', 'y')).status).toBe(409);
    expect(toHttpProblem(new DomainError('PAYMENT_DECLINED', 'z')).status).toBe(402);
    expect(toHttpProblem(new DomainError('VALIDATION', 'v', { a: 'b' }))).toMatchObject({ status: 422, fields: { a: 'b' } });
    expect(toHttpProblem(OptimisticLockError.lockFailed('Order')).status).toBe(409);
  });

  it('turns unknown errors into a 500 with a generic message and a log id, never the internals', () => {
    const p = toHttpProblem(new Error('password=hunter2 at db.query'));
    expect(p.status).toBe(500);
    expect(p.message).not.toContain('hunter2');
    expect(p.logId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
