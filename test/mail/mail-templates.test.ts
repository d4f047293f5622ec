/**
 * Mail templates written in the admin: checked on save (the error next to the field, nothing saved), previewed with a
 * sample order, rendered in a sandbox with only the order's data, and chosen by a flow state like a built-in file.
 */
import type TestAgent from 'supertest/lib/agent';
import { placeGuestOrder } from '../helpers/shopping';
import { postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const PAGE = '/admin/settings/mail-templates';
const GOOD = '<h1>{{ subject }}</h1><p>Dear {{ order.billingName }}, {{ order.number }} is {{ state.name | lower }}.</p>{% for l in lines %}<p>{{ l.quantity }} × {{ l.productName }}</p>{% endfor %}<p>{{ order.totalMinor | money(order.currencyCode) }}</p>';
const count = async () => Number((await t.sql('select count(*)::int as n from mail_templates'))[0].n);

describe('mail templates in the admin', () => {
  it('refuses a template that does not parse or leaves the sandbox, with the message next to the field; nothing is saved', async () => {
    const cases: [string, RegExp][] = [
      ['<p>{{ order.number </p>', /^Template: unexpected token: \/ \(line 1, column \d+\)$/],
      ['{{ range(1000000) }}', /Calling a function is not allowed in a mail template \(line 1, column \d+\)/],
      ['{{ order.billingName | safe }}', /The filter “safe” is not available in mail templates/],
      ['{{ order.constructor }}', /“constructor” is not allowed in a mail template/],
      ['{% include "layouts/base.njk" %}', /\{% include %\} is not allowed/],
      ['{{ order[state.name] }}', /Only fixed names may follow a dot/],
    ];
    for (const [body, message] of cases) {
      const res = await postForm(staff, PAGE, { name: 'Broken', body, action: 'save' }, `${PAGE}/new`);
      expect(res.status).toBe(422);
      const fieldError = /id="f-body-error">([^<]*)</.exec(res.text)?.[1] ?? '';
      expect(fieldError.replace(/&[a-z#0-9]+;/g, (m) => ({ '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>' }[m] ?? m))).toMatch(message);
      expect(res.text).toContain('aria-invalid="true"');
    }
    expect(await count()).toBe(0);
  });

  it('previews what was typed with the sample order, without saving', async () => {
    const res = await postForm(staff, PAGE, { name: 'Shipped notice', body: GOOD, action: 'preview' }, `${PAGE}/new`);
    expect(res.status).toBe(200);
    const text = /data-testid="preview-text">([^<]*)</.exec(res.text)?.[1] ?? '';
    expect(text).toContain('Dear Kim Sample, ORDER1234 is shipped.');
    expect(text).toContain('2 × Espresso beans 1 kg');
    expect(res.text).toContain('value="Shipped notice"');
    expect(await count()).toBe(0);
  });

  it('a saved template chosen by a flow state is rendered with the order’s data, customer text escaped', async () => {
    const saved = await postForm(staff, PAGE, { name: 'Shipped notice', body: GOOD, action: 'save' }, `${PAGE}/new`);
    expect(saved.status).toBe(303);
    const [{ id }] = await t.sql('select id from mail_templates where name = $1', ['Shipped notice']);
    expect((await staff.get(`${PAGE}/${id}`)).text).toContain('Dear Kim Sample');

    const [state] = await t.sql(`select s.id, s.flow_id, s.name, s.color from flow_states s join flows f on f.id = s.flow_id
      where f.type = 'order' and f.is_default and not s.is_default and not s.deleted order by s.sort_order limit 1`);
    const editor = `/admin/settings/flows/${state.flow_id}/states/${state.id}`;
    expect((await staff.get(editor)).text).toContain(`<option value="db:${id}">Shipped notice</option>`);
    const res = await postForm(staff, editor, { name: state.name, color: state.color, allowOrder: 'on', sendToBillingEmail: 'on', mailSubject: 'News on {OrderID}', mailTemplate: `db:${id}` }, editor);
    expect(res.status).toBe(303);

    const number = await placeGuestOrder(t, 'P-1012');
    await t.sql(`update orders set billing_name = '<b>Kim</b>' where number = $1`, [number]);
    const [order] = await t.sql('select id from orders where number = $1', [number]);
    await t.services.flows.changeState({ orderId: Number(order.id), toStateId: state.id, actor: { userId: null, kind: 'staff', source: 'backend' }, allowFlowSwitch: true }, t.orm.em.fork());
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `News on ${number}`));
    expect(mail.html).toContain(`<p>Dear &lt;b&gt;Kim&lt;/b&gt;, ${number} is ${state.name.toLowerCase()}.</p>`);
    expect(mail.html).toMatch(/<p>1 × [^<]+<\/p>/);

    // In use: it cannot be deleted.
    const del = await postForm(staff, `${PAGE}/${id}/delete`, {}, `${PAGE}/${id}`);
    expect(del.status).toBe(409);
    expect(await count()).toBe(1);
  });
});
