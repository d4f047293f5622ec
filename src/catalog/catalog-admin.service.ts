import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { emSql } from '../db/sql';
import { DomainError, invalid, notFound } from '../shared/errors';
import { Product, ProductGroup, StockLocation } from './catalog.entities';
import { productSearchSql } from './catalog.service';
import { IMAGE_COLUMNS, imageJoin, imageOf, type ImageRow, type ImageView, resizeUpload, saveProductImage } from './product-images';
import { adjustStock, recentMovements, type StaffStockReason } from '../stock/stock';

export const ADMIN_PAGE_SIZE = 25;

/** What the product form saves, already validated at the edge (src/catalog/catalog-admin.routes.ts). */
export interface ProductInput {
  number: string; name: string; description: string; groupId: number;
  priceMinor: number; vatRateBp: number; unit: string; active: boolean;
}

export interface DatedPriceInput { validFrom: string; validTo: string | null; priceMinor: number }
export interface StockAdjustmentInput { locationId: number; change: number; reason: StaffStockReason; note: string }

export interface AdminProductRow {
  id: number; number: string; name: string; groupName: string; priceMinor: number; vatRateBp: number; unit: string;
  active: boolean; stock: number; image: ImageView | null;
}

const MOVEMENTS_SHOWN = 50;

/**
 * The staff side of the catalog: products (number, name, group, price, VAT, unit, active), stock per location with
 * adjustments and their movement history, dated prices, and the product image. The storefront's CatalogService reads
 * what this writes; its page cache lives catalogCacheMs at most, so a change shows within that time.
 */
export class CatalogAdminService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /** Every product, active or not, matching a name or number fragment, one page at a time. */
  async list(opts: { search?: string; page: number }) {
    const { where, params } = opts.search ? productSearchSql(opts.search) : { where: 'true', params: [] };
    const conn = this.em.getConnection();
    const [{ count }] = await conn.execute<{ count: string }[]>(`select count(*) as count from products p where ${where}`, params);
    const total = Number(count);
    const pages = Math.max(1, Math.ceil(total / ADMIN_PAGE_SIZE));
    const page = Math.min(Math.max(1, opts.page), pages);
    const rows = await conn.execute<(Record<string, any> & ImageRow)[]>(
      `select p.id, p.number, p.name, p.price_minor, p.vat_rate_bp, p.unit, p.active, g.name as group_name, ${IMAGE_COLUMNS},
         coalesce((select sum(quantity) from stock_levels s where s.product_id = p.id), 0) as stock
       from products p join product_groups g on g.id = p.group_id ${imageJoin('p')}
       where ${where} order by p.number limit ${ADMIN_PAGE_SIZE} offset ${(page - 1) * ADMIN_PAGE_SIZE}`,
      params,
    );
    const products: AdminProductRow[] = rows.map((r) => ({
      id: r.id, number: r.number, name: r.name, groupName: r.group_name, priceMinor: Number(r.price_minor), vatRateBp: r.vat_rate_bp,
      unit: r.unit, active: r.active, stock: Number(r.stock), image: imageOf(r),
    }));
    return { products, total, page, pages };
  }

  groups(): Promise<ProductGroup[]> {
    return this.em.find(ProductGroup, {}, { orderBy: { sortOrder: 'asc', name: 'asc' } });
  }

  /** Everything the product page of the admin shows: the product, stock per location, movements, dated prices, image. */
  async product(number: string) {
    const product = await this.findProduct(this.em, number);
    const conn = this.em.getConnection();
    const [stock, movements, prices, [image]] = await Promise.all([
      conn.execute<{ id: number; name: string; quantity: number }[]>(
        `select l.id, l.name, coalesce(s.quantity, 0) as quantity from stock_locations l
         left join stock_levels s on s.location_id = l.id and s.product_id = ? order by l.name`, [product.id]),
      recentMovements(emSql(this.em), product.id, MOVEMENTS_SHOWN),
      conn.execute<{ valid_from: string; valid_to: string | null; price_minor: string; current: boolean }[]>(
        `select to_char(valid_from, 'YYYY-MM-DD') as valid_from, to_char(valid_to, 'YYYY-MM-DD') as valid_to, price_minor,
           daterange(valid_from, valid_to, '[]') @> current_date as current
         from product_prices where product_id = ? order by valid_from`, [product.id]),
      conn.execute<ImageRow[]>(`select ${IMAGE_COLUMNS} from products p ${imageJoin('p')} where p.id = ?`, [product.id]),
    ]);
    return {
      product,
      stock,
      movements,
      prices: prices.map((p) => ({ validFrom: p.valid_from, validTo: p.valid_to, priceMinor: Number(p.price_minor), current: p.current })),
      image: image ? imageOf(image) : null,
    };
  }

  async create(input: ProductInput): Promise<Product> {
    return this.em.transactional(async (em) => {
      const { groupId, ...fields } = input;
      const product = em.create(Product, { ...fields, group: await this.findGroup(em, groupId) });
      await this.flushProduct(em);
      return product;
    });
  }

  async update(number: string, input: ProductInput): Promise<Product> {
    return this.em.transactional(async (em) => {
      const product = await this.findProduct(em, number);
      const { groupId, ...fields } = input;
      em.assign(product, { ...fields, group: await this.findGroup(em, groupId) });
      await this.flushProduct(em);
      return product;
    });
  }

  /** Adds to or takes from one location's stock and records the movement (src/stock/stock.ts). Answers the new level. */
  async adjustStock(number: string, input: StockAdjustmentInput, actorUserId: number): Promise<number> {
    return this.em.transactional(async (em) => {
      const product = await this.findProduct(em, number);
      if (!(await em.findOne(StockLocation, input.locationId))) throw invalid('Please choose a stock location.', { locationId: 'is not a stock location' });
      return adjustStock(emSql(em), { productId: product.id, ...input, actorUserId }, product.name);
    });
  }

  /**
   * A price for a period (valid_to inclusive; none = open-ended). Periods of one product must not overlap: refused
   * with the period in the way, checked here for the message and by the database's exclusion constraint for two
   * saves at the same moment.
   */
  async addPrice(number: string, input: DatedPriceInput): Promise<void> {
    if (input.validTo != null && input.validTo < input.validFrom) {
      throw invalid('The price period must end on or after the day it starts.', { validTo: 'is before “valid from”' });
    }
    await this.em.transactional(async (em) => {
      const product = await this.findProduct(em, number);
      const [clash] = await em.execute<{ valid_from: string; valid_to: string | null }[]>(
        `select to_char(valid_from, 'YYYY-MM-DD') as valid_from, to_char(valid_to, 'YYYY-MM-DD') as valid_to from product_prices
         where product_id = ? and daterange(valid_from, valid_to, '[]') && daterange(?::date, ?::date, '[]') order by valid_from limit 1`,
        [product.id, input.validFrom, input.validTo],
      );
      if (clash) throw overlap(clash.valid_from, clash.valid_to);
      try {
        await em.execute('insert into product_prices (product_id, valid_from, valid_to, price_minor) values (?, ?, ?, ?)',
          [product.id, input.validFrom, input.validTo, input.priceMinor]);
      } catch (e) {
        // 23P01: exclusion_violation (another save got there first); the primary key is (product, valid from).
        if ((e as { code?: string }).code === '23P01' || e instanceof UniqueConstraintViolationException) throw overlap(null, null);
        throw e;
      }
    });
  }

  async removePrice(number: string, validFrom: string): Promise<void> {
    const product = await this.findProduct(this.em, number);
    const removed = await this.em.getConnection().execute('delete from product_prices where product_id = ? and valid_from = ?', [product.id, validFrom], 'run');
    if (!(removed as { affectedRows?: number }).affectedRows) throw notFound('That dated price');
  }

  /** Checks and resizes an upload (src/catalog/product-images.ts) and makes it the product's image. */
  async setImage(number: string, file: Buffer, alt: string): Promise<void> {
    const product = await this.findProduct(this.em, number);
    const image = await resizeUpload(file);
    await this.em.transactional((em) => saveProductImage(emSql(em), product.id, image, alt || product.name));
  }

  async removeImage(number: string): Promise<void> {
    const product = await this.findProduct(this.em, number);
    await this.em.execute('delete from product_images where product_id = ?', [product.id]);
  }

  private async findProduct(em: EntityManager, number: string): Promise<Product> {
    const product = await em.findOne(Product, { number }, { populate: ['group'] });
    if (!product) throw notFound('The product');
    return product;
  }

  private async findGroup(em: EntityManager, id: number): Promise<ProductGroup> {
    const group = await em.findOne(ProductGroup, id);
    if (!group) throw invalid('Please choose a product group.', { groupId: 'is not a product group' });
    return group;
  }

  private async flushProduct(em: EntityManager): Promise<void> {
    try {
      await em.flush();
    } catch (e) {
      if (e instanceof UniqueConstraintViolationException) {
        throw new DomainError('CONFLICT', 'Another product already has this number; product numbers are unique.', { number: 'is already used by another product' });
      }
      throw e;
    }
  }
}

function overlap(from: string | null, to: string | null): DomainError {
  const period = from ? ` (${from} – ${to ?? 'open-ended'})` : '';
  return new DomainError('CONFLICT', `This period overlaps a dated price that is already there${period}. Change or remove that one first.`, { validFrom: 'overlaps another dated price' });
}
