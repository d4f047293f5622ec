import type { MikroORM } from '@mikro-orm/postgresql';
import { InvoiceProvider } from './invoice-provider';
import type { PaymentProviderCode } from './payment.entities';
import type { DirectPaymentProvider, PaymentProvider } from './payment-provider';
import { SandboxCardGateway } from './sandbox-card-gateway';
import { SandboxHostedProvider } from './sandbox-hosted-provider';
import { SandboxLedger, type SandboxOptions } from './sandbox-ledger';

/** The registry of payment providers, keyed by the code stored on each payment method. */
export class PaymentProviders {
  /** The sandbox providers' side of things (the sandbox payment page reads it). */
  readonly sandbox: SandboxLedger;
  private readonly providers: Record<PaymentProviderCode, PaymentProvider>;

  constructor(orm: MikroORM, options: Partial<SandboxOptions> = {}) {
    this.sandbox = new SandboxLedger(orm, { latencyMs: options.latencyMs ?? 0, webhookSecret: options.webhookSecret ?? 'orderflow-sandbox-webhook-secret' });
    this.providers = {
      invoice: new InvoiceProvider(),
      sandbox_card: new SandboxCardGateway(this.sandbox),
      sandbox_hosted: new SandboxHostedProvider(this.sandbox),
    };
  }

  get(code: PaymentProviderCode): PaymentProvider {
    return this.providers[code];
  }

  /** A provider that authorizes while the caller waits, or undefined for a hosted one. */
  direct(code: PaymentProviderCode): DirectPaymentProvider | undefined {
    const provider = this.providers[code];
    return provider.flow === 'direct' ? provider : undefined;
  }
}
