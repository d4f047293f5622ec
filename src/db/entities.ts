import { Company, User } from '../accounts/account.entities';
import { Product, ProductGroup, Shop, StockLevel, StockLocation } from '../catalog/catalog.entities';
import { Voucher } from '../checkout/voucher.entity';
import { Flow, FlowState, FlowStateRule } from '../flows/flow.entities';
import { CaughtMail, OutboxMessage } from '../mail/mail.entities';
import { Order, OrderHistoryEntry, OrderLine, QuoteVersion } from '../orders/order.entities';
import { PaymentMethod, PaymentTransaction } from '../payments/payment.entities';
import { ShippingMethod } from '../shipping/shipping-method.entity';

/** Every entity, listed explicitly: no folder discovery, so tsx, jest and node load the same set. */
export const entities = [
  Shop, ProductGroup, Product, StockLocation, StockLevel,
  Company, User,
  Flow, FlowState, FlowStateRule,
  Order, OrderLine, OrderHistoryEntry, QuoteVersion,
  ShippingMethod, PaymentMethod, PaymentTransaction, Voucher,
  OutboxMessage, CaughtMail,
];
