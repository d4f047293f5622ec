import { RequestContext, type EntityManager } from '@mikro-orm/core';
import express from 'express';
import request from 'supertest';
import { requestContext, usedRequestEntityManager } from '../../src/db/request-context';
import { startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('the request context (one EntityManager per request, made on first use)', () => {
  it('makes no EntityManager for a request that never uses the ORM, and one per request that does, the same all through it', async () => {
    const seen: EntityManager[] = [];
    const app = express();
    app.use(requestContext(t.orm.em));
    app.get('/plain', (_req, res) => { res.json({ used: usedRequestEntityManager(t.orm.em) !== undefined }); });
    app.get('/orm', async (_req, res) => {
      const before = usedRequestEntityManager(t.orm.em);
      const [{ one }] = await t.orm.em.execute<{ one: number }[]>('select 1 as one');
      const first = RequestContext.getEntityManager()!;
      await new Promise((r) => setTimeout(r, 5));
      seen.push(first);
      res.json({ before: before !== undefined, one, same: RequestContext.getEntityManager() === first && usedRequestEntityManager(t.orm.em) === first, notGlobal: first !== t.orm.em });
    });

    expect((await request(app).get('/plain')).body).toEqual({ used: false });
    expect((await request(app).get('/orm')).body).toEqual({ before: false, one: 1, same: true, notGlobal: true });
    expect((await request(app).get('/orm')).body).toEqual({ before: false, one: 1, same: true, notGlobal: true });
    expect(seen[0]).not.toBe(seen[1]);
  });
});
