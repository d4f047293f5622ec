import { Company, User } from '../accounts/account.entities';
import { Product, ProductGroup, Shop, StockLevel, StockLocation } from '../catalog/catalog.entities';
import { Voucher } from '../pricing/voucher.entity';
import { Flow, FlowState, FlowStateRule } from '../flows/flow.entities';
import { CaughtMail, OutboxMessage } from '../mail/mail.entities';
import { Order, OrderHistoryEntry, OrderLine, QuoteVersion } from '../orders/order.entities';
import { PaymentMethod, PaymentTransaction } from '../payments/payment.entities';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { shipmentEntities } from '../shipping/shipment.entities';
import { orderEditEntities } from '../orders/order-edit.entities';
import { orderListEntities } from '../orders/order-list.entities';
import { recurringEntities } from '../recurring/recurring.entities';
import { returnEntities } from '../returns/return.entities';
import { apiEntities } from '../integration/api.entities';
import { sqlTableEntities } from './sql-tables.entities';

/** Every entity, listed explicitly: no folder discovery, so tsx, jest and node load the same set. */
export const entities = [
  Shop, ProductGroup, Product, StockLocation, StockLevel,
  Company, User,
  Flow, FlowState, FlowStateRule,
  Order, OrderLine, OrderHistoryEntry, QuoteVersion,
  ShippingMethod, PaymentMethod, PaymentTransaction, Voucher,
  OutboxMessage, CaughtMail,
  ...shipmentEntities, ...orderEditEntities, ...orderListEntities, ...recurringEntities, ...returnEntities, ...apiEntities,
  ...sqlTableEntities,
];
