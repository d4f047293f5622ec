import type { MikroORM } from '@mikro-orm/postgresql';
import type nunjucks from 'nunjucks';
import type { AppConfig } from './config';
import { AccountService } from './accounts/account.service';
import { CompanyService } from './accounts/company.service';
import { CartService } from './cart/cart.service';
import { CatalogService } from './catalog/catalog.service';
import { CatalogAdminService } from './catalog/catalog-admin.service';
import { CheckoutService } from './checkout/checkout.service';
import { AdminService } from './admin/admin.service';
import { FlowService } from './flows/flow.service';
import { FlowSettingsService } from './flows/flow-settings.service';
import { OrderAdminService } from './orders/order-admin.service';
import { CustomerCenterService } from './customer-center/customer-center.service';
import { NamedCartService } from './cart/named-cart.service';
import { QuoteService } from './quotes/quote.service';
import { OrderHistoryService } from './customer-center/order-history.service';
import { PaymentService } from './payments/payment.service';
import { ShipmentService } from './shipping/shipment.service';
import { OrderEditService } from './orders/order-edit.service';
import { OrderFieldService } from './orders/order-field.service';
import { RecurringService } from './recurring/recurring.service';
import { StatisticsService } from './stats/statistics.service';
import { ReturnService } from './returns/return.service';
import { ApiService } from './integration/api.service';
import { OutboxService } from './mail/outbox.service';
import { PaymentProviders } from './payments/payment-providers';
import { ExportSettingsService } from './exports/export-settings.service';
import { StaffRoleService } from './accounts/staff-permissions';
import { MailTemplateService } from './mail/mail-templates';

/** The app's services, built once; each reads the request's EntityManager through MikroORM's RequestContext. */
export function createServices(orm: MikroORM, views: nunjucks.Environment, options: Partial<Pick<AppConfig, 'catalogCacheMs' | 'placement' | 'paymentOperationStaleSeconds' | 'sandbox' | 'exportDir' | 'exportXslPath'>> = {}) {
  const outbox = new OutboxService(views);
  const payments = new PaymentProviders(orm, options.sandbox);
  const catalog = new CatalogService(orm, options.catalogCacheMs);
  const catalogAdmin = new CatalogAdminService(orm);
  const accounts = new AccountService(orm);
  const companies = new CompanyService(orm);
  const carts = new CartService(orm);
  const checkout = new CheckoutService(orm, carts, payments, outbox, options.placement);
  const admin = new AdminService(orm);
  // A move into a cancelled-role state owes the provider a void, made after its commit by the payment desk.
  const flows: FlowService = new FlowService(orm, outbox, (orderId): Promise<unknown> => paymentDesk.settleVoids({ orderId }));
  const flowSettings = new FlowSettingsService(orm);
  const orderAdmin = new OrderAdminService(orm, flows, outbox);
  const customerCenter = new CustomerCenterService(orm, flows);
  const namedCarts = new NamedCartService(orm, flows);
  const quotes = new QuoteService(orm, carts, checkout, flows);
  const orderHistory = new OrderHistoryService(orm);
  const paymentDesk: PaymentService = new PaymentService(orm, payments, flows, { operationStaleSeconds: options.paymentOperationStaleSeconds ?? 60, gatewayTimeoutMs: options.placement?.gatewayTimeoutMs ?? 20_000 }, outbox);
  const shipments = new ShipmentService(orm);
  const orderEdit = new OrderEditService(orm);
  const orderFields = new OrderFieldService(orm);
  const recurring = new RecurringService(orm, outbox, payments, options.placement);
  const statistics = new StatisticsService(orm);
  const returns = new ReturnService(orm, flows, outbox, paymentDesk);
  paymentDesk.onRecovered((op) => returns.completeRecoveredRefund(op));
  paymentDesk.onRecovered((op) => shipments.completeRecoveredFeeCapture(op));
  const api = new ApiService(orm);
  const exportSettings = new ExportSettingsService(orm, { exportDir: options.exportDir ?? '.data/exports', exportXslPath: options.exportXslPath });
  const staffRoles = new StaffRoleService(orm);
  const mailTemplates = new MailTemplateService(orm);
  return { api, exportSettings, staffRoles, mailTemplates, companies, shipments, orderEdit, orderFields, recurring, statistics, returns, outbox, payments, catalog, catalogAdmin, accounts, carts, checkout, admin, flows, flowSettings, orderAdmin, customerCenter, namedCarts, quotes, orderHistory, paymentDesk, views };
}

export type Services = ReturnType<typeof createServices>;
