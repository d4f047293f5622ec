/** Never more than this many of one product on an order line: the basket, the staff cart editor and order editing refuse more. */
export const MAX_LINE_QUANTITY = 9999;
