import type { MikroORM } from '@mikro-orm/postgresql';
import type { RequestHandler } from 'express';
import sharp from 'sharp';
import { emSql, type Sql } from '../db/sql';
import { invalid } from '../shared/errors';

/**
 * Product images. An upload is checked by what it is (sharp reads it), not by its name or the browser's claim, and
 * kept as two WebP renditions in PostgreSQL (product_images): every app process and replica sees the same images with
 * no shared disk, backups and restores carry them, and an image changes in the same transaction as its product. They
 * are small once resized (a few to some tens of kB). A new upload is a new row with a new id, so an image's URL never
 * changes content and is served with a year-long immutable cache: browsers fetch each image once.
 */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif']);
export const ACCEPTED_TYPES = 'image/jpeg,image/png,image/webp,image/gif';
/** Decompression bombs: a small file that opens into a huge bitmap is refused before it is decoded. */
const MAX_INPUT_PIXELS = 40_000_000;
const LARGE = 640;
const THUMB = 240;

export interface ImageView { url: string; thumbUrl: string; alt: string; width: number; height: number; thumbWidth: number; thumbHeight: number }
export interface ImageRow { image_id: number | null; image_alt: string | null; image_width: number | null; image_height: number | null; image_thumb_width: number | null; image_thumb_height: number | null }

/** The columns of the product's image (alias `img`, joined with IMAGE_JOIN) that imageOf() reads. */
export const IMAGE_COLUMNS = `img.id as image_id, img.alt as image_alt, img.width as image_width, img.height as image_height,
  img.thumb_width as image_thumb_width, img.thumb_height as image_thumb_height`;
export const imageJoin = (product: string) => `left join product_images img on img.product_id = ${product}.id`;

export function imageOf(r: ImageRow): ImageView | null {
  if (r.image_id == null) return null;
  return {
    url: `/images/products/${r.image_id}.webp`, thumbUrl: `/images/products/${r.image_id}-thumb.webp`, alt: r.image_alt ?? '',
    width: r.image_width!, height: r.image_height!, thumbWidth: r.image_thumb_width!, thumbHeight: r.image_thumb_height!,
  };
}

interface Rendition { data: Buffer; width: number; height: number }
export interface ResizedImage { large: Rendition; thumb: Rendition }

/** Reads an uploaded file and makes the two renditions; refuses anything that is not a JPEG, PNG, WebP or GIF image. */
export async function resizeUpload(file: Buffer): Promise<ResizedImage> {
  const refused = () => invalid('The image must be a JPEG, PNG, WebP or GIF picture; this file is not one.', { image: 'is not a JPEG, PNG, WebP or GIF picture' });
  if (file.length === 0) throw invalid('Choose an image file to upload.', { image: 'is required' });
  if (file.length > MAX_UPLOAD_BYTES) throw tooLarge();
  let format: string | undefined;
  let width = 0;
  let height = 0;
  try {
    ({ format, width = 0, height = 0 } = await sharp(file, { limitInputPixels: MAX_INPUT_PIXELS }).metadata());
  } catch {
    throw refused();
  }
  if (!format || !ACCEPTED_FORMATS.has(format)) throw refused();
  if (width * height > MAX_INPUT_PIXELS) throw invalid('The image is too large in pixels (at most 40 megapixels).', { image: 'has more than 40 megapixels' });
  try {
    const [large, thumb] = await Promise.all([render(file, LARGE), render(file, THUMB)]);
    return { large, thumb };
  } catch {
    throw refused(); // a damaged file whose header read fine
  }
}

export const tooLarge = () => invalid(`The image file is too big: at most ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.`, { image: `is bigger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB` });

async function render(input: Buffer | sharp.Sharp, box: number): Promise<Rendition> {
  const pipeline = Buffer.isBuffer(input) ? sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }) : input;
  const { data, info } = await pipeline
    .rotate() // honour the camera's EXIF orientation; the output carries no metadata
    .resize(box, box, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80, effort: 2 }) // effort 2: a fifth of the default's encoding time for nearly the same size
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Stores `image` as the product's one image (replacing an older one), in the caller's transaction. */
export async function saveProductImage(sql: Sql, productId: number, image: ResizedImage, alt: string): Promise<void> {
  await sql('delete from product_images where product_id = ?', [productId]);
  await sql(
    `insert into product_images (product_id, alt, width, height, thumb_width, thumb_height, large_webp, thumb_webp)
     values (?, ?, ?, ?, ?, ?, decode(?, 'base64'), decode(?, 'base64'))`,
    [productId, alt, image.large.width, image.large.height, image.thumb.width, image.thumb.height, image.large.data.toString('base64'), image.thumb.data.toString('base64')],
  );
}

/**
 * A picture for a demo product, drawn at seed time (no binary files in the repository): the product's initials on a
 * colour picked from its number.
 */
export async function demoProductImage(name: string, number: string): Promise<ResizedImage> {
  const hue = [...number].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261) % 360; // FNV-1a: neighbours differ
  const initials = name.split(/\s+/).filter((w) => /^[A-Za-z]/.test(w)).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${LARGE}" height="${LARGE * 3 / 4}" viewBox="0 0 800 600">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},55%,62%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},60%,38%)"/></linearGradient></defs>
    <rect width="800" height="600" fill="url(#g)"/>
    <circle cx="400" cy="270" r="170" fill="rgba(255,255,255,0.18)"/>
    <text x="400" y="335" font-family="DejaVu Sans, Arial, sans-serif" font-size="180" font-weight="bold" fill="#fff" text-anchor="middle">${initials}</text>
    <text x="400" y="540" font-family="DejaVu Sans, Arial, sans-serif" font-size="36" fill="#fff" text-anchor="middle">${number}</text>
  </svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).raw().toBuffer({ resolveWithObject: true });
  const raw = () => sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  const [large, thumb] = await Promise.all([render(raw(), LARGE), render(raw(), THUMB)]);
  return { large, thumb };
}

const IMAGE_PATH = /^(\d{1,9})(-thumb)?\.webp$/;

/**
 * GET /images/products/:file — `123.webp` or `123-thumb.webp`. Mounted before the session: no cookie, no session
 * read, one primary-key read; answered with a year-long immutable cache (an image id never changes content) and an
 * ETag for revalidation.
 */
export function productImageRoute(orm: MikroORM): RequestHandler {
  return async (req, res, next) => {
    const m = IMAGE_PATH.exec(String(req.params.file));
    if (!m) return next();
    const etag = `"img-${m[1]}${m[2] ?? ''}"`;
    if (req.get('if-none-match') === etag) return res.status(304).set('ETag', etag).end();
    const [row] = await emSql(orm.em.fork())<{ data: Buffer }>(`select ${m[2] ? 'thumb_webp' : 'large_webp'} as data from product_images where id = ?`, [Number(m[1])]);
    if (!row) return next();
    res.set({ 'Cache-Control': 'public, max-age=31536000, immutable', ETag: etag, 'Content-Type': 'image/webp' }).send(row.data);
  };
}

/** The images of some products (for basket lines), by product id. */
export async function productImages(sql: Sql, productIds: number[]): Promise<Record<number, ImageView>> {
  if (productIds.length === 0) return {};
  const rows = await sql<ImageRow & { product_id: number }>(
    `select img.product_id, ${IMAGE_COLUMNS} from product_images img where img.product_id in (${productIds.map(() => '?').join(',')})`, productIds);
  return Object.fromEntries(rows.map((r) => [r.product_id, imageOf(r)!]));
}
