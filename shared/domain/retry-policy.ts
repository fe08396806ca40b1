import {
  BlockedRequestError,
  CredentialError,
  CredentialUnavailableError,
  InvalidTemplateError,
  NetworkError,
  TransientDeliveryError,
  ValidationError,
} from '../errors.ts';
import type { ErrorClass } from '../ports/delivery-store.ts';
import type { RetryConfig } from '../schemas/node.ts';
import type { DeliveryOutcome, VerdictKind } from './outcome.ts';

/** What an attempt's answer (or error) says, before any decision about the next one (see outcome.ts). */
export type AttemptVerdict =
  | { readonly kind: Extract<VerdictKind, 'success'>; readonly status: number }
  | {
      readonly kind: Exclude<VerdictKind, 'success'>;
      readonly errorClass: Exclude<ErrorClass, 'none'>;
      readonly status: number | null;
      readonly message: string;
      readonly retryAfterSeconds?: number;
    };

const TRANSIENT_STATUSES = new Set([408, 425, 429]);

/**
 * CONTRACT section 5: 2xx is success; 408, 425, 429, 5xx, timeouts and
 * connection errors are transient; any other status (3xx included: redirects are
 * not followed) is permanent.
 */
/** A 2xx: the endpoint took the delivery. */
export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

export function classifyStatus(status: number, retryAfterSeconds?: number): AttemptVerdict {
  if (isSuccessStatus(status)) return { kind: 'success', status };
  const transient = TRANSIENT_STATUSES.has(status) || (status >= 500 && status < 600);
  return {
    kind: transient ? 'transient' : 'permanent',
    errorClass: transient ? 'http_transient' : 'http_permanent',
    status,
    message: `endpoint answered ${status}`,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
}

/** Classifies an error thrown while building or sending a request. Unknown errors are transient: a retry is cheap, a lost delivery is not. */
export function classifyError(error: unknown): AttemptVerdict {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof NetworkError) {
    return {
      kind: 'transient',
      errorClass: error.kind === 'timeout' ? 'timeout' : 'connection',
      status: null,
      message,
    };
  }
  if (error instanceof BlockedRequestError) return { kind: 'permanent', errorClass: 'blocked', status: null, message };
  if (error instanceof CredentialError) return { kind: 'permanent', errorClass: 'credential', status: null, message };
  if (error instanceof InvalidTemplateError || error instanceof ValidationError) {
    return { kind: 'permanent', errorClass: 'invalid', status: null, message };
  }
  if (error instanceof TransientDeliveryError) {
    const retryAfter = error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds };
    // The credential store's "not now" is a credential problem to an operator, not an unknown one.
    const errorClass =
      error instanceof CredentialUnavailableError
        ? 'credential'
        : error.status === undefined
          ? 'unknown'
          : 'http_transient';
    return { kind: 'transient', errorClass, status: error.status ?? null, message, ...retryAfter };
  }
  return { kind: 'transient', errorClass: 'unknown', status: null, message };
}

/** What follows an attempt, in the outcome words of outcome.ts: the same value is recorded, logged and counted. */
export type Decision =
  | { readonly outcome: Extract<DeliveryOutcome, 'delivered'> }
  | { readonly outcome: Extract<DeliveryOutcome, 'retrying'>; readonly delaySeconds: number }
  | { readonly outcome: Extract<DeliveryOutcome, 'failed'>; readonly reason: string };

/**
 * Decides what follows attempt `attempt` (1-based). Exponential backoff doubles
 * from `initial_delay_seconds`; fixed waits `initial_delay_seconds`; both are
 * capped at `max_delay_seconds` and spread by ±10% (`random` in [0, 1)) so a
 * recovering endpoint is not hit by every retry at once. A Retry-After longer
 * than the backoff is honoured, up to the node's maximum delay.
 */
export function nextAttempt(verdict: AttemptVerdict, attempt: number, retry: RetryConfig, random: number): Decision {
  if (verdict.kind === 'success') return { outcome: 'delivered' };
  if (verdict.kind === 'permanent') return { outcome: 'failed', reason: verdict.message };
  if (attempt >= retry.max_attempts) {
    const of = retry.max_attempts === 1 ? 'the only attempt' : `all ${retry.max_attempts} attempts`;
    return { outcome: 'failed', reason: `${verdict.message} (${of} used)` };
  }
  const base =
    retry.backoff === 'fixed' ? retry.initial_delay_seconds : retry.initial_delay_seconds * 2 ** (attempt - 1);
  const jittered = Math.round(Math.min(base, retry.max_delay_seconds) * (0.9 + 0.2 * random));
  const wanted = Math.max(jittered, Math.min(verdict.retryAfterSeconds ?? 0, retry.max_delay_seconds));
  return { outcome: 'retrying', delaySeconds: Math.min(Math.max(1, wanted), retry.max_delay_seconds) };
}

/** Reads a Retry-After header: delay seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
