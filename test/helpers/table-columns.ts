/** What the helper runs SQL with: a test app's `t.sql`, a bench's query function. */
type Query = <T extends Record<string, any>>(text: string, params?: unknown[]) => Promise<T[]>;

/**
 * The columns of `table` that a copy of its rows may set, in table order: all but the generated ones (PostgreSQL
 * computes those and refuses a value for them, e.g. orders.order_total_minor) and those named in `except`.
 */
export async function insertableColumns(sql: Query, table: string, except: string[] = []): Promise<string[]> {
  const rows = await sql<{ name: string }>(
    `select column_name as name from information_schema.columns
     where table_schema = current_schema() and table_name = $1 and is_generated = 'NEVER' and column_name <> all($2::text[])
     order by ordinal_position`, [table, except]);
  return rows.map((r) => r.name);
}
