import { InvoiceProvider } from './invoice-provider';
import type { PaymentProviderCode } from './payment.entities';
import type { PaymentProvider } from './payment-provider';
import { SandboxCardGateway } from './sandbox-card-gateway';

/** The registry of payment providers, keyed by the code stored on each payment method. */
export class PaymentProviders {
  private readonly providers: Record<PaymentProviderCode, PaymentProvider> = {
    invoice: new InvoiceProvider(),
    sandbox_card: new SandboxCardGateway(),
  };

  get(code: PaymentProviderCode): PaymentProvider {
    return this.providers[code];
  }
}
