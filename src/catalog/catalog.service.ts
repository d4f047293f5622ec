import type { MikroORM } from '@mikro-orm/postgresql';
import { notFound } from '../shared/errors';
import { withVat } from '../shared/money';
import { TtlCache } from '../shared/ttl-cache';
import { Product, ProductGroup, Shop } from './catalog.entities';
import { IMAGE_COLUMNS, imageJoin, imageOf, type ImageView } from './product-images';
import { priceOnSql } from './prices';

export const PAGE_SIZE = 12;
export const DEFAULT_SHOP_ID = 'SHOP1';

export interface ProductView {
  id: number; number: string; name: string; description: string; unit: string;
  groupName: string; groupSlug: string;
  priceMinor: number; priceInclVatMinor: number; vatRateBp: number; stock: number;
  image: ImageView | null;
  /** May be added to the basket: in stock, or the shop allows ordering out-of-stock products. */
  orderable: boolean;
  /** Out of stock but orderable: the storefront says "on back order". */
  backOrder: boolean;
}

/** The shop's "allow ordering out-of-stock products" setting, as a column of the product queries. */
const BACK_ORDERS_SQL = `(select allow_out_of_stock_orders from shops where id = '${DEFAULT_SHOP_ID}') as back_orders`;

export type ProductPage = ProductView & { stockByLocation: { name: string; quantity: number }[] };

export class CatalogService {
  /** Product pages are read far more often than products change; see config.catalogCacheMs. */
  private readonly productPages: TtlCache<ProductPage>;

  constructor(private readonly orm: MikroORM, catalogCacheMs = 0) {
    this.productPages = new TtlCache(catalogCacheMs);
  }

  private get em() {
    return this.orm.em;
  }

  async shop(id = DEFAULT_SHOP_ID): Promise<Shop> {
    const shop = await this.em.findOne(Shop, { id });
    if (!shop) throw notFound('The shop');
    return shop;
  }

  groups(): Promise<ProductGroup[]> {
    return this.em.find(ProductGroup, {}, { orderBy: { sortOrder: 'asc', name: 'asc' } });
  }

  /**
   * Active products, optionally in one group and/or matching a name or number fragment, one page at a time, priced as
   * of `day` (a staff context date, YYYY-MM-DD) or today.
   */
  async list(opts: { groupSlug?: string; search?: string; page: number; day?: string | null }) {
    const where: string[] = ['p.active'];
    const params: unknown[] = [];
    if (opts.groupSlug) {
      params.push(opts.groupSlug);
      where.push('g.slug = ?');
    }
    if (opts.search) {
      const search = productSearchSql(opts.search);
      params.push(...search.params);
      where.push(search.where);
    }
    const conn = this.em.getConnection();
    const base = `from products p join product_groups g on g.id = p.group_id where ${where.join(' and ')}`;
    const [{ count }] = await conn.execute<{ count: string }[]>(`select count(*) as count ${base}`, params);
    const total = Number(count);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const page = Math.min(Math.max(1, opts.page), pages);
    const rows = await conn.execute(
      `select p.*, ${priceOnSql('p', opts.day ? '?::date' : 'current_date')} as day_price_minor, g.name as group_name, g.slug as group_slug,
         coalesce((select sum(quantity) from stock_levels s where s.product_id = p.id), 0) as stock, ${IMAGE_COLUMNS}, ${BACK_ORDERS_SQL}
       ${base.replace(' where ', ` ${imageJoin('p')} where `)} order by g.sort_order, p.name limit ${PAGE_SIZE} offset ${(page - 1) * PAGE_SIZE}`,
      opts.day ? [opts.day, ...params] : params,
    );
    return { products: rows.map(toView), total, page, pages };
  }

  /** An active product with its stock per location and its price on `day` (else today), in one query; cached for catalogCacheMs. */
  product(number: string, day: string | null = null): Promise<ProductPage> {
    return this.productPages.get(day ? `${number}@${day}` : number, async () => {
      const [row] = await this.em.getConnection().execute(
        `select p.*, ${priceOnSql('p', day ? '?::date' : 'current_date')} as day_price_minor, g.name as group_name, g.slug as group_slug, ${IMAGE_COLUMNS},
           coalesce((select json_agg(json_build_object('name', l.name, 'quantity', s.quantity) order by l.name)
                     from stock_levels s join stock_locations l on l.id = s.location_id where s.product_id = p.id), '[]') as stock_by_location,
           ${BACK_ORDERS_SQL}
         from products p join product_groups g on g.id = p.group_id ${imageJoin('p')} where p.number = ? and p.active`,
        day ? [day, number] : [number],
      );
      if (!row) throw notFound('The product');
      const stockByLocation = row.stock_by_location as { name: string; quantity: number }[];
      return { ...toView({ ...row, stock: stockByLocation.reduce((sum, s) => sum + s.quantity, 0) }), stockByLocation };
    });
  }

  async activeProduct(id: number): Promise<Product> {
    const product = await this.em.findOne(Product, { id, active: true });
    if (!product) throw notFound('The product');
    return product;
  }
}

/** Products (alias `p`) whose name or number contains `search`, case-insensitively: the condition and its values. */
export function productSearchSql(search: string): { where: string; params: string[] } {
  const pattern = '%' + search.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c) + '%';
  return { where: '(lower(p.name) like ? or lower(p.number) like ?)', params: [pattern, pattern] };
}

function toView(r: Record<string, any>): ProductView {
  return {
    id: r.id, number: r.number, name: r.name, description: r.description, unit: r.unit,
    groupName: r.group_name, groupSlug: r.group_slug,
    priceMinor: Number(r.day_price_minor), priceInclVatMinor: withVat(Number(r.day_price_minor), r.vat_rate_bp), vatRateBp: r.vat_rate_bp,
    stock: Number(r.stock), image: imageOf(r as any),
    orderable: Number(r.stock) > 0 || r.back_orders === true, backOrder: Number(r.stock) <= 0 && r.back_orders === true,
  };
}
