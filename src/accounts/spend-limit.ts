import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * A company buyer's spend limit for orders of their company (minor units), or null: none set, not a company buyer,
 * or a record of another company. Above it a cart must be approved before it is ordered (checkout, the basket page),
 * and a recurring order is not placed (its repeats would skip the approval).
 */
export async function spendLimitOf(em: EntityManager, userId: number, companyId: number | null): Promise<number | null> {
  const [buyer] = await em.execute<{ spend_limit_minor: string | null }[]>(
    'select spend_limit_minor from users where id = ? and company_id is not distinct from ?', [userId, companyId]);
  return buyer?.spend_limit_minor != null ? Number(buyer.spend_limit_minor) : null;
}
