/** Reading a form out of a rendered page as a browser would submit it. */
const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attr = (tag: string, name: string) => { const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag); return m ? decode(m[1]) : null; };

/** The fields a browser would send for the form posting to `action` (checked boxes only, selected options). */
export function formFields(html: string, action: string): Record<string, string> {
  const start = html.indexOf(`action="${action}"`);
  if (start < 0) throw new Error(`no form posting to ${action}`);
  const form = html.slice(start, html.indexOf('</form>', start));
  const out: Record<string, string> = {};
  for (const [tag] of form.matchAll(/<input\b[^>]*>/g)) {
    const name = attr(tag, 'name');
    if (!name) continue;
    const type = attr(tag, 'type') ?? 'text';
    if (type === 'checkbox' || type === 'radio') { if (/\schecked\b/.test(tag)) out[name] = attr(tag, 'value') ?? 'on'; continue; }
    out[name] = attr(tag, 'value') ?? '';
  }
  for (const m of form.matchAll(/<select\b[^>]*name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/g)) {
    const selected = /<option value="([^"]*)"[^>]*\sselected/.exec(m[2]) ?? /<option value="([^"]*)"/.exec(m[2]);
    out[m[1]] = selected ? decode(selected[1]) : '';
  }
  return out;
}
