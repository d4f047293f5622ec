/**
 * Fills a database with realistic shop data, fast: PostgreSQL COPY (pg-copy-streams), not the ORM. Run by hand:
 *
 *   npm run bench:data                                   # 1,000,000 orders, 100,000 customers, 5,000 products
 *   ORDERS=20000 CUSTOMERS=5000 PRODUCTS=500 npm run bench:data
 *   DATABASE=orderflow_scale SEED=42 npm run bench:data  # the defaults
 *
 * The database (DATABASE, default orderflow_scale) is dropped and created afresh on DATABASE_URL's server, else on
 * the app's embedded PostgreSQL (bench/bench-db.ts), migrated and seeded with the demo shop like `npm start` does,
 * and then loaded:
 *
 *   - 3 shops (the demo shop in DKK, a Euro shop, an outlet), 3 stock locations, a "Click & collect" order flow
 *     next to the demo flows, a pick-up shipping method;
 *   - PRODUCTS products (the 50 demo products count) in 20 product groups, VAT 25 % or 12 %, prices, stock per location;
 *   - CUSTOMERS customer accounts (shoppers, and B2B buyers of ~CUSTOMERS/30 companies, some of which approve their
 *     carts), all with one precomputed scrypt hash (password `customer-pass-1`), names, e-mails and addresses;
 *   - ORDERS orders over the last three years (more recent ones denser, ids rising with time), 1–6 lines each (no
 *     product twice), by registered customers (75 %) and guests, in all shops; plus ~5 % carts (anonymous baskets,
 *     named carts, B2B approval states) and ~1 % quotes, all in states of their flows;
 *   - totals computed by the app's own priceOrder (lines, VAT per rate, vouchers, shipping fee free above the
 *     threshold, invoice fee; minor units) and stored with their snapshot (orders.totals), as checkout does;
 *   - states by age (new ones New/Received/Picked, old ones Completed/Cancelled), capture states that follow the
 *     shipments like the payment desk does (card: not captured → split captured per partial shipment → captured;
 *     invoice and imported: not supported; some refunds, cancelled authorizations), shipments with shipment lines and
 *     shipped quantities (shipped / partly shipped), payment transactions, order history (placed, state changes,
 *     imported), imported orders (channel + external id), abandoned checkouts (not completed), deleted orders,
 *     exported flags, and recurring series whose occurrences are orders on their schedule (with their runs).
 *
 * Random but reproducible (SEED): every record is derived from (SEED, its position), so each table is written in its
 * own pass over the same timeline. Secondary indexes and foreign keys of the big tables are dropped for the load and
 * recreated from their own definitions afterwards (which validates every foreign key and unique index again); check
 * constraints stay on during the load. Ends with VACUUM ANALYZE. Prints the time per table, rows/s and the total.
 *
 * Used by bench/order-list.bench.ts through generateData().
 */
import { once } from 'node:events';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { hashPassword } from '../src/accounts/password';
import { priceOrder, type Totals } from '../src/pricing/pricing';
import { loadConfig } from '../src/config';
import { dueAt, isoDay, occurrenceDate } from '../src/recurring/schedule';
import { allocate, valueOfUnits } from '../src/shipping/shipment.service';
import { benchServer, createBenchDatabase, migrateAndSeed, positiveInt } from './bench-db';

export interface GenerateOptions {
  orders: number;
  customers: number;
  products: number;
  seed: number;
  log?: (line: string) => void;
}

export interface TableTiming { table: string; rows: number; ms: number }
export interface GenerateReport { tables: TableTiming[]; indexesMs: number; foreignKeysMs: number; analyzeMs: number; totalMs: number; sizeBytes: number }

// ---------------------------------------------------------------------------------------------------------
// Word lists

/** 20 × 10 street names (so a fragment like "sebærvej 12" is a realistic, selective search). */
export const STREET_HEADS = ['Kirsebær', 'Blåbær', 'Hindbær', 'Solsikke', 'Egeskov', 'Birke', 'Lærke', 'Mølle', 'Strand', 'Skov', 'Bakke', 'Enge',
  'Kastanje', 'Rose', 'Lind', 'Hassel', 'Pile', 'Æble', 'Kløver', 'Havre'];
export const STREET_TAILS = ['vej', 'gade', 'allé', 'stræde', 'park', 'toften', 'høj', 'vænget', 'bakken', 'haven'];
const EU_STREETS = ['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Lindenallee', 'Kerkstraat', 'Dorpsstraat', 'Storgatan', 'Kungsgatan',
  'Rue de la Paix', 'Via Roma'];
const FIRST = ['Anna', 'Bo', 'Clara', 'Dan', 'Emma', 'Frederik', 'Gitte', 'Hans', 'Ida', 'Jens', 'Karen', 'Lars', 'Mette', 'Niels', 'Olga',
  'Peter', 'Rikke', 'Søren', 'Tina', 'Ulrik', 'Vibeke', 'William', 'Yrsa', 'Zenia', 'Aksel', 'Birgit', 'Carl', 'Dorte', 'Erik', 'Frida',
  'Gustav', 'Hanne', 'Ib', 'Jytte', 'Kim', 'Lene', 'Mads', 'Nina', 'Ole', 'Pia', 'Rasmus', 'Sofie', 'Troels', 'Ulla', 'Viggo', 'Alma',
  'Bent', 'Cecilie', 'Dennis', 'Ella'];
const LAST = ['Jensen', 'Nielsen', 'Hansen', 'Pedersen', 'Andersen', 'Christensen', 'Larsen', 'Sørensen', 'Rasmussen', 'Jørgensen',
  'Petersen', 'Madsen', 'Kristensen', 'Olsen', 'Thomsen', 'Christiansen', 'Poulsen', 'Johansen', 'Møller', 'Mortensen', 'Knudsen',
  'Jakobsen', 'Mikkelsen', 'Olesen', 'Frederiksen', 'Laursen', 'Henriksen', 'Lund', 'Holm', 'Schmidt', 'Eriksen', 'Kristiansen',
  'Clausen', 'Simonsen', 'Svendsen', 'Andreasen', 'Iversen', 'Østergaard', 'Jeppesen', 'Vestergaard', 'Nissen', 'Lauridsen', 'Kjær',
  'Jespersen', 'Mogensen', 'Nørgaard', 'Jepsen', 'Frandsen', 'Søndergaard', 'Bach'];
const DK_CITIES: [string, string][] = [['1050', 'København K'], ['8000', 'Aarhus C'], ['5000', 'Odense C'], ['9000', 'Aalborg'], ['6700', 'Esbjerg'],
  ['8900', 'Randers C'], ['6000', 'Kolding'], ['8700', 'Horsens'], ['7100', 'Vejle'], ['4000', 'Roskilde'], ['7400', 'Herning'], ['2970', 'Hørsholm'],
  ['8600', 'Silkeborg'], ['4700', 'Næstved'], ['7000', 'Fredericia'], ['8800', 'Viborg'], ['4600', 'Køge'], ['7500', 'Holstebro'],
  ['2630', 'Taastrup'], ['4200', 'Slagelse'], ['2100', 'København Ø'], ['2200', 'København N'], ['2300', 'København S'], ['2800', 'Kongens Lyngby']];
const EU_CITIES: [string, string, string][] = [['10115', 'Berlin', 'DE'], ['20095', 'Hamburg', 'DE'], ['80331', 'München', 'DE'], ['24103', 'Kiel', 'DE'],
  ['1012', 'Amsterdam', 'NL'], ['3011', 'Rotterdam', 'NL'], ['111 20', 'Stockholm', 'SE'], ['211 20', 'Malmö', 'SE'], ['0150', 'Oslo', 'NO'],
  ['00100', 'Helsinki', 'FI']];
const MAIL_DOMAINS = ['example.dk', 'mail.test', 'post.example', 'inbox.test', 'webmail.example', 'firma.test'];
const COMPANY_WORDS = ['Nordic', 'Dansk', 'Vest', 'Øst', 'Fjord', 'Kyst', 'Hav', 'Skov', 'Nord', 'Syd', 'Alfa', 'Polar', 'Viking', 'Lys', 'Grøn', 'Blå'];
const COMPANY_KINDS = ['Retail', 'Kontor', 'Handel', 'Byg', 'Kaffe', 'Café', 'Service', 'Logistik', 'Design', 'Data', 'Invest', 'Køkken'];
const COMPANY_FORMS = ['A/S', 'ApS', 'I/S', 'GmbH', 'AB'];
const COMMENTS = ['Please leave the parcel at the back door', 'Ring the bell twice', 'Deliver to the reception', 'Gift wrap, please',
  'Call before delivery', 'Leave with the neighbour at no. 3'];
const CART_NAMES = ['Office supplies', 'Kitchen refill', 'Monthly order', 'Christmas gifts', 'Spare parts', 'For approval', 'Canteen', 'Summer house'];

const ADJECTIVES = ['Classic', 'Premium', 'Organic', 'Compact', 'Deluxe', 'Nordic', 'Eco', 'Pro', 'Mini', 'Large', 'Vintage', 'Smart', 'Soft',
  'Heavy-duty', 'Travel', 'Family'];
/** Product groups beyond the four demo groups: slug, name, VAT rate, unit, nouns. */
const EXTRA_GROUPS: { slug: string; name: string; vat: number; unit: string; nouns: string[] }[] = [
  { slug: 'tea', name: 'Tea', vat: 1200, unit: 'pack', nouns: ['Black tea', 'Herbal tea', 'White tea', 'Mint tea', 'Ginger tea'] },
  { slug: 'snacks', name: 'Snacks', vat: 1200, unit: 'pack', nouns: ['Dark chocolate', 'Almonds', 'Licorice', 'Crispbread', 'Oat biscuits'] },
  { slug: 'bakery', name: 'Bakery', vat: 1200, unit: 'pcs', nouns: ['Rye bread', 'Sourdough starter', 'Baking paper', 'Bread tin', 'Flour'] },
  { slug: 'garden', name: 'Garden', vat: 2500, unit: 'pcs', nouns: ['Garden hose', 'Plant pot', 'Pruning shears', 'Watering can', 'Seed tray'] },
  { slug: 'tools', name: 'Tools', vat: 2500, unit: 'pcs', nouns: ['Screwdriver set', 'Hammer', 'Spirit level', 'Tape measure', 'Cordless drill'] },
  { slug: 'cleaning', name: 'Cleaning', vat: 2500, unit: 'pcs', nouns: ['Dish brush', 'Microfibre cloth', 'Mop', 'Soap refill', 'Broom'] },
  { slug: 'textiles', name: 'Textiles', vat: 2500, unit: 'pcs', nouns: ['Tea towel', 'Wool blanket', 'Cushion cover', 'Bath towel', 'Table runner'] },
  { slug: 'lighting', name: 'Lighting', vat: 2500, unit: 'pcs', nouns: ['Pendant lamp', 'LED bulb', 'Floor lamp', 'Candle holder', 'Wall light'] },
  { slug: 'storage', name: 'Storage', vat: 2500, unit: 'pcs', nouns: ['Storage box', 'Shelf unit', 'Wire basket', 'Coat rack', 'Drawer divider'] },
  { slug: 'toys', name: 'Toys', vat: 2500, unit: 'pcs', nouns: ['Wooden train', 'Puzzle', 'Building blocks', 'Board game', 'Plush bear'] },
  { slug: 'books', name: 'Books', vat: 2500, unit: 'pcs', nouns: ['Cookbook', 'Notebook', 'Atlas', 'Sketchbook', 'Calendar'] },
  { slug: 'sports', name: 'Sports', vat: 2500, unit: 'pcs', nouns: ['Yoga mat', 'Jump rope', 'Kettlebell', 'Running belt', 'Foam roller'] },
  { slug: 'pets', name: 'Pets', vat: 2500, unit: 'pcs', nouns: ['Dog leash', 'Cat bed', 'Pet bowl', 'Chew toy', 'Grooming brush'] },
  { slug: 'bath', name: 'Bath', vat: 2500, unit: 'pcs', nouns: ['Soap dish', 'Shower caddy', 'Bath mat', 'Toothbrush holder', 'Laundry basket'] },
  { slug: 'electronics', name: 'Electronics', vat: 2500, unit: 'pcs', nouns: ['USB charger', 'Headphones', 'Power bank', 'Desk fan', 'Cable organizer'] },
  { slug: 'paper', name: 'Paper', vat: 2500, unit: 'pack', nouns: ['Envelopes', 'Gift wrap', 'Printer paper', 'Index cards', 'Labels'] },
];
const VARIANTS = ['', ' S', ' M', ' L', ' XL', ' 2-pack', ' 500 g', ' 1 kg', ' black', ' white', ' oak', ' steel', ' green', ' blue'];

// ---------------------------------------------------------------------------------------------------------
// Reproducible randomness: every record gets its own generator from (seed, stream, position).

function mix32(a: number): number {
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  return (a ^ (a >>> 16)) >>> 0;
}

class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  between(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  /** An index by weights (need not add up to 1). */
  weighted(ws: readonly number[]): number {
    let total = 0;
    for (const w of ws) total += w;
    let x = this.next() * total;
    for (let i = 0; i < ws.length; i++) { x -= ws[i]; if (x < 0) return i; }
    return ws.length - 1;
  }
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += (this.int(0x10000000) + 0x10000000).toString(16).slice(1);
    return s.slice(0, n);
  }
}

const STREAM = { customer: 1, record: 2, product: 3, company: 4, series: 5, event: 6 } as const;
function rngFor(seed: number, stream: number, k: number): Rng {
  return new Rng(mix32(mix32(seed ^ Math.imul(stream, 0x9e3779b9)) ^ mix32(k + 0x1234567)));
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
/** A multiplier coprime to n, so (i × m) mod n is a permutation of 0 … n − 1. */
function coprime(n: number, start: number): number {
  let m = start;
  while (gcd(m, n) !== 1) m++;
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// COPY text format

/** Escapes a value for COPY … FROM STDIN (text format): null is \N; backslash, tab, CR and LF are escaped. */
function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}
const row = (vals: (string | number | boolean | null | undefined)[]) => vals.map(cell).join('\t') + '\n';
const ts = (ms: number) => new Date(ms).toISOString();

/** Streams rows into `table` with COPY; writes in ~512 KB chunks and waits whenever the connection's buffer is full. */
async function copyInto(client: pg.Client, table: string, columns: string[], rows: Iterable<string>): Promise<number> {
  const stream = client.query(copyFrom(`copy ${table} (${columns.join(', ')}) from stdin`));
  let failed: Error | undefined;
  stream.on('error', (e: Error) => { failed = e; });
  const done = new Promise<void>((resolve, reject) => { stream.on('finish', resolve); stream.on('error', reject); });
  let chunk = '';
  let n = 0;
  for (const r of rows) {
    chunk += r;
    n++;
    if (chunk.length >= 1 << 19) {
      if (failed) break;
      const ok = stream.write(chunk);
      chunk = '';
      if (!ok) await Promise.race([once(stream, 'drain'), done]);
    }
  }
  if (failed) throw failed;
  stream.end(chunk);
  await done;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// The reference data the records refer to (read back from the database after the setup step)

interface ProductRef { id: number; number: string; name: string; priceMinor: number; vatRateBp: number; unit: string }
interface ShopRef { id: string; prefix: string; next: number; cartPrefix: string; currencyCode: string; currencyName: string; currencyRate: string; rate: number; vatBp: number }
interface MethodRef { id: number; code: string; feeMinor: number; freeAboveMinor: number | null; name: string }

interface World {
  seed: number;
  now: number;
  t0: number;
  span: number;
  orders: number;
  customers: number;
  /** Records (orders, carts, quotes) the timeline is expected to hold, for the time scale. */
  expected: number;
  shops: ShopRef[];
  products: ProductRef[];
  productMul: number;
  locations: number[];
  shipping: { standard: MethodRef; express: MethodRef; pickup: MethodRef };
  payment: { card: MethodRef; invoice: MethodRef };
  vouchers: { code: string; kind: 'percent' | 'amount'; value: number }[];
  orderStates: Record<string, number>;
  pickupStates: Record<string, number>;
  cartOpen: number;
  b2bCartStates: Record<string, number>;
  quoteStates: Record<string, number>;
  firstUserId: number;
  firstCompanyId: number;
  companies: number;
  /** Companies (0-based) whose carts go through the B2B approval flow. */
  approvalCompany: (company: number) => boolean;
  adminId: number;
  cartStart: number;
  quoteStart: number;
  seriesStart: number;
  series: SeriesPlan[];
  /** Timeline positions claimed by a recurring series: the template order or an occurrence. */
  claims: Map<number, Claim>;
}

interface Claim { series: number; occurrence: number | null; at: number }

const DAY = 864e5;

// ---------------------------------------------------------------------------------------------------------
// Customers (registered ones are users; guests use indexes past the registered ones)

interface Customer {
  index: number;
  registered: boolean;
  name: string;
  email: string;
  phone: string;
  company: number | null;
  billingCompany: string;
  address: string;
  address2: string;
  zip: string;
  city: string;
  country: string;
  shop: number;
  delivery: null | { name: string; company: string; address: string; zip: string; city: string; country: string; phone: string };
}

const ascii = (s: string) => s.toLowerCase().replace(/æ/g, 'ae').replace(/ø/g, 'oe').replace(/å/g, 'aa').replace(/[^a-z0-9]/g, '');

function companyName(w: { seed: number }, c: number): string {
  const r = rngFor(w.seed, STREAM.company, c);
  return `${r.pick(COMPANY_WORDS)} ${r.pick(COMPANY_KINDS)} ${r.pick(COMPANY_FORMS)}`;
}

function customerAt(w: World, c: number): Customer {
  const r = rngFor(w.seed, STREAM.customer, c);
  const registered = c < w.customers;
  const first = r.pick(FIRST);
  const last = r.pick(LAST);
  const shop = r.weighted([70, 20, 10]);
  const eu = shop === 1;
  const buyer = registered && c % 10 === 0 && w.companies > 0;
  const company = buyer ? Math.floor(c / 10) % w.companies : null;
  const street = eu ? r.pick(EU_STREETS) : r.pick(STREET_HEADS) + r.pick(STREET_TAILS);
  const place = eu ? r.pick(EU_CITIES) : (() => { const [z, city] = r.pick(DK_CITIES); return [z, city, 'DK'] as const; })();
  const number = r.between(1, 200);
  const domain = company != null ? `${ascii(companyName(w, company)).slice(0, 12)}.test` : r.pick(MAIL_DOMAINS);
  const email = registered ? `${ascii(first)}.${ascii(last)}${c}@${domain}` : `${ascii(first)}${ascii(last)}.${c}@${domain}`;
  const billingCompany = company != null ? companyName(w, company) : r.chance(0.05) ? companyName(w, w.companies + c) : '';
  const phone = eu ? `+49 ${r.between(150, 179)} ${r.between(1000000, 9999999)}` : `+45 ${r.between(20, 99)} ${r.between(10, 99)} ${r.between(10, 99)} ${r.between(10, 99)}`;
  let delivery: Customer['delivery'] = null;
  if (r.chance(0.15)) {
    const dPlace = eu ? r.pick(EU_CITIES) : (() => { const [z, city] = r.pick(DK_CITIES); return [z, city, 'DK'] as const; })();
    delivery = {
      name: r.chance(0.5) ? `${first} ${last}` : `${r.pick(FIRST)} ${r.pick(LAST)}`,
      company: company != null ? billingCompany : '',
      address: `${eu ? r.pick(EU_STREETS) : r.pick(STREET_HEADS) + r.pick(STREET_TAILS)} ${r.between(1, 200)}`,
      zip: dPlace[0], city: dPlace[1], country: dPlace[2], phone: '',
    };
  }
  return {
    index: c, registered, name: `${first} ${last}`, email, phone, company, billingCompany,
    address: eu ? `${street} ${number}` : `${street} ${number}`, address2: r.chance(0.1) ? `${r.between(1, 5)}. ${r.pick(['th', 'tv', 'mf'])}` : '',
    zip: place[0], city: place[1], country: place[2], shop, delivery,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Recurring series: planned up front, so their template orders and occurrences can be placed on the timeline.

interface SeriesPlan {
  index: number;
  customer: number;
  unit: 'week' | 'month';
  count: number;
  startDate: string;
  status: 'active' | 'paused' | 'cancelled' | 'finished';
  maxOccurrences: number | null;
  /** Occurrence times (due dates, as ms) of the orders created so far. */
  occurrences: number[];
  nextDue: number | null;
  templateAt: number;
  lines: { product: number; quantity: number }[];
}

/** The timeline position whose natural time is `t` (inverse of timeAt). */
function positionAt(w: World, t: number): number {
  const f = Math.min(1, Math.max(0, (t - w.t0) / w.span));
  return Math.floor(Math.pow(f, 1 / TIME_EXPONENT) * w.expected);
}
/** Later years are busier: the n-th record's time grows like n^0.8. */
const TIME_EXPONENT = 0.8;
function timeAt(w: World, k: number, r: Rng): number {
  const gap = w.span / w.expected;
  const f = Math.min(1, k / w.expected);
  return Math.min(w.now - 60_000, Math.floor(w.t0 + w.span * Math.pow(f, TIME_EXPONENT) + r.next() * gap));
}

/** Kinds by position: of every 106 records, 100 are orders, 5 carts and 1 a quote. */
function kindAt(k: number): 'order' | 'cart' | 'quote' {
  const m = k % 106;
  return m < 100 ? 'order' : m < 105 ? 'cart' : 'quote';
}

function planSeries(w: World): void {
  const n = Math.max(1, Math.round(w.orders / 2000));
  const limit = w.expected - 2 * 106;
  const taken = new Set<number>();
  const claim = (t: number, series: number, occurrence: number | null) => {
    let k = positionAt(w, t);
    while (kindAt(k) !== 'order' || taken.has(k)) k++;
    taken.add(k);
    w.claims.set(k, { series, occurrence, at: t });
  };
  for (let s = 0; s < n; s++) {
    const r = rngFor(w.seed, STREAM.series, s);
    const customer = Math.floor(r.next() * w.customers);
    const unit = r.chance(0.6) ? 'month' : 'week';
    const count = unit === 'month' ? r.pick([1, 1, 1, 2, 3]) : r.pick([1, 2, 2, 4]);
    const templateAt = w.t0 + 10 * DAY + r.next() * (w.span - 40 * DAY);
    const startDate = isoDay(new Date(templateAt + r.between(2, 20) * DAY));
    const lines: SeriesPlan['lines'] = [];
    const nLines = r.between(1, 4);
    while (lines.length < nLines) {
      const product = productPick(w, r);
      if (!lines.some((l) => l.product === product)) lines.push({ product, quantity: r.between(1, 6) });
    }
    const kind = r.weighted([60, 5, 20, 15]);
    const status = (['active', 'paused', 'cancelled', 'finished'] as const)[kind];
    const sched = { intervalUnit: unit, intervalCount: count, startDate } as const;
    const stopAt = status === 'cancelled' ? Date.parse(`${startDate}T00:00:00Z`) + r.next() * (w.now - Date.parse(`${startDate}T00:00:00Z`)) : w.now;
    let maxOccurrences: number | null = null;
    const occurrences: number[] = [];
    for (let i = 0; ; i++) {
      const due = dueAt(sched, i).getTime();
      if (due >= stopAt - DAY) break;
      occurrences.push(due);
    }
    // Occurrences must land on the timeline (the last day's positions may not be reached with few orders).
    while (occurrences.length && positionAt(w, occurrences[occurrences.length - 1]) >= limit) occurrences.pop();
    let st: SeriesPlan['status'] = status;
    if (status === 'finished') {
      // Finished: its last occurrence (max_occurrences) is behind us; one without any is still running.
      if (occurrences.length) {
        maxOccurrences = Math.min(occurrences.length, r.between(2, 12));
        occurrences.length = maxOccurrences;
      } else st = 'active';
    }
    const nextDue = st === 'active' || st === 'paused' ? dueAt(sched, occurrences.length).getTime() : null;
    const plan: SeriesPlan = { index: s, customer, unit, count, startDate, status: st, maxOccurrences: st === 'finished' ? maxOccurrences : null, occurrences, nextDue, templateAt, lines };
    w.series.push(plan);
    claim(templateAt, s, null);
    occurrences.forEach((due, i) => claim(due + 6 * 60_000 + r.int(3_600_000), s, i));
  }
}

function productPick(w: World, r: Rng): number {
  // Popularity is skewed (a few products sell a lot); rank → product through a permutation.
  const rank = Math.floor(Math.pow(r.next(), 2.2) * w.products.length);
  return (rank * w.productMul + 17) % w.products.length;
}

// ---------------------------------------------------------------------------------------------------------
// One record of the timeline, with every table's rows derivable from it

interface LinePlan { id: number; product: ProductRef; quantity: number; unitPriceMinor: number; vatRateBp: number; discountMinor: number; shipped: number; location: number | null }
interface ShipmentPlan { id: number; no: number; at: number; lines: { line: LinePlan; quantity: number; valueMinor: number }[]; itemsValueMinor: number; capturedMinor: number; includesFee: boolean; isLast: boolean; tracking: string }
interface PaymentEvent { operation: 'authorize' | 'capture' | 'cancel' | 'refund'; amountMinor: number; message: string; reference: string; at: number }
interface HistoryEvent { event: string; message: string; from: number | null; to: number | null; actor: number | null; kind: string; source: string; at: number }

interface Rec {
  k: number;
  id: number;
  kind: 'order' | 'cart' | 'quote';
  number: string;
  shop: ShopRef;
  customer: Customer | null;
  userId: number | null;
  companyId: number | null;
  anonymousToken: string | null;
  basketStatus: 'basket' | 'saved' | null;
  name: string;
  stateId: number;
  /** The standard-flow state the order is in, or stands for (Click & collect: Picked, Completed, Cancelled). */
  stateName: string;
  completed: boolean;
  completedAt: number | null;
  checkoutStep: string;
  deleted: boolean;
  createdAt: number;
  updatedAt: number;
  lines: LinePlan[];
  shipping: MethodRef | null;
  payment: MethodRef | null;
  voucherCode: string;
  orderDiscountMinor: number;
  totals: Totals;
  captureState: string | null;
  paymentStatus: string;
  capturedMinor: number;
  refundedMinor: number;
  transactionNumber: string;
  cardType: string;
  cardLast4: string;
  stockReserved: boolean;
  customerComment: string;
  staffComment: string;
  shipmentStatus: 'not_shipped' | 'partly_shipped' | 'shipped';
  shippingFeeCaptured: boolean;
  imported: boolean;
  channel: string | null;
  integrationOrderId: string | null;
  exported: boolean;
  recurringSeriesId: number | null;
  quote: null | { expiresOn: string | null; offeredAt: number | null; answer: string | null; rejectReason: string; message: string };
  quoteNumber: string | null;
  ip: string;
  shipments: ShipmentPlan[];
  payments: PaymentEvent[];
  history: HistoryEvent[];
}

const CHANNELS = ['Marketplace', 'ERP', 'B2B portal'];

/** The state an order is in by its age (days), in the standard order flow. */
function orderStateByAge(r: Rng, ageDays: number): string {
  const names = ['New', 'Received', 'Picked', 'Shipped', 'Completed', 'Cancelled'];
  const w = ageDays < 2 ? [55, 30, 8, 3, 0, 4] : ageDays < 7 ? [8, 25, 25, 32, 5, 5] : ageDays < 30 ? [1, 4, 6, 35, 49, 5] : ageDays < 90 ? [0.3, 0.7, 1, 8, 84, 6] : [0.1, 0.2, 0.2, 1.5, 92, 6];
  return names[r.weighted(w)];
}
const PATH = ['New', 'Received', 'Picked', 'Shipped', 'Completed'];

/** Walks the timeline: every pass creates its own, and sees the same records with the same ids. */
class Timeline {
  private orderNext: number[];
  private cartNext: number;
  private quoteNext: number;
  private lineId: number;
  private shipmentId: number;
  private baskets = 0;
  private readonly basketMul: number;
  readonly templates = new Map<number, { id: number; number: string; createdAt: number; userId: number | null; companyId: number | null; shopId: string }>();
  readonly occurrences: { series: number; occurrence: number; due: number; orderId: number; at: number }[] = [];
  readonly importedCount = new Map<string, number>();

  constructor(private readonly w: World, private readonly firstId: number, firstLineId: number, firstShipmentId: number) {
    this.orderNext = w.shops.map((s) => s.next);
    this.cartNext = w.cartStart;
    this.quoteNext = w.quoteStart;
    this.lineId = firstLineId;
    this.shipmentId = firstShipmentId;
    this.basketMul = coprime(w.customers, 7919);
  }

  get nextOrderNumbers(): number[] { return this.orderNext; }
  get nextCartNumber(): number { return this.cartNext; }
  get nextQuoteNumber(): number { return this.quoteNext; }

  *records(): Generator<Rec> {
    let orders = 0;
    for (let k = 0; orders < this.w.orders; k++) {
      const kind = kindAt(k);
      if (kind === 'order') orders++;
      yield this.recordAt(k, kind);
    }
  }

  private recordAt(k: number, kind: Rec['kind']): Rec {
    const w = this.w;
    const r = rngFor(w.seed, STREAM.record, k);
    const claim = kind === 'order' ? w.claims.get(k) : undefined;
    const series = claim ? w.series[claim.series] : undefined;
    const createdAt = claim ? Math.min(w.now - 60_000, Math.floor(claim.at)) : timeAt(w, k, r);
    const ageDays = (w.now - createdAt) / DAY;

    // Who: a registered customer (skewed: some order often), a guest, or nobody (anonymous carts, abandoned checkouts).
    let customer: Customer | null;
    if (series) customer = customerAt(w, series.customer);
    else if (kind === 'quote' || r.chance(0.75)) customer = customerAt(w, Math.floor(Math.pow(r.next(), 1.3) * w.customers));
    else customer = customerAt(w, w.customers + r.int(w.customers * 2));
    const rec: Rec = {
      k, id: this.firstId + k, kind, number: '', shop: w.shops[customer.shop], customer, userId: null, companyId: null,
      anonymousToken: null, basketStatus: null, name: '', stateId: 0, stateName: '', completed: false, completedAt: null, checkoutStep: 'cart', deleted: false,
      createdAt, updatedAt: createdAt, lines: [], shipping: null, payment: null, voucherCode: '', orderDiscountMinor: 0,
      totals: undefined as unknown as Totals, captureState: null, paymentStatus: 'none', capturedMinor: 0, refundedMinor: 0, transactionNumber: '',
      cardType: '', cardLast4: '', stockReserved: false, customerComment: '', staffComment: '', shipmentStatus: 'not_shipped',
      shippingFeeCaptured: false, imported: false, channel: null, integrationOrderId: null, exported: false, recurringSeriesId: null,
      quote: null, quoteNumber: null, ip: '', shipments: [], payments: [], history: [],
    };
    if (customer.registered) {
      rec.userId = w.firstUserId + customer.index;
      rec.companyId = customer.company != null ? w.firstCompanyId + customer.company : null;
    }
    const shop = rec.shop;
    const eur = shop.rate !== 1;
    const price = (p: ProductRef) => (eur ? Math.max(1, Math.round(p.priceMinor / shop.rate)) : p.priceMinor);

    // Lines: 1–6 (fewer for carts), no product twice.
    const nLines = series ? series.lines.length : kind === 'cart' ? 1 + r.weighted([45, 30, 15, 10]) : 1 + r.weighted([35, 25, 17, 11, 7, 5]);
    const picked = new Set<number>();
    for (let i = 0; i < nLines; i++) {
      let idx: number;
      let quantity: number;
      if (series) {
        idx = series.lines[i].product;
        quantity = series.lines[i].quantity;
      } else {
        do idx = productPick(w, r); while (picked.has(idx));
        quantity = rec.companyId != null ? r.pick([1, 2, 5, 10, 12, 20, 24]) : 1 + r.weighted([62, 20, 8, 4, 3, 3]);
      }
      picked.add(idx);
      const p = w.products[idx];
      rec.lines.push({ id: 0, product: p, quantity, unitPriceMinor: price(p), vatRateBp: p.vatRateBp, discountMinor: 0, shipped: 0, location: null });
    }

    if (kind === 'cart') this.fillCart(rec, r);
    else if (kind === 'quote') this.fillQuote(rec, r, ageDays);
    else this.fillOrder(rec, r, ageDays, claim, series);

    for (const l of rec.lines) l.id = this.lineId++;
    const scale = (m: MethodRef | null) => (m && eur ? { feeMinor: Math.round(m.feeMinor / shop.rate), freeAboveMinor: m.freeAboveMinor == null ? null : Math.round(m.freeAboveMinor / shop.rate) } : m);
    const voucher = w.vouchers.find((v) => v.code === rec.voucherCode);
    rec.totals = priceOrder({
      lines: rec.lines,
      shipping: scale(rec.shipping),
      paymentFeeMinor: rec.payment ? (eur ? Math.round(rec.payment.feeMinor / shop.rate) : rec.payment.feeMinor) : 0,
      feeVatRateBp: shop.vatBp,
      voucher: voucher ? { kind: voucher.kind, value: eur && voucher.kind === 'amount' ? Math.round(voucher.value / shop.rate) : voucher.value } : null,
      orderDiscountMinor: rec.orderDiscountMinor,
    });
    if (kind === 'order' && rec.completed) this.fillPaymentAndShipping(rec, r);
    rec.updatedAt = Math.max(rec.updatedAt, rec.completedAt ?? 0, ...rec.history.map((h) => h.at), ...rec.shipments.map((s) => s.at));
    return rec;
  }

  private fillCart(rec: Rec, r: Rng): void {
    const w = this.w;
    rec.number = `${rec.shop.cartPrefix}${this.cartNext++}`;
    rec.checkoutStep = 'cart';
    const c = rec.customer!;
    if (r.chance(0.4) || this.baskets >= w.customers) {
      // An anonymous basket: no user, a cookie token.
      rec.userId = null;
      rec.companyId = null;
      rec.customer = null;
      rec.anonymousToken = uuid(r);
      rec.basketStatus = 'basket';
      rec.stateId = w.cartOpen;
    } else {
      if (r.chance(0.5) || !c.registered) {
        // A user's basket: each user gets at most one (orders_one_basket_per_user), so users are taken in a permuted order.
        const u = (this.baskets++ * this.basketMul + 11) % w.customers;
        const owner = customerAt(w, u);
        rec.customer = owner;
        rec.userId = w.firstUserId + u;
        rec.companyId = owner.company != null ? w.firstCompanyId + owner.company : null;
        rec.basketStatus = 'basket';
      } else {
        rec.basketStatus = 'saved';
        rec.name = `${r.pick(CART_NAMES)} ${r.between(1, 12)}`;
      }
      const company = rec.customer!.company;
      if (company != null && w.approvalCompany(company)) {
        rec.stateId = w.b2bCartStates[r.pick(['New', 'New', 'Submitted for approval', 'Approved', 'Rejected'])];
      } else rec.stateId = w.cartOpen;
      if (rec.customer && r.chance(0.3)) fillAddresses(rec);
    }
    rec.updatedAt = rec.createdAt + r.int(3 * DAY);
  }

  private fillQuote(rec: Rec, r: Rng, ageDays: number): void {
    const w = this.w;
    if (!rec.customer!.registered) throw new Error('quotes need a registered customer');
    rec.number = `QUOTE${this.quoteNext++}`;
    fillAddresses(rec);
    const state = ageDays < 3 ? r.pick(['Requested', 'In review', 'Offered']) : ageDays < 30 ? r.pick(['In review', 'Offered', 'Offered', 'Rejected', 'Expired'])
      : r.pick(['Rejected', 'Expired', 'Expired', 'Offered']);
    rec.stateId = w.quoteStates[state];
    rec.customerComment = r.chance(0.6) ? `Quote for ${r.between(2, 40)} pieces, please` : '';
    const offered = state === 'Offered' || state === 'Rejected' || state === 'Expired';
    const offeredAt = offered ? rec.createdAt + r.between(1, 48) * 3_600_000 : null;
    rec.quote = {
      offeredAt, expiresOn: offeredAt ? isoDay(new Date(offeredAt + 30 * DAY)) : null,
      answer: state === 'Rejected' ? 'rejected' : null, rejectReason: state === 'Rejected' ? 'Found a better price' : '',
      message: offered ? 'Thank you for your request. Here is our offer.' : '',
    };
    if (offered && r.chance(0.4)) rec.orderDiscountMinor = r.between(5, 50) * 1000;
    rec.history.push({ event: 'quote_requested', message: `Quote requested from CART${r.between(1, 99999)}.`, from: null, to: w.quoteStates.Requested, actor: rec.userId, kind: 'customer', source: 'frontend', at: rec.createdAt });
    if (state !== 'Requested') rec.history.push({ event: 'state_changed', message: '', from: w.quoteStates.Requested, to: rec.stateId, actor: w.adminId, kind: 'staff', source: 'backend', at: Math.min(w.now - 1000, (offeredAt ?? rec.createdAt + 3_600_000)) });
  }

  private fillOrder(rec: Rec, r: Rng, ageDays: number, claim: Claim | undefined, series: SeriesPlan | undefined): void {
    const w = this.w;
    const shop = rec.shop;
    const idx = w.shops.indexOf(shop);
    fillAddresses(rec);
    rec.shipping = series ? w.shipping.standard : r.chance(0.05) ? w.shipping.pickup : r.chance(0.2) ? w.shipping.express : w.shipping.standard;
    rec.payment = series ? w.payment.invoice : rec.companyId != null ? (r.chance(0.85) ? w.payment.invoice : w.payment.card) : r.chance(0.75) ? w.payment.card : w.payment.invoice;
    if (!series && r.chance(0.06)) rec.voucherCode = r.chance(0.65) ? 'WELCOME10' : 'SAVE50';
    if (!series && r.chance(0.004)) rec.orderDiscountMinor = r.between(1, 20) * 1000;
    if (!series && rec.companyId != null && r.chance(0.03)) rec.quoteNumber = `QUOTE${this.quoteNext++}`;
    rec.customerComment = r.chance(0.05) ? r.pick(COMMENTS) : '';
    rec.ip = `10.${r.int(256)}.${r.int(256)}.${r.between(1, 254)}`;
    rec.number = `${shop.prefix}${this.orderNext[idx]++}`;

    const abandoned = !series && !claim && ageDays > 0.05 && r.chance(0.015);
    if (abandoned) {
      // Checkout started but never placed: still the shopper's (anonymous) basket, red in the order list.
      rec.userId = null;
      rec.companyId = null;
      rec.anonymousToken = uuid(r);
      rec.basketStatus = 'basket';
      rec.stateId = w.orderStates.New;
      rec.checkoutStep = r.pick(['addresses', 'methods', 'review']);
      rec.history.push({ event: 'converted', message: `Cart CART${r.between(1, 999999)} became order ${rec.number} when checkout started.`, from: w.cartOpen, to: w.orderStates.New, actor: null, kind: 'customer', source: 'checkout', at: rec.createdAt });
      return;
    }
    rec.completed = true;
    rec.checkoutStep = 'confirmation';
    rec.completedAt = rec.createdAt + r.between(60, 900) * 1000;
    rec.imported = !series && !claim && r.chance(0.02);
    const pickup = rec.shipping === w.shipping.pickup;
    let stateName = orderStateByAge(r, ageDays);
    if (pickup) {
      const name = ageDays < 3 ? 'Ready for pickup' : r.chance(0.93) ? 'Collected' : 'Not collected';
      rec.stateId = w.pickupStates[name];
      stateName = name === 'Collected' ? 'Completed' : name === 'Not collected' ? 'Cancelled' : 'Picked';
    } else rec.stateId = w.orderStates[stateName];
    rec.stateName = stateName;
    rec.deleted = !series && !claim && r.chance(0.003);
    rec.exported = ageDays > 1 && r.chance(0.35);
    if (series) {
      rec.recurringSeriesId = w.seriesStart + series.index;
      if (claim!.occurrence === null) {
        this.templates.set(series.index, { id: rec.id, number: rec.number, createdAt: rec.createdAt, userId: rec.userId, companyId: rec.companyId, shopId: shop.id });
        rec.recurringSeriesId = null;
      } else {
        const template = this.templates.get(series.index);
        rec.staffComment = `Recurring order from ${template?.number ?? '?'} (series #${w.seriesStart + series.index}).`;
        this.occurrences.push({ series: series.index, occurrence: claim!.occurrence, due: series.occurrences[claim!.occurrence], orderId: rec.id, at: rec.createdAt });
      }
    }
    if (rec.imported) {
      const channel = r.pick(CHANNELS);
      const n = (this.importedCount.get(channel) ?? 0) + 1;
      this.importedCount.set(channel, n);
      rec.channel = channel;
      rec.integrationOrderId = `${channel === 'Marketplace' ? 'MP' : channel === 'ERP' ? 'ERP' : 'B2B'}-${String(100000 + n)}`;
      rec.payment = null;
      rec.shipping = pickup ? w.shipping.standard : rec.shipping;
    }
  }

  /** Payment, shipments and history of a placed order, the way the payment desk and the shipment desk leave them. */
  private fillPaymentAndShipping(rec: Rec, r: Rng): void {
    const w = this.w;
    const t = rec.totals;
    const stateName = rec.stateName;
    const placedAt = rec.completedAt!;
    const horizon = w.now - 60_000;
    const later = (after: number, minH: number, maxH: number) => Math.min(horizon, after + (minH + r.next() * (maxH - minH)) * 3_600_000);

    if (rec.imported) {
      rec.captureState = 'not_supported';
      rec.paymentStatus = 'none';
      rec.history.push({ event: 'imported', message: `Imported from ${rec.channel} (external id ${rec.integrationOrderId}, line ${r.between(2, 5000)} of the file).`,
        from: null, to: rec.stateId, actor: w.adminId, kind: 'staff', source: 'backend', at: placedAt });
      return;
    }
    rec.stockReserved = stateName !== 'Cancelled';
    for (const l of rec.lines) l.location = w.locations[r.weighted([90, 7, 3])];
    const card = rec.payment === w.payment.card;
    const recurring = rec.recurringSeriesId != null;
    if (card) {
      rec.transactionNumber = `SBX-${uuid(r)}`;
      rec.cardType = r.chance(0.7) ? 'Visa' : 'Mastercard';
      rec.cardLast4 = String(r.between(0, 9999)).padStart(4, '0');
      rec.captureState = 'not_captured';
      rec.paymentStatus = 'authorized';
      rec.payments.push({ operation: 'authorize', amountMinor: t.totalMinor, message: 'Approved.', reference: rec.transactionNumber, at: placedAt });
    } else {
      rec.transactionNumber = `INV-${rec.number}`;
      rec.captureState = 'not_supported';
      rec.paymentStatus = 'authorized';
      rec.payments.push({ operation: 'authorize', amountMinor: t.totalMinor, message: 'Invoice will be sent.', reference: rec.transactionNumber, at: placedAt });
    }
    const method = card ? 'Card: Approved.' : 'Invoice: Invoice will be sent.';
    rec.history.push(recurring
      ? { event: 'placed', message: `Recurring order of series #${rec.recurringSeriesId}; ${method}`, from: null, to: w.orderStates.New, actor: null, kind: 'system', source: 'system', at: placedAt }
      : { event: 'placed', message: `Order placed; ${method}`, from: null, to: null, actor: rec.userId, kind: rec.userId ? (rec.companyId ? 'buyer' : 'customer') : 'customer', source: 'checkout', at: placedAt });

    // The state change that brought the order where it is (one entry: from the state before it on the way).
    const pathIndex = PATH.indexOf(stateName);
    const changedAt = later(placedAt, 1, stateName === 'Completed' ? 240 : 72);
    if (rec.stateId !== w.orderStates.New) {
      const from = stateName === 'Cancelled' ? w.orderStates[r.pick(['New', 'Received'])] : rec.stateId === w.pickupStates['Ready for pickup'] ? w.orderStates.New
        : rec.stateId === w.pickupStates.Collected || rec.stateId === w.pickupStates['Not collected'] ? w.pickupStates['Ready for pickup'] : w.orderStates[PATH[Math.max(0, pathIndex - 1)]];
      rec.history.push({ event: 'state_changed', message: '', from, to: rec.stateId, actor: w.adminId, kind: 'staff', source: r.chance(0.3) ? 'bulk' : 'backend', at: changedAt });
    }

    const cancelled = stateName === 'Cancelled';
    if (cancelled) {
      rec.stockReserved = false;
      if (card) {
        rec.paymentStatus = 'cancelled';
        rec.payments.push({ operation: 'cancel', amountMinor: t.totalMinor, message: 'Authorization cancelled.', reference: rec.transactionNumber, at: changedAt });
        rec.history.push({ event: 'payment_cancelled', message: 'Card: Authorization cancelled. Stock put back.', from: null, to: null, actor: w.adminId, kind: 'staff', source: 'backend', at: changedAt });
      }
      return;
    }

    // Card payments captured up front by staff (before anything ships) now and then.
    if (card && (stateName === 'Received' || stateName === 'Picked') && r.chance(0.05)) {
      this.capture(rec, t.totalMinor, later(placedAt, 0.5, 24));
    }

    // Shipments: shipped (one or two), partly shipped (Picked, sometimes), or none yet.
    const shippedAll = stateName === 'Shipped' || stateName === 'Completed';
    const partly = stateName === 'Picked' && rec.stateId === w.orderStates.Picked && r.chance(0.3) && (rec.lines.length > 1 || rec.lines[0].quantity > 1);
    if (rec.shipping === w.shipping.pickup && !shippedAll) return;
    if (shippedAll || partly) {
      const charges = allocate(t.subtotalMinor - t.discountMinor, t.lines.map((l) => l.grossMinor));
      const firstPart = (): { line: LinePlan; index: number; quantity: number }[] => {
        if (rec.lines.length > 1) return rec.lines.slice(0, Math.ceil(rec.lines.length / 2)).map((line, index) => ({ line, index, quantity: line.quantity }));
        return [{ line: rec.lines[0], index: 0, quantity: Math.max(1, Math.floor(rec.lines[0].quantity / 2)) }];
      };
      const rest = () => rec.lines.map((line, index) => ({ line, index, quantity: line.quantity - line.shipped })).filter((p) => p.quantity > 0);
      const twoShipments = shippedAll && (rec.lines.length > 1 || rec.lines[0].quantity > 1) && r.chance(0.12);
      const plan: { at: number; parts: () => { line: LinePlan; index: number; quantity: number }[] }[] = [];
      if (partly) plan.push({ at: changedAt, parts: firstPart });
      else if (twoShipments) plan.push({ at: later(placedAt, 2, 30), parts: firstPart }, { at: changedAt, parts: rest });
      else plan.push({ at: changedAt, parts: rest });
      let no = 0;
      for (const step of plan) {
        const parts = step.parts();
        const lines = parts.map((p) => {
          const valueMinor = valueOfUnits(charges[p.index], p.line.quantity, p.line.shipped, p.quantity);
          p.line.shipped += p.quantity;
          return { line: p.line, quantity: p.quantity, valueMinor };
        });
        const isLast = rec.lines.every((l) => l.shipped === l.quantity);
        const itemsValueMinor = lines.reduce((s, l) => s + l.valueMinor, 0);
        const at = Math.max(step.at, placedAt + 60_000);
        let capturedMinor = 0;
        let includesFee = false;
        if (card && rec.captureState !== 'captured') {
          const left = t.totalMinor - rec.capturedMinor;
          const amount = isLast ? left : Math.min(itemsValueMinor, left);
          includesFee = isLast && !rec.shippingFeeCaptured && t.shippingFeeInclVatMinor > 0 && amount > 0;
          if (amount > 0) { this.capture(rec, amount, at); capturedMinor = amount; }
        }
        if (includesFee) rec.shippingFeeCaptured = true;
        const tracking = r.chance(0.8) ? `GLS${r.between(10000000, 99999999)}` : '';
        rec.shipments.push({ id: this.shipmentId++, no: ++no, at, lines, itemsValueMinor, capturedMinor, includesFee, isLast, tracking });
        rec.shipmentStatus = isLast ? 'shipped' : 'partly_shipped';
        rec.history.push({ event: 'shipment_created', message: `Shipment ${no}: ${lines.map((l) => `${l.quantity} × ${l.line.product.number}`).join(', ')}.${tracking ? ` Tracking number ${tracking}.` : ''}`,
          from: null, to: null, actor: w.adminId, kind: 'staff', source: 'backend', at });
      }
    }

    // Refunds on some completed card orders.
    if (card && stateName === 'Completed' && rec.capturedMinor > 0 && r.chance(0.015)) {
      const amount = r.chance(0.3) ? rec.capturedMinor : Math.max(1, Math.floor(rec.capturedMinor * (0.1 + r.next() * 0.5)));
      rec.refundedMinor = amount;
      rec.paymentStatus = amount === rec.capturedMinor ? 'refunded' : 'partly_refunded';
      const at = later(changedAt, 24, 24 * 20);
      rec.payments.push({ operation: 'refund', amountMinor: amount, message: 'Refunded.', reference: rec.transactionNumber, at });
      rec.history.push({ event: 'payment_refunded', message: `Card: refunded ${amount / 100} ${rec.shop.currencyCode}.`, from: null, to: null, actor: w.adminId, kind: 'staff', source: 'backend', at });
    }
  }

  private capture(rec: Rec, amount: number, at: number): void {
    rec.capturedMinor += amount;
    rec.captureState = rec.capturedMinor === rec.totals.totalMinor ? 'captured' : 'split_captured';
    rec.payments.push({ operation: 'capture', amountMinor: amount, message: 'Captured.', reference: rec.transactionNumber, at });
    rec.history.push({ event: 'payment_captured', message: `Captured ${amount / 100} ${rec.shop.currencyCode}${rec.captureState === 'captured' ? '; the order is fully captured' : ' (split capture)'}.`,
      from: null, to: null, actor: this.w.adminId, kind: 'staff', source: 'backend', at });
  }
}

function uuid(r: Rng): string {
  const h = r.hex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Billing (and, for some customers, a separate delivery) address from the customer's profile. */
function fillAddresses(rec: Rec): void {
  const c = rec.customer;
  if (!c) return;
  (rec as RecAddresses).addr = c;
}
type RecAddresses = Rec & { addr?: Customer };

// ---------------------------------------------------------------------------------------------------------
// Rows per table

const ORDER_COLUMNS = ['id', 'number', 'shop_id', 'type', 'basket_status', 'name', 'user_id', 'company_id', 'anonymous_token', 'state_id', 'completed',
  'completed_at', 'checkout_step', 'deleted', 'version', 'billing_name', 'billing_company', 'billing_address', 'billing_address2', 'billing_zip',
  'billing_city', 'billing_country', 'billing_region', 'billing_phone', 'billing_email', 'delivery_same_as_billing', 'delivery_name', 'delivery_company',
  'delivery_address', 'delivery_address2', 'delivery_zip', 'delivery_city', 'delivery_country', 'delivery_region', 'delivery_phone', 'delivery_email',
  'shipping_method_id', 'payment_method_id', 'voucher_code', 'customer_comment', 'staff_comment', 'currency_code', 'currency_name', 'currency_rate',
  'shipping_fee_minor', 'payment_fee_minor', 'discount_minor', 'subtotal_minor', 'total_excl_vat_minor', 'vat_minor', 'total_minor', 'totals',
  'capture_state', 'payment_status', 'captured_minor', 'refunded_minor', 'transaction_number', 'card_type', 'card_last4', 'stock_reserved', 'ip',
  'price_calculation_date', 'created_at', 'updated_at', 'order_discount_minor', 'quote_expires_on', 'quote_message', 'quote_offered_at', 'quote_answer',
  'quote_reject_reason', 'quote_number', 'shipment_status', 'shipping_fee_captured', 'imported', 'integration_order_id', 'channel', 'exported',
  'recurring_series_id'];

function orderRow(rec: Rec): string {
  const a = (rec as RecAddresses).addr;
  const d = a?.delivery ?? null;
  const t = rec.totals;
  const q = rec.quote;
  return row([
    rec.id, rec.number, rec.shop.id, rec.kind, rec.basketStatus, rec.name, rec.userId, rec.companyId, rec.anonymousToken, rec.stateId, rec.completed,
    rec.completedAt == null ? null : ts(rec.completedAt), rec.checkoutStep, rec.deleted, 1,
    a?.name ?? '', a?.billingCompany ?? '', a?.address ?? '', a?.address2 ?? '', a?.zip ?? '', a?.city ?? '', a?.country ?? '', '', a?.phone ?? '', a?.email ?? '',
    d == null, d?.name ?? '', d?.company ?? '', d?.address ?? '', '', d?.zip ?? '', d?.city ?? '', d?.country ?? '', '', d?.phone ?? '', '',
    rec.shipping?.id ?? null, rec.payment?.id ?? null, rec.voucherCode, rec.customerComment, rec.staffComment,
    rec.shop.currencyCode, rec.shop.currencyName, rec.shop.currencyRate,
    t.shippingFeeMinor, t.paymentFeeMinor, t.discountExclVatMinor, t.subtotalMinor, t.totalExclVatMinor, t.vatMinor, t.totalMinor, JSON.stringify(t),
    rec.captureState, rec.paymentStatus, rec.capturedMinor, rec.refundedMinor, rec.transactionNumber, rec.cardType, rec.cardLast4, rec.stockReserved, rec.ip,
    ts(rec.createdAt), ts(rec.createdAt), ts(rec.updatedAt), rec.orderDiscountMinor,
    q?.expiresOn ?? null, q?.message ?? '', q?.offeredAt == null ? null : ts(q.offeredAt), q?.answer ?? null, q?.rejectReason ?? '', rec.quoteNumber,
    rec.shipmentStatus, rec.shippingFeeCaptured, rec.imported, rec.integrationOrderId, rec.channel, rec.exported, rec.recurringSeriesId,
  ]);
}

const LINE_COLUMNS = ['id', 'order_id', 'product_id', 'product_number', 'product_name', 'unit', 'quantity', 'unit_price_minor', 'vat_rate_bp',
  'discount_minor', 'stock_location_id', 'created_at', 'shipped_quantity'];
const HISTORY_COLUMNS = ['order_id', 'from_state_id', 'to_state_id', 'event', 'message', 'actor_user_id', 'actor_kind', 'source', 'created_at'];
const PAYMENT_COLUMNS = ['order_id', 'operation', 'amount_minor', 'success', 'message', 'provider_reference', 'created_at'];
const SHIPMENT_COLUMNS = ['id', 'order_id', 'shipment_no', 'tracking_number', 'items_value_minor', 'captured_minor', 'includes_shipping_fee', 'is_last',
  'created_by_user_id', 'created_at'];
const SHIPMENT_LINE_COLUMNS = ['shipment_id', 'order_line_id', 'quantity', 'value_minor'];

// ---------------------------------------------------------------------------------------------------------
// Set-up: reference data next to the demo seed

async function setUp(q: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>): Promise<void> {
  await q(`insert into shops (id, name, currency_code, currency_name, currency_rate, order_prefix, cart_prefix) values
    ('SHOP2', 'Orderflow Europe', 'EUR', 'Euro', 7.46, 'EU', 'CART'),
    ('SHOP3', 'Orderflow Outlet', 'DKK', 'Danish krone', 1, 'OUT', 'CART') on conflict do nothing`);
  await q(`insert into stock_locations (name) values ('Store Aarhus') on conflict do nothing`);
  await q(`insert into shipping_methods (code, name, description, fee_minor, free_above_minor, sort_order) values
    ('PICKUP', 'Click & collect', 'Pick up in one of our stores.', 0, null, 3) on conflict do nothing`);
  for (const [i, g] of EXTRA_GROUPS.entries()) {
    await q('insert into product_groups (slug, name, sort_order) values ($1, $2, $3) on conflict do nothing', [g.slug, g.name, 10 + i]);
  }
  const existing = await q(`select id from flows where type = 'order' and name = 'Click & collect'`);
  if (!existing.rowCount) {
    const { rows: [flow] } = await q(`insert into flows (type, name, description, is_default) values ('order', 'Click & collect', 'Orders picked up in a store.', false) returning id`);
    const ids: number[] = [];
    for (const [i, [name, color]] of [['Ready for pickup', '#0891b2'], ['Collected', '#059669'], ['Not collected', '#dc2626']].entries()) {
      const { rows: [s] } = await q(`insert into flow_states (flow_id, name, is_default, sort_order, color) values ($1, $2, $3, $4, $5) returning id`, [flow.id, name, i === 0, i, color]);
      ids.push(s.id);
    }
    await q('insert into flow_state_rules (from_state_id, to_state_id) values ($1, $2), ($1, $3)', [ids[0], ids[1], ids[2]]);
  }
}

async function loadWorld(q: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>, o: GenerateOptions, now: number): Promise<Omit<World, 'products' | 'productMul' | 'firstUserId' | 'firstCompanyId' | 'series' | 'claims' | 'seriesStart'>> {
  const shops = (await q(`select id, order_prefix, order_numbers_next(order_numbers) as next, cart_prefix, currency_code, currency_name, currency_rate::text as rate, default_vat_rate_bp from shops order by id`)).rows
    .map((s) => ({ id: s.id, prefix: s.order_prefix, next: Number(s.next), cartPrefix: s.cart_prefix, currencyCode: s.currency_code.trim(), currencyName: s.currency_name,
      currencyRate: s.rate, rate: Number(s.rate), vatBp: s.default_vat_rate_bp }));
  const method = (r: { id: number; code: string; fee_minor: string; free_above_minor: string | null; name: string }): MethodRef =>
    ({ id: r.id, code: r.code, feeMinor: Number(r.fee_minor), freeAboveMinor: r.free_above_minor == null ? null : Number(r.free_above_minor), name: r.name });
  const ships = new Map((await q('select id, code, fee_minor, free_above_minor, name from shipping_methods')).rows.map((r) => [r.code, method(r)]));
  const pays = new Map((await q('select id, code, fee_minor, null as free_above_minor, name from payment_methods')).rows.map((r) => [r.code, method(r)]));
  const states = async (type: string, flow: string) => Object.fromEntries((await q(
    'select s.name, s.id from flow_states s join flows f on f.id = s.flow_id where f.type = $1 and f.name = $2', [type, flow])).rows.map((r) => [r.name, r.id]));
  const orderStates = await states('order', 'Standard order flow');
  const cartStates = await states('cart', 'Standard cart');
  const seq = async (name: string) => { const { rows: [s] } = await q(`select last_value, is_called from ${name}`); return Number(s.last_value) + (s.is_called ? 1 : 0); };
  const vouchers = (await q('select code, kind, value from vouchers where active')).rows.map((v) => ({ code: v.code, kind: v.kind, value: Number(v.value) }));
  const expected = Math.ceil((o.orders * 106) / 100);
  const span = 3 * 365 * DAY;
  return {
    seed: o.seed, now, t0: now - span, span, orders: o.orders, customers: o.customers, expected,
    shops: [shops.find((s) => s.id === 'SHOP1')!, shops.find((s) => s.id === 'SHOP2')!, shops.find((s) => s.id === 'SHOP3')!],
    locations: (await q('select id from stock_locations order by id')).rows.map((r) => r.id),
    shipping: { standard: ships.get('STANDARD')!, express: ships.get('EXPRESS')!, pickup: ships.get('PICKUP')! },
    payment: { card: pays.get('CARD')!, invoice: pays.get('INVOICE')! },
    vouchers,
    orderStates, pickupStates: await states('order', 'Click & collect'), cartOpen: cartStates.Open,
    b2bCartStates: await states('cart', 'B2B cart approval'), quoteStates: await states('quote', 'Quote flow'),
    companies: Math.max(1, Math.round(o.customers / 30)),
    approvalCompany: (c: number) => mix32(c * 31 + 7) % 10 === 0,
    adminId: (await q(`select id from users where email = 'admin@orderflow.test'`)).rows[0].id,
    cartStart: await seq('cart_number_seq'), quoteStart: await seq('quote_number_seq'),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Dropping and recreating secondary indexes and foreign keys of the big tables

interface Deferred { indexes: { table: string; name: string; def: string }[]; foreignKeys: { table: string; name: string; def: string }[] }

async function dropForLoad(q: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>, tables: string[]): Promise<Deferred> {
  const foreignKeys = (await q(`select c.conrelid::regclass::text as table, c.conname as name, pg_get_constraintdef(c.oid) as def
    from pg_constraint c where c.contype = 'f' and c.conrelid::regclass::text = any($1) order by 1, 2`, [tables])).rows;
  // Indexes that back a constraint (primary keys, unique constraints) stay; the others are dropped and rebuilt.
  const indexes = (await q(`select t.relname as table, i.relname as name, pg_get_indexdef(i.oid) as def
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
    where t.relname = any($1) and t.relnamespace = current_schema()::regnamespace
      and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)
    order by 1, 2`, [tables])).rows;
  for (const fk of foreignKeys) await q(`alter table ${fk.table} drop constraint ${fk.name}`);
  for (const ix of indexes) await q(`drop index ${ix.name}`);
  return { indexes, foreignKeys };
}

// ---------------------------------------------------------------------------------------------------------

export async function generateData(url: string, o: GenerateOptions): Promise<GenerateReport> {
  const log = o.log ?? ((s: string) => console.log(s));
  const started = Date.now();
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`set synchronous_commit = off`);
    clients.push(c);
    return c;
  };
  const client = await connect();
  const q = (sql: string, params: unknown[] = []) => client.query(sql, params);
  const tables: TableTiming[] = [];
  const timed = async (table: string, fn: () => Promise<number>) => {
    const t0 = Date.now();
    const rows = await fn();
    const ms = Date.now() - t0;
    tables.push({ table, rows, ms });
    log(`  ${table.padEnd(22)} ${rows.toLocaleString('en').padStart(11)} rows in ${(ms / 1000).toFixed(1).padStart(6)} s  (${Math.round(rows / Math.max(ms, 1) * 1000).toLocaleString('en')} rows/s)`);
  };
  try {
    await setUp(q);
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const base = await loadWorld(q, o, now);
    const big = ['orders', 'order_lines', 'order_state_history', 'payment_transactions', 'shipments', 'shipment_lines', 'users', 'companies',
      'products', 'stock_levels', 'recurring_series', 'recurring_runs'];
    const deferred = await dropForLoad(q, big);
    log(`Dropped ${deferred.indexes.length} indexes and ${deferred.foreignKeys.length} foreign keys for the load.`);
    await q('set maintenance_work_mem = \'512MB\'');
    const maxId = async (table: string) => Number((await q(`select coalesce(max(id), 0) as m from ${table}`)).rows[0].m);

    // Products: the demo ones count towards PRODUCTS.
    const groups = new Map((await q('select slug, id from product_groups')).rows.map((r) => [r.slug, r.id]));
    const demo = (await q('select id, number, name, price_minor, vat_rate_bp, unit from products order by id')).rows
      .map((p) => ({ id: p.id, number: p.number, name: p.name, priceMinor: Number(p.price_minor), vatRateBp: p.vat_rate_bp, unit: p.unit }));
    const firstProductId = (await maxId('products')) + 1;
    const newProducts: (ProductRef & { group: number; description: string; active: boolean })[] = [];
    for (let i = 0; demo.length + newProducts.length < o.products; i++) {
      const r = rngFor(o.seed, STREAM.product, i);
      const g = EXTRA_GROUPS[i % EXTRA_GROUPS.length];
      const name = `${r.pick(ADJECTIVES)} ${r.pick(g.nouns).toLowerCase()}${r.pick(VARIANTS)}`.replace(/^(\w)/, (m) => m.toUpperCase());
      const priceMinor = Math.round(Math.exp(Math.log(900) + r.next() * (Math.log(250000) - Math.log(900))) / 100) * 100 - (r.chance(0.5) ? 5 : 0);
      newProducts.push({ id: firstProductId + i, number: `P-${20001 + i}`, name, priceMinor, vatRateBp: g.vat, unit: g.unit, group: groups.get(g.slug),
        description: `${name} from our ${g.name.toLowerCase()} range.`, active: !r.chance(0.03) });
    }
    await timed('products', () => copyInto(client, 'products', ['id', 'number', 'name', 'description', 'group_id', 'price_minor', 'vat_rate_bp', 'unit', 'active'],
      newProducts.map((p) => row([p.id, p.number, p.name, p.description, p.group, p.priceMinor, p.vatRateBp, p.unit, p.active]))));
    const products: ProductRef[] = [...demo, ...newProducts];
    const locations = base.locations;
    await timed('stock_levels', async () => {
      const have = new Set((await q('select product_id, location_id from stock_levels')).rows.map((r) => `${r.product_id}:${r.location_id}`));
      function* levels() {
        for (const p of products) {
          const r = rngFor(o.seed, STREAM.product, 1_000_000 + p.id);
          for (const [i, l] of locations.entries()) {
            if (have.has(`${p.id}:${l}`)) continue;
            yield row([p.id, l, i === 0 ? (r.chance(0.05) ? 0 : r.between(5, 2000)) : r.chance(0.5) ? 0 : r.between(1, 60)]);
          }
        }
      }
      return copyInto(client, 'stock_levels', ['product_id', 'location_id', 'quantity'], levels());
    });

    // Companies and customers.
    const firstCompanyId = (await maxId('companies')) + 1;
    const b2bFlow = (await q(`select id from flows where type = 'cart' and name = 'B2B cart approval'`)).rows[0].id;
    await timed('companies', () => copyInto(client, 'companies', ['id', 'name', 'customer_number', 'cart_flow_id'], (function* () {
      for (let c = 0; c < base.companies; c++) yield row([firstCompanyId + c, companyName(o, c), `C-${20001 + c}`, base.approvalCompany(c) ? b2bFlow : null]);
    })()));
    const firstUserId = (await maxId('users')) + 1;
    const world: World = { ...base, products, productMul: coprime(products.length, 7919), firstUserId, firstCompanyId, series: [], claims: new Map(), seriesStart: (await maxId('recurring_series')) + 1 };
    planSeries(world);
    const passwordHash = await hashPassword('customer-pass-1');
    await timed('users', () => copyInto(client, 'users', ['id', 'email', 'password_hash', 'name', 'role', 'company_id', 'created_at'], (function* () {
      for (let c = 0; c < o.customers; c++) {
        const cu = customerAt(world, c);
        const r = rngFor(o.seed, STREAM.customer, 5_000_000 + c);
        yield row([firstUserId + c, cu.email, passwordHash, cu.name, cu.company != null ? 'buyer' : 'shopper',
          cu.company != null ? firstCompanyId + cu.company : null, ts(world.t0 - r.int(365) * DAY - r.int(DAY))]);
      }
    })()));

    // The timeline: one pass per table.
    const firstOrderId = (await maxId('orders')) + 1;
    const firstLineId = (await maxId('order_lines')) + 1;
    const firstShipmentId = (await maxId('shipments')) + 1;
    const timeline = () => new Timeline(world, firstOrderId, firstLineId, firstShipmentId);
    let last: Timeline | undefined;
    await timed('orders', () => {
      last = timeline();
      const tl = last;
      return copyInto(client, 'orders', ORDER_COLUMNS, (function* () { for (const rec of tl.records()) yield orderRow(rec); })());
    });
    await timed('order_lines', () => {
      const tl = timeline();
      return copyInto(client, 'order_lines', LINE_COLUMNS, (function* () {
        for (const rec of tl.records()) {
          const at = ts(rec.createdAt);
          for (const l of rec.lines) yield row([l.id, rec.id, l.product.id, l.product.number, l.product.name, l.product.unit, l.quantity, l.unitPriceMinor, l.vatRateBp, l.discountMinor, l.location, at, l.shipped]);
        }
      })());
    });
    await timed('order_state_history', () => {
      const tl = timeline();
      return copyInto(client, 'order_state_history', HISTORY_COLUMNS, (function* () {
        for (const rec of tl.records()) for (const h of rec.history) yield row([rec.id, h.from, h.to, h.event, h.message, h.actor, h.kind, h.source, ts(h.at)]);
      })());
    });
    await timed('payment_transactions', () => {
      const tl = timeline();
      return copyInto(client, 'payment_transactions', PAYMENT_COLUMNS, (function* () {
        for (const rec of tl.records()) for (const p of rec.payments) yield row([rec.id, p.operation, p.amountMinor, true, p.message, p.reference, ts(p.at)]);
      })());
    });
    const shipmentLines: string[] = [];
    await timed('shipments', () => {
      const tl = timeline();
      return copyInto(client, 'shipments', SHIPMENT_COLUMNS, (function* () {
        for (const rec of tl.records()) {
          for (const s of rec.shipments) {
            for (const l of s.lines) shipmentLines.push(row([s.id, l.line.id, l.quantity, l.valueMinor]));
            yield row([s.id, rec.id, s.no, s.tracking, s.itemsValueMinor, s.capturedMinor, s.includesFee, s.isLast, world.adminId, ts(s.at)]);
          }
        }
      })());
    });
    await timed('shipment_lines', () => copyInto(client, 'shipment_lines', SHIPMENT_LINE_COLUMNS, shipmentLines.splice(0)));

    // Recurring series (after their template orders exist) and their runs.
    const tl = last!;
    await timed('recurring_series', () => copyInto(client, 'recurring_series', ['id', 'template_order_id', 'shop_id', 'user_id', 'company_id', 'interval_unit',
      'interval_count', 'start_date', 'max_occurrences', 'status', 'next_occurrence', 'next_due_at', 'orders_created', 'created_by_user_id', 'created_by_kind',
      'created_at', 'updated_at'], world.series.map((s) => {
      const t = tl.templates.get(s.index)!;
      const lastAt = s.occurrences.length ? s.occurrences[s.occurrences.length - 1] : t.createdAt;
      return row([world.seriesStart + s.index, t.id, t.shopId, t.userId, t.companyId, s.unit, s.count, s.startDate, s.maxOccurrences, s.status,
        s.occurrences.length, s.nextDue == null ? null : ts(s.nextDue), s.occurrences.length, t.userId, 'customer', ts(t.createdAt + 3_600_000),
        ts(Math.min(now, Math.max(t.createdAt + 3_600_000, lastAt)))]);
    })));
    await timed('recurring_runs', () => copyInto(client, 'recurring_runs', ['series_id', 'occurrence', 'due_at', 'status', 'order_id', 'attempts', 'created_at', 'updated_at'],
      tl.occurrences.map((x) => row([world.seriesStart + x.series, x.occurrence, ts(x.due), 'created', x.orderId, 1, ts(x.at), ts(x.at)]))));

    // Sequences and numbering continue after the generated data.
    for (const t of ['orders', 'order_lines', 'order_state_history', 'payment_transactions', 'shipments', 'shipment_lines', 'users', 'companies', 'products', 'recurring_series', 'recurring_runs']) {
      await q(`select setval(pg_get_serial_sequence('${t}', 'id'), greatest(1, (select coalesce(max(id), 0) from ${t})), (select count(*) > 0 from ${t}))`);
    }
    await q(`select setval('cart_number_seq', $1, false)`, [tl.nextCartNumber]);
    await q(`select setval('quote_number_seq', $1, false)`, [tl.nextQuoteNumber]);
    for (const [i, s] of world.shops.entries()) await q('select setval(order_numbers, $1, false) from shops where id = $2', [tl.nextOrderNumbers[i], s.id]);

    // Indexes (two at a time: the machine has two cores) and foreign keys, which are validated as they are added.
    const ti = Date.now();
    const second = await connect();
    await second.query(`set maintenance_work_mem = '512MB'`);
    const pending = [...deferred.indexes].sort((a, b) => (a.def.includes('gin') ? -1 : 0) - (b.def.includes('gin') ? -1 : 0));
    const worker = async (c: pg.Client) => {
      for (let ix = pending.shift(); ix; ix = pending.shift()) {
        const t0 = Date.now();
        await c.query(ix.def);
        const ms = Date.now() - t0;
        if (ms > 2000) log(`  index ${ix.name} (${ix.table}) in ${(ms / 1000).toFixed(1)} s`);
      }
    };
    await Promise.all([worker(client), worker(second)]);
    const indexesMs = Date.now() - ti;
    log(`  ${deferred.indexes.length} indexes rebuilt in ${(indexesMs / 1000).toFixed(1)} s`);
    const tf = Date.now();
    for (const fk of deferred.foreignKeys) await q(`alter table ${fk.table} add constraint ${fk.name} ${fk.def}`);
    const foreignKeysMs = Date.now() - tf;
    log(`  ${deferred.foreignKeys.length} foreign keys added and validated in ${(foreignKeysMs / 1000).toFixed(1)} s`);
    const ta = Date.now();
    await q('vacuum (analyze)');
    const analyzeMs = Date.now() - ta;
    log(`  vacuum analyze in ${(analyzeMs / 1000).toFixed(1)} s`);
    await q(`comment on database "${client.database}" is '${dataMarker(o)}'`);
    const sizeBytes = Number((await q('select pg_database_size(current_database()) as s')).rows[0].s);
    return { tables, indexesMs, foreignKeysMs, analyzeMs, totalMs: Date.now() - started, sizeBytes };
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
  }
}

/** What generateData leaves in the database's comment, so bench/order-list.bench.ts knows which data a database holds. */
export const dataMarker = (o: GenerateOptions) => `orderflow generated data: orders=${o.orders} customers=${o.customers} products=${o.products} seed=${o.seed}`;

/** The data the generator makes, from ORDERS, CUSTOMERS, PRODUCTS and SEED (the order-list bench reads the same). */
export function generateOptionsFromEnv(): GenerateOptions {
  return {
    orders: positiveInt(process.env.ORDERS, 1_000_000),
    customers: positiveInt(process.env.CUSTOMERS, 100_000),
    products: positiveInt(process.env.PRODUCTS, 5_000),
    seed: positiveInt(process.env.SEED, 42),
  };
}

/** The database the generated data goes into (DATABASE, default orderflow_scale). */
export const scaleDatabaseName = () => process.env.DATABASE || 'orderflow_scale';

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export function printReport(r: GenerateReport, log: (s: string) => void = console.log): void {
  const rows = r.tables.reduce((s, t) => s + t.rows, 0);
  const loadMs = r.tables.reduce((s, t) => s + t.ms, 0);
  log('\n| table | rows | seconds | rows/s |');
  log('| --- | ---: | ---: | ---: |');
  for (const t of r.tables) log(`| ${t.table} | ${t.rows.toLocaleString('en')} | ${(t.ms / 1000).toFixed(1)} | ${Math.round((t.rows / Math.max(t.ms, 1)) * 1000).toLocaleString('en')} |`);
  log(`| all tables (COPY) | ${rows.toLocaleString('en')} | ${(loadMs / 1000).toFixed(1)} | ${Math.round((rows / Math.max(loadMs, 1)) * 1000).toLocaleString('en')} |`);
  log(`| indexes rebuilt | | ${(r.indexesMs / 1000).toFixed(1)} | |`);
  log(`| foreign keys validated | | ${(r.foreignKeysMs / 1000).toFixed(1)} | |`);
  log(`| vacuum analyze | | ${(r.analyzeMs / 1000).toFixed(1)} | |`);
  log(`| **total** | ${rows.toLocaleString('en')} | ${(r.totalMs / 1000).toFixed(1)} | ${Math.round((rows / Math.max(r.totalMs, 1)) * 1000).toLocaleString('en')} |`);
  log(`Database size: ${mb(r.sizeBytes)}`);
}

async function main(): Promise<void> {
  const opts = generateOptionsFromEnv();
  const name = scaleDatabaseName();
  const server = await benchServer(loadConfig());
  console.log(`Generating ${opts.orders.toLocaleString('en')} orders, ${opts.customers.toLocaleString('en')} customers, ${opts.products.toLocaleString('en')} products `
    + `into database ${name}. PostgreSQL: ${server.label}`);
  try {
    const started = Date.now();
    const db = await createBenchDatabase(server, name);
    await migrateAndSeed(db.url);
    console.log(`PostgreSQL ${db.version}; database created, migrated and seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const report = await generateData(db.url, opts);
    printReport(report);
  } finally {
    await server.embedded?.stop();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
