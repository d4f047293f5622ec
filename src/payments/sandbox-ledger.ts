import { setTimeout as sleep } from 'node:timers/promises';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sqlArray, sqlRead } from '../db/sql';
import type { ProviderResult } from './payment-provider';

export type SandboxStatus = 'open' | 'challenge' | 'authorized' | 'declined' | 'cancelled' | 'voided' | 'captured';

export interface SandboxPayment {
  reference: string; provider: string; attempt_key: string; amount_minor: string; currency_code: string; order_number: string;
  status: SandboxStatus; card_type: string; card_last4: string; return_url: string; webhook_url: string;
}

/** What a provider answers about a payment it recorded. */
export type RecordedPayment = Pick<SandboxPayment, 'reference' | 'status' | 'card_type' | 'card_last4'>;
const RECORDED_COLUMNS = 'reference, status, card_type, card_last4';

export interface SandboxOptions {
  /** How long the sandbox takes to answer (SANDBOX_GATEWAY_LATENCY_MS), to play a real provider's latency. */
  latencyMs: number;
  /** The secret the hosted sandbox signs its webhooks with (HMAC-SHA256). */
  webhookSecret: string;
}

/**
 * The sandbox providers' own memory: what a real provider keeps on its side (payments by reference, idempotent per
 * attempt key). It lives in the app's database only because the sandbox plays the provider in the same process; the
 * shop's code never reads it — only the sandbox providers, the sandbox payment page and the tests do.
 */
export class SandboxLedger {
  constructor(private readonly orm: MikroORM, readonly options: SandboxOptions) {}

  /**
   * One plain statement (sqlRead, not the ORM's runner): the sandbox's statements are part of every card placement
   * and hosted payment, and a remote provider would cost the shop one request each, not the ORM's query building.
   */
  private async sql<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
    return sqlRead<T>(this.orm, text, values);
  }

  /**
   * Sends a signed webhook the way providers do: in the background, after the sandbox latency, retried a few times
   * until the shop answers 2xx. Tests replace it to deliver webhooks themselves (in any order, or several times).
   */
  sendWebhook = (url: string, webhook: { body: string; headers: Record<string, string> }): void => {
    void (async () => {
      for (const waitMs of [this.options.latencyMs, 1000, 5000]) {
        // Unref'd: a retry still waiting never keeps a stopping process (or a finished test worker) alive.
        await sleep(waitMs, undefined, { ref: false });
        try {
          const res = await fetch(url, { method: 'POST', body: webhook.body, headers: webhook.headers, signal: AbortSignal.timeout(10_000) });
          if (res.ok) return;
        } catch {
          // the shop is unreachable right now; try again
        }
      }
      console.warn(`[sandbox] webhook to ${url} not accepted after 3 tries; the shopper's return (or the reservation's expiry) settles the payment`);
    })();
  };

  /**
   * The provider's answer to a call: it arrives `latencyMs` after the call (a real provider's response time includes
   * its own bookkeeping), and never before `work` — what the provider does and records — is done, so a shop that
   * stops waiting (or crashes) meanwhile loses only the answer.
   */
  async answer<T>(work: Promise<T>): Promise<T> {
    const [result] = await Promise.all([work, this.options.latencyMs > 0 ? sleep(this.options.latencyMs) : undefined]);
    return result;
  }

  /**
   * Records a payment once per (provider, attempt key); asking again answers the first record. One lean statement on
   * every card authorization (the insert answers only what the providers read); the first record is read only when
   * the key was asked before.
   */
  async record(p: Omit<SandboxPayment, 'amount_minor'> & { amount_minor: number }): Promise<RecordedPayment> {
    const [inserted] = await this.sql<RecordedPayment>(
      `insert into sandbox_payments (reference, provider, attempt_key, amount_minor, currency_code, order_number, status, card_type, card_last4, return_url, webhook_url)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (provider, attempt_key) do nothing returning ${RECORDED_COLUMNS}`,
      [p.reference, p.provider, p.attempt_key, p.amount_minor, p.currency_code, p.order_number, p.status, p.card_type, p.card_last4, p.return_url, p.webhook_url]);
    if (inserted) return inserted;
    const [first] = await this.sql<RecordedPayment>(`select ${RECORDED_COLUMNS} from sandbox_payments where provider = ? and attempt_key = ?`, [p.provider, p.attempt_key]);
    return first;
  }

  async find(reference: string): Promise<SandboxPayment | undefined> {
    const [row] = await this.sql<SandboxPayment>(`select * from sandbox_payments where reference = ?`, [reference]);
    return row;
  }

  /** Moves a payment from one of `from` to `to`; answers the payment when it moved. */
  async move(reference: string, from: SandboxStatus[], to: SandboxStatus, card?: { cardType: string; cardLast4: string }): Promise<SandboxPayment | undefined> {
    const [row] = await this.sql<SandboxPayment>(
      `update sandbox_payments set status = ?, card_type = coalesce(?, card_type), card_last4 = coalesce(?, card_last4), updated_at = now()
       where reference = ? and status = any(?::text[]) returning *`,
      [to, card?.cardType ?? null, card?.cardLast4 ?? null, reference, sqlArray(from)]);
    return row;
  }

  /** Cancels what was authorized (or is still open) under an attempt key; nothing there is fine too. */
  async voidAttempt(provider: string, attemptKey: string): Promise<ProviderResult> {
    await this.sql(`update sandbox_payments set status = case when status = 'authorized' then 'voided' else 'cancelled' end, updated_at = now()
      where provider = ? and attempt_key = ? and status in ('open', 'challenge', 'authorized')`, [provider, attemptKey]);
    return { success: true, message: 'Authorization cancelled.', reference: '' };
  }

  /**
   * Capture, cancel and refund of a reference this sandbox issued (limits are PaymentService's, against the shop's
   * database), once per operation key: the call is recorded before it takes effect, and a call sent again under the
   * same key answers the recorded answer without doing anything. The answer arrives `latencyMs` after the call, once
   * the call took effect (a shop that stops waiting earlier does not know what happened).
   */
  async operate(provider: string, reference: string, operation: 'capture' | 'cancel' | 'refund', operationKey: string, amountMinor: number): Promise<ProviderResult> {
    return this.answer(this.carryOut(provider, reference, operation, operationKey, amountMinor));
  }

  private async carryOut(provider: string, reference: string, operation: 'capture' | 'cancel' | 'refund', operationKey: string, amountMinor: number): Promise<ProviderResult> {
    const earlier = await this.findOperation(provider, operationKey);
    if (earlier) return earlier;
    const payment = await this.find(reference);
    const known = !!payment && !['declined', 'open', 'challenge'].includes(payment.status);
    const message = known ? { capture: 'Captured.', cancel: 'Authorization cancelled.', refund: 'Refunded.' }[operation] : 'Unknown transaction.';
    const [recorded] = await this.sql<{ success: boolean }>(
      `insert into sandbox_payment_operations (provider, operation_key, reference, operation, amount_minor, success, message)
       values (?, ?, ?, ?, ?, ?, ?) on conflict (provider, operation_key) do nothing returning success`,
      [provider, operationKey, reference, operation, amountMinor, known, message]);
    if (!recorded) return (await this.findOperation(provider, operationKey))!;
    if (known && operation === 'cancel') await this.move(reference, ['authorized'], 'voided');
    if (known && operation === 'capture') await this.move(reference, ['authorized'], 'captured');
    return { success: known, message, reference };
  }

  /** The answer to the call made under an operation key, or null when no such call arrived. */
  async findOperation(provider: string, operationKey: string): Promise<ProviderResult | null> {
    const [row] = await this.sql<{ success: boolean; message: string; reference: string }>(
      `select success, message, reference from sandbox_payment_operations where provider = ? and operation_key = ?`, [provider, operationKey]);
    return row ? { success: row.success, message: row.message, reference: row.reference } : null;
  }
}

/** What both sandbox providers do after authorizing: void an attempt, capture, cancel, refund, and answer for an operation key. */
export abstract class SandboxProviderBase {
  abstract readonly code: string;

  constructor(protected readonly ledger: SandboxLedger) {}

  voidAttempt(attemptKey: string): Promise<ProviderResult> {
    return this.ledger.voidAttempt(this.code, attemptKey);
  }

  capture(req: { reference: string; amountMinor: number; operationKey: string }): Promise<ProviderResult> {
    return this.ledger.operate(this.code, req.reference, 'capture', req.operationKey, req.amountMinor);
  }

  cancel(req: { reference: string; operationKey: string }): Promise<ProviderResult> {
    return this.ledger.operate(this.code, req.reference, 'cancel', req.operationKey, 0);
  }

  refund(req: { reference: string; amountMinor: number; operationKey: string }): Promise<ProviderResult> {
    return this.ledger.operate(this.code, req.reference, 'refund', req.operationKey, req.amountMinor);
  }

  findOperation(operationKey: string): Promise<ProviderResult | null> {
    return this.ledger.findOperation(this.code, operationKey);
  }
}
