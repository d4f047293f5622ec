/**
 * The logged-in user is kept in the session as pages need them: a page (GET) trusts that copy for
 * SESSION_USER_TTL_MS without reading the users row; every write request reads the row again, and so does a page
 * after that time. A change made elsewhere counts for the user's next action at once and shows on their pages
 * within that time; a user whose row is gone is logged out.
 */
import { registerCustomer } from '../security/security-helpers';
import { staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

const TTL_MS = 600;
let t: TestApp;
beforeAll(async () => { t = await startTestApp({ sessionUserTtlMs: TTL_MS }); });
afterAll(async () => { await t.close(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const shownName = (html: string) => /class="muted user-name" title="Logged in as ([^"]*)"/.exec(html)?.[1] ?? null;

describe('the logged-in user kept in the session', () => {
  it('a page shows the name kept in the session; after SESSION_USER_TTL_MS the page shows the changed name', async () => {
    const c = await registerCustomer(t, 'Kept Name');
    await sleep(TTL_MS); // the copy stored at registration is now old: the next page reads the row and keeps it again
    expect(shownName((await c.agent.get('/')).text)).toBe('Kept Name');
    await t.sql('update users set name = $2 where id = $1', [c.userId, 'Changed Elsewhere']);
    // Within the time the page trusts the session's copy (no users query) …
    expect(shownName((await c.agent.get('/')).text)).toBe('Kept Name');
    await sleep(TTL_MS + 50);
    // … after it, the row is read again and the new copy is kept.
    expect(shownName((await c.agent.get('/')).text)).toBe('Changed Elsewhere');
    await t.sql('update users set name = $2 where id = $1', [c.userId, 'Kept Name']);
  });

  it('a write request reads the user again at once: a staff user made a shopper is refused the staff action', async () => {
    const staff = await staffAgent(t);
    const [{ id }] = await t.sql<{ id: number }>(`select id from users where email = 'admin@orderflow.test'`);
    const settings = await staff.get('/admin/settings/staff-roles');
    expect(settings.status).toBe(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(settings.text)![1];
    await t.sql(`update users set role = 'shopper', staff_role = null where id = $1`, [id]);
    try {
      const res = await staff.post('/admin/settings/staff-roles/permissions').type('form').send({ _csrf: token, clerk: ['order.edit'] });
      expect(res.status).toBe(403);
      // and the changed user is kept: the next page, within the time, no longer shows the staff menu
      expect((await staff.get('/')).text).not.toContain('href="/admin"');
    } finally {
      await t.sql(`update users set role = 'staff', staff_role = 'administrator' where id = $1`, [id]);
    }
  });

  it('a user whose row is gone is logged out when the row is read again', async () => {
    const c = await registerCustomer(t, 'Gone Soon');
    expect((await c.agent.get('/customer-center?CC=Carts')).status).toBe(200);
    await t.sql('delete from users where id = $1', [c.userId]);
    await sleep(TTL_MS + 50);
    const page = await c.agent.get('/customer-center?CC=Carts');
    expect(page.status).toBe(302);
    expect(page.headers.location).toMatch(/^\/login/);
  });
});
