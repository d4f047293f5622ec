/**
 * Mail templates staff write in the admin (/admin/settings/mail-templates), stored in `mail_templates` and chosen by
 * flow states as `db:<id>` next to the built-in files. They are Nunjucks rendered in a sandbox: their own environment
 * with no loader (no include/extends/import), autoescape on, and only plain copies of the order's data. Because
 * Nunjucks itself is no sandbox, a template is checked node by node before it is saved and again before it is
 * rendered: no function calls, no lookups computed at run time, no `constructor`/`__proto__`/`prototype`, and only
 * the listed filters (no `safe`, so customer-typed text is always escaped).
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import nunjucks from 'nunjucks';
import { DomainError, invalid, notFound } from '../shared/errors';
import { formatMoney, formatRate } from '../shared/money';

export const STORED_TEMPLATE_PREFIX = 'db:';
export const storedTemplateKey = (id: number) => `${STORED_TEMPLATE_PREFIX}${id}`;
export const storedTemplateId = (key: string): number | null => (/^db:[1-9][0-9]{0,9}$/.test(key) ? Number(key.slice(3)) : null);

export const SANDBOX_FILTERS = ['abs', 'capitalize', 'default', 'first', 'join', 'last', 'length', 'lower', 'upper', 'replace', 'round', 'title', 'trim', 'truncate', 'int', 'float', 'string', 'sort', 'reverse', 'urlencode', 'money', 'rate', 'date'] as const;
const FORBIDDEN_NAMES = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
const ALLOWED_NODES = new Set(['Root', 'NodeList', 'Output', 'TemplateData', 'Symbol', 'Literal', 'LookupVal', 'Filter', 'If', 'IfAsync', 'InlineIf', 'For', 'Set',
  'Compare', 'CompareOperand', 'And', 'Or', 'Not', 'Add', 'Sub', 'Mul', 'Div', 'FloorDiv', 'Mod', 'Pow', 'Neg', 'Pos', 'Concat', 'In', 'Is', 'Group', 'Array', 'Dict', 'Pair', 'KeywordArgs']);

/** The sandbox environment: no loader, autoescape, only the listed filters (plus the shop's money/rate/date). */
const sandbox = new nunjucks.Environment(null, { autoescape: true, throwOnUndefined: false });
sandbox.addFilter('money', (minor: number, currency?: string) => formatMoney(Number(minor ?? 0), currency));
sandbox.addFilter('rate', (bp: number) => formatRate(bp));
sandbox.addFilter('date', (d: string | null) => (d ? String(d).slice(0, 10) : ''));

type AstNode = { typename: string; fields: string[]; value?: unknown; lineno: number; colno: number; [k: string]: unknown };

/** Why the template may not be used (parse error with line and column, or a construct the sandbox refuses), or null. */
export function templateProblem(body: string): string | null {
  let ast: AstNode;
  try {
    ast = (nunjucks as unknown as { parser: { parse(src: string): AstNode } }).parser.parse(body);
  } catch (e) {
    const err = e as Error & { lineno?: number; colno?: number };
    const where = err.lineno != null && !/\[Line \d+/.test(err.message) ? ` (line ${err.lineno}, column ${err.colno ?? 0})` : '';
    return `${cleanNunjucksMessage(err.message)}${where}`;
  }
  return refusedNode(ast);
}

function refusedNode(node: AstNode): string | null {
  const at = `line ${node.lineno + 1}, column ${node.colno + 1}`;
  if (!ALLOWED_NODES.has(node.typename)) return `${describe(node.typename)} is not allowed in a mail template (${at}).`;
  if (node.typename === 'Symbol' && FORBIDDEN_NAMES.has(String(node.value))) return `“${node.value}” is not allowed in a mail template (${at}).`;
  if (node.typename === 'LookupVal') {
    const key = node.val as AstNode;
    if (key.typename !== 'Literal') return `Only fixed names may follow a dot or go in brackets, like order.number or order["number"] (${at}).`;
    if (FORBIDDEN_NAMES.has(String(key.value))) return `“${key.value}” is not allowed in a mail template (${at}).`;
  }
  if (node.typename === 'Filter') {
    const name = String((node.name as AstNode).value);
    if (!(SANDBOX_FILTERS as readonly string[]).includes(name)) return `The filter “${name}” is not available in mail templates (${at}). Available: ${SANDBOX_FILTERS.join(', ')}.`;
    return refusedNode(node.args as AstNode);
  }
  for (const field of node.fields ?? []) {
    const child = node[field];
    const children = Array.isArray(child) ? child : [child];
    for (const c of children) {
      if (c && typeof c === 'object' && 'typename' in (c as object)) {
        const problem = refusedNode(c as AstNode);
        if (problem) return problem;
      }
    }
  }
  return null;
}

function describe(typename: string): string {
  const words: Record<string, string> = {
    FunCall: 'Calling a function', Include: '{% include %}', Extends: '{% extends %}', Import: '{% import %}', FromImport: '{% from … import %}',
    Macro: '{% macro %}', Caller: '{% call %}', CallExtension: 'A tag from an extension', Block: '{% block %}', Super: 'super()', Capture: '{% set %} … {% endset %}',
  };
  return words[typename] ?? `“${typename}”`;
}

function cleanNunjucksMessage(message: string): string {
  return message.replace(/^Template render error: /, '').replace(/\(unknown path\)\s*/, '').replace(/\s+/g, ' ').trim();
}

/** Plain data the template sees: copies, never entities (no methods, nothing that reaches the database). */
export interface TemplateData { [key: string]: unknown }

/** Renders a stored template with only `data`; a template that fails the sandbox check is never run. */
export function renderStoredTemplate(body: string, data: TemplateData): string {
  const problem = templateProblem(body);
  if (problem) throw invalid(problem, { body: problem });
  try {
    return sandbox.renderString(body, JSON.parse(JSON.stringify(data)));
  } catch (e) {
    const message = cleanNunjucksMessage((e as Error).message);
    throw invalid(message, { body: message });
  }
}

type Addr = { name: string; company: string; address: string; address2: string; zip: string; city: string; region: string; country: string; phone: string; email: string };
interface OrderLike {
  number: string; type: string; currencyCode: string; totalMinor: number; createdAt?: Date;
  customerComment?: string; customFields?: Record<string, string> | null; billing: Addr; shipTo?: () => Addr;
}

/** The order's data as a stored template sees it: order (with billing and delivery addresses), lines, totals, state, subject, message. */
export function orderTemplateData(ctx: { order: OrderLike; lines?: unknown[]; totals?: unknown; state?: { name: string; description?: string } | null; subject?: string; message?: string }): TemplateData {
  const o = ctx.order;
  return {
    order: {
      number: o.number, type: o.type, billingName: o.billing.name, billingEmail: o.billing.email, currencyCode: o.currencyCode, totalMinor: o.totalMinor,
      createdAt: o.createdAt ? new Date(o.createdAt).toISOString() : null, customerComment: o.customerComment ?? '', customFields: o.customFields ?? {},
      billing: { ...o.billing }, delivery: o.shipTo ? { ...o.shipTo() } : null,
    },
    lines: (ctx.lines ?? []).map((l) => {
      const line = l as Record<string, unknown>;
      return { productName: line.productName, productNumber: line.productNumber, quantity: line.quantity, unit: line.unit, unitPriceMinor: line.unitPriceMinor, vatRateBp: line.vatRateBp };
    }),
    totals: ctx.totals ?? null,
    state: ctx.state ? { name: ctx.state.name, description: ctx.state.description ?? '' } : null,
    subject: ctx.subject ?? '', message: ctx.message ?? '',
  };
}

export interface MailTemplateRow { id: number; name: string; body: string; updatedAt: Date }
export interface MailTemplateInput { name: string; body: string }

export class MailTemplateService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  list(em: EntityManager = this.em): Promise<MailTemplateRow[]> {
    return em.execute<MailTemplateRow[]>('select id, name, body, updated_at as "updatedAt" from mail_templates order by lower(name), id');
  }

  async find(id: number, em: EntityManager = this.em): Promise<MailTemplateRow> {
    const [row] = await em.execute<MailTemplateRow[]>('select id, name, body, updated_at as "updatedAt" from mail_templates where id = ?', [id]);
    if (!row) throw notFound('The mail template');
    return row;
  }

  /** Validated before it is stored: it must parse, pass the sandbox check and render with the sample order. */
  async save(id: number | null, input: MailTemplateInput): Promise<MailTemplateRow> {
    const problem = templateProblem(input.body);
    if (problem) throw invalid(`Nothing was saved. Template: ${problem}`, { body: problem });
    renderStoredTemplate(input.body, SAMPLE_DATA);
    try {
      return await this.em.transactional(async (em) => {
        const [row] = id == null
          ? await em.execute<{ id: number }[]>('insert into mail_templates (name, body) values (?, ?) returning id', [input.name, input.body])
          : await em.execute<{ id: number }[]>('update mail_templates set name = ?, body = ?, updated_at = now() where id = ? returning id', [input.name, input.body, id]);
        if (!row) throw notFound('The mail template');
        return this.find(Number(row.id), em);
      });
    } catch (e) {
      if (e instanceof UniqueConstraintViolationException) throw invalid(`There is already a mail template called “${input.name}”.`, { name: 'is already used by another template' });
      throw e;
    }
  }

  /** Deletes a template no flow state uses. */
  async delete(id: number): Promise<MailTemplateRow> {
    return this.em.transactional(async (em) => {
      const template = await this.find(id, em);
      const [use] = await em.execute<{ n: number }[]>('select count(*)::int as n from flow_states where mail_template = ? or others_template = ?', [storedTemplateKey(id), storedTemplateKey(id)]);
      if (Number(use.n) > 0) throw new DomainError('CONFLICT', `“${template.name}” is used by ${use.n} flow state${use.n === 1 ? '' : 's'}; choose another template there first.`);
      await em.execute('delete from mail_templates where id = ?', [id]);
      return template;
    });
  }

  /** The template rendered with the sample order (the preview page). */
  preview(body: string): { html: string } {
    return { html: renderStoredTemplate(body, SAMPLE_DATA) };
  }
}

const SAMPLE_ADDRESS: Addr = { name: 'Kim Sample', company: '', address: 'Main Street 1', address2: '', zip: '2100', city: 'Copenhagen', region: '', country: 'DK', phone: '', email: 'kim@example.test' };

/** The sample order templates are checked and previewed with (never saved). */
export const SAMPLE_DATA: TemplateData = orderTemplateData({
  order: {
    number: 'ORDER1234', type: 'order', currencyCode: 'DKK', totalMinor: 39800,
    createdAt: new Date('2026-01-15T10:00:00Z'), customerComment: 'Please ring twice.', customFields: { po_number: 'PO-77' },
    billing: SAMPLE_ADDRESS, shipTo: () => SAMPLE_ADDRESS,
  },
  lines: [
    { productName: 'Espresso beans 1 kg', productNumber: 'P-1001', quantity: 2, unit: 'pack', unitPriceMinor: 12000, vatRateBp: 1200 },
    { productName: 'Pour-over kettle', productNumber: 'P-1017', quantity: 1, unit: 'pcs', unitPriceMinor: 9000, vatRateBp: 2500 },
  ],
  totals: { subtotalMinor: 35950, shippingFeeInclVatMinor: 3900, vatMinor: 5030, totalMinor: 39800 },
  state: { name: 'Shipped', description: 'Your parcel is on its way.' },
  subject: 'Your order ORDER1234 is now Shipped',
  message: '',
});
