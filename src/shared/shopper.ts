/**
 * How long a guest's basket cookie lives, in days. It is set by the add that makes the basket's token, and every
 * later add writes the basket: a guest's basket not changed for longer than this has no cookie left to reach it
 * (CartService.pruneUnreachableBaskets deletes it).
 */
export const GUEST_BASKET_DAYS = 30;

/** Who is shopping: a signed-in user, or an anonymous visitor known by the basket cookie. */
export interface Shopper {
  userId: number | null; companyId: number | null; anonymousToken: string | null;
  /** A staff user's context date (YYYY-MM-DD): the basket is priced as of that day. */
  priceDate?: string | null;
  /** The anonymous token was made by this request (a new basket cookie): no basket can exist for it yet. */
  newToken?: boolean;
}
