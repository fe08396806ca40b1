import type { DeliveryMessage, DeliveryStatus } from '../domain/delivery.ts';
import type { EmptyPlaceholder } from '../domain/empty-placeholders.ts';

/** How one attempt ended, as it is recorded. */
export interface AttemptRecord {
  readonly attempt: number;
  /** ISO time the attempt started. */
  readonly at: string;
  readonly duration_ms: number;
  readonly status_code: number | null;
  /** `none` on success; else what kind of failure (see `classify`). */
  readonly error_class: ErrorClass;
  readonly error_message: string | null;
  /** Redacted, truncated start of the response body. */
  readonly response_snippet: string | null;
  /**
   * Set when this attempt went on the wire twice: the endpoint refused the cached
   * credential with this status (401/403), and the attempt was sent once more, under
   * the same number, with the credential fetched again. The rest of the record is the
   * second request's.
   */
  readonly resent_after_status?: number;
}

export type ErrorClass =
  | 'none'
  | 'http_transient'
  | 'http_permanent'
  | 'timeout'
  | 'connection'
  | 'blocked'
  | 'credential'
  | 'invalid'
  /** Not sent: the endpoint answered 410 Gone earlier (see shared/domain/endpoint-health.ts). */
  | 'endpoint_gone'
  | 'unknown';

/** A delivery as the outcome log holds it. */
export interface DeliveryRecord {
  readonly delivery_id: string;
  readonly organization_id: string;
  readonly workflow_id: number;
  readonly workflow_run_id: number;
  readonly node_id: string;
  readonly node_name: string;
  readonly method: string;
  /** Scheme and host only: paths and queries may carry secrets. */
  readonly endpoint_host: string;
  readonly status: DeliveryStatus;
  /** Attempts started, including one whose outcome a crash lost. */
  readonly attempts: number;
  readonly max_attempts: number;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly next_attempt_at: string | null;
  readonly final_at: string | null;
  readonly attempt_log: readonly AttemptRecord[];
  /**
   * ISO times at which the delivery was reopened (a replay, or a redrive of its
   * dead letter): each starts a new series of attempts in `attempt_log`,
   * numbered from 1 again.
   */
  readonly replayed_at: readonly string[];
  /**
   * The rendered message, kept when an attempt ends the delivery as failed, so
   * it can be replayed; null for a delivery that never rendered, one that was
   * delivered, or one whose request was too large to keep.
   */
  readonly request: DeliveryMessage | null;
  /** Whether a request is kept for replay; set in failure listings too, which carry no `request`. */
  readonly request_kept: boolean;
  /** A final failure whose message is not yet on the dead-letter queue (a copy coming back puts it there). */
  readonly dead_letter_pending: boolean;
  /** ISO end of the lease of the attempt in flight, or null. */
  readonly lease_until?: string | null;
  /** ISO time by which a non-final delivery should move on (its key in the pending index), or null when final. */
  readonly pending_until?: string | null;
  /** ISO times the reconciler put the delivery back on the queue (its message was lost). */
  readonly reconciled_at?: readonly string[];
  /**
   * Failed by the reconciler because its message was lost and could not be rebuilt: a copy
   * of the message that comes back (the run emitted again) starts a new series, as for a
   * delivery that was never sent.
   */
  readonly stranded?: boolean;
  /** Placeholders of the latest render that came out empty, and why (bounded); absent when none did. */
  readonly empty_placeholders?: readonly EmptyPlaceholder[];
}

/** The result of trying to take the next attempt of a delivery. */
export type Claim =
  /** Go: this process owns attempt `attempt` until its lease ends. */
  | { readonly kind: 'claimed'; readonly attempt: number }
  /** Already final (delivered, failed or skipped): a duplicate; drop the message. */
  | { readonly kind: 'final'; readonly status: DeliveryStatus }
  /** Another worker holds the lease, or the next attempt is not due: look again later. */
  | { readonly kind: 'wait'; readonly seconds: number }
  /** This message's `max_attempts` is used up while the series is not final: a copy carrying a lower limit than the one in flight. */
  | { readonly kind: 'exhausted'; readonly attempts: number };

/**
 * The outcome log's state machine: every change of a delivery's state, and the read of one
 * record those changes start from. Writes are few and counted: a claim and an outcome per
 * attempt. Listings across deliveries are `DeliveryQueries` (shared/ports/delivery-queries.ts).
 */
export interface DeliveryStore {
  /**
   * Takes the next attempt, creating the record on first sight. `leaseMs` bounds how long it is
   * held; an attempt whose lease ran out without an outcome (a crash) is taken over under its
   * own number (it was counted when first claimed, so `max_attempts` holds). A claim whose write
   * landed but whose answer was lost, retried, finds its own claim id and gets its attempt back
   * rather than a wait (no attempt number is burned). The rules are `decideClaim` in
   * `shared/domain/delivery-state.ts`. The record's `max_attempts` is the message's: a new
   * series brings its own.
   */
  claim(message: DeliveryMessage, nowMs: number, leaseMs: number): Promise<Claim>;
  /**
   * Records how an attempt ended; `next` says whether the delivery is final or when it is retried.
   * A final `failed` also keeps the rendered message on the record (see `DeliveryRecord.request`);
   * `delivered` drops any kept one.
   */
  recordAttempt(
    message: DeliveryMessage,
    attempt: AttemptRecord,
    next: { readonly status: 'delivered' | 'failed' } | { readonly status: 'retrying'; readonly atMs: number },
    nowMs: number,
  ): Promise<void>;
  /** Records a delivery that never reached the queue or the wire (bad node, oversized, disabled). */
  recordFinal(message: DeliveryMessage, status: 'failed' | 'skipped', reason: string, nowMs: number): Promise<void>;
  /**
   * Clears `dead_letter_pending` once the failure's message is on the dead-letter queue:
   * only the failure `seen` (its `final_at`, the ISO form of the `nowMs` that recorded it),
   * so a late mark cannot clear a later failure's. A record that moved on is left alone.
   */
  markDeadLettered(deliveryId: string, seen: { readonly final_at: string | null }): Promise<void>;
  /**
   * Makes a final delivery eligible again: a new series of attempts under the same id.
   * With `seen`, only if its `final_at` is still what the caller read; else `DeliveryStateError`.
   */
  reopen(deliveryId: string, nowMs: number, seen?: { readonly final_at: string | null }): Promise<DeliveryRecord>;
  /** The whole record (its attempt log and kept request too), read consistently. */
  get(deliveryId: string): Promise<DeliveryRecord | undefined>;
  /**
   * The reconciler put the delivery's kept request back on the queue: notes the time and
   * moves `pending_until` to `nowMs`, only if it is still `seen` (the value the caller read)
   * and the delivery is not final. False when the record moved on.
   */
  markRequeued(deliveryId: string, nowMs: number, seen: { readonly pending_until: string }): Promise<boolean>;
  /**
   * Fails a delivery stuck with no message that cannot be rebuilt (see `stranded`), with
   * `reason`, under the same condition as `markRequeued`. False when the record moved on.
   */
  failStranded(
    deliveryId: string,
    reason: string,
    nowMs: number,
    seen: { readonly pending_until: string },
  ): Promise<boolean>;
}
