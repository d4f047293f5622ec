import type TestAgent from 'supertest/lib/agent';
import { postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
let flowId: number;
let stateId: number;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  await t.sql(`insert into order_field_definitions (system_name, name, type, applies_to) values
    ('approver_email', 'Approver e-mail', 'email', 'order'), ('gift_note', 'Gift note', 'text', 'line')`);
  const [row] = await t.sql(`select s.id, s.flow_id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and not s.is_default and not s.deleted order by s.sort_order limit 1`);
  [flowId, stateId] = [row.flow_id, row.id];
});
afterAll(async () => { await t.close(); });

const page = () => `/admin/settings/flows/${flowId}/states/${stateId}`;
async function saveState(over: Record<string, string>) {
  const [s] = await t.sql('select name, color from flow_states where id = $1', [stateId]);
  return postForm(staff, page(), { name: s.name, color: s.color, allowOrder: 'on', ...over }, page());
}

describe('"Send to the e-mail in an order field" picks a defined order field', () => {
  it('offers the defined order fields (not line fields) in a select', async () => {
    const res = await staff.get(page()).expect(200);
    expect(res.text).toMatch(/<select id="f-customRecipientField" name="customRecipientField"/);
    expect(res.text).toContain('<option value="approver_email">Approver e-mail (approver_email)</option>');
    expect(res.text).not.toContain('value="gift_note"');
  });

  it('refuses a field that is not defined, next to the select, and saves nothing', async () => {
    for (const name of ['no_such_field', 'gift_note']) {
      const res = await saveState({ sendToField: 'on', customRecipientField: name });
      expect(res.status).toBe(422);
      expect(res.text).toContain(`id="f-customRecipientField-error">Order field “${name}” is not one of the order fields listed`);
      expect(res.text).toContain(`<option value="${name}" selected>${name} (not a defined order field)</option>`);
    }
    const [row] = await t.sql('select send_to_field, custom_recipient_field from flow_states where id = $1', [stateId]);
    expect(row).toEqual({ send_to_field: false, custom_recipient_field: '' });
  });

  it('saves a defined field and shows it selected', async () => {
    expect((await saveState({ sendToField: 'on', customRecipientField: 'approver_email' })).status).toBe(303);
    const [row] = await t.sql('select send_to_field, custom_recipient_field from flow_states where id = $1', [stateId]);
    expect(row).toEqual({ send_to_field: true, custom_recipient_field: 'approver_email' });
    expect((await staff.get(page())).text).toContain('<option value="approver_email" selected>');
  });
});
