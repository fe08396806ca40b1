import { FINAL_STATUSES, type DeliveryStatus } from './outcome.ts';

/**
 * The delivery state rules, pure: who may take the next attempt, who may take
 * over a lost one, and what the reconciler does with a record left behind. The
 * stores only translate these rules into their own writes (DynamoDB: condition
 * expressions; the in-memory store: plain code), so both decide the same way.
 */

/** What the rules read of a record. `undefined` fields are absent attributes. */
export interface DeliveryState {
  readonly status: DeliveryStatus;
  /** Attempts started in this series, including one whose outcome a crash lost. */
  readonly attempts: number;
  /** Epoch ms until which the attempt in flight is held. */
  readonly leaseUntilMs?: number | undefined;
  /** Epoch ms at which the next attempt is due. */
  readonly nextAttemptAtMs?: number | undefined;
  /** The id of the claim that took the attempt in flight. */
  readonly claimId?: string | undefined;
}

/** What a claim asks for. */
export interface ClaimRequest {
  /** The message's `retry.max_attempts`. */
  readonly maxAttempts: number;
  /** This claim's own id: a retried request of the same claim finds it on the record. */
  readonly claimId: string;
}

/** How a claim is decided. */
export type ClaimDecision =
  /** Start attempt `attempt` (`attempts + 1`; 1 for a new record). */
  | { readonly kind: 'next'; readonly attempt: number }
  /**
   * The attempt in flight lost its worker (its lease ran out with no outcome):
   * send it again under the same number. It was counted when it was first
   * claimed, so a takeover never goes past `max_attempts`.
   */
  | { readonly kind: 'takeover'; readonly attempt: number }
  /** This very claim already landed (its answer was lost and the request retried): the attempt is ours. */
  | { readonly kind: 'own'; readonly attempt: number }
  | { readonly kind: 'final'; readonly status: DeliveryStatus }
  | { readonly kind: 'wait'; readonly seconds: number }
  | { readonly kind: 'exhausted'; readonly attempts: number };

/**
 * Decides a claim on `state` (undefined: no record yet) at `nowMs`.
 *
 * Order matters: a final record is a duplicate; a record holding this claim's id
 * is ours whatever its lease says; a held lease comes before exhaustion (the
 * attempt may still succeed); a lost attempt is taken over, not counted again.
 */
export function decideClaim(state: DeliveryState | undefined, request: ClaimRequest, nowMs: number): ClaimDecision {
  if (state === undefined) return { kind: 'next', attempt: 1 };
  if (FINAL_STATUSES.has(state.status)) return { kind: 'final', status: state.status };
  if (state.status === 'sending' && state.claimId === request.claimId) return { kind: 'own', attempt: state.attempts };
  if (state.leaseUntilMs !== undefined && state.leaseUntilMs > nowMs) {
    return { kind: 'wait', seconds: secondsUntil(state.leaseUntilMs, nowMs) };
  }
  if (state.status === 'sending' && state.attempts >= 1) return { kind: 'takeover', attempt: state.attempts };
  if (state.attempts >= request.maxAttempts) return { kind: 'exhausted', attempts: state.attempts };
  if (state.nextAttemptAtMs !== undefined && state.nextAttemptAtMs > nowMs) {
    return { kind: 'wait', seconds: secondsUntil(state.nextAttemptAtMs, nowMs) };
  }
  return { kind: 'next', attempt: state.attempts + 1 };
}

/** Whole seconds until `atMs`, at least 1. */
export function secondsUntil(atMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((atMs - nowMs) / 1000));
}

/**
 * When a non-final record is overdue: the time by which something should have
 * happened to it (its lease ends, or its next attempt is due). A record past
 * this plus the reconciler's grace has most likely lost its queue message.
 */
export function pendingUntil(state: DeliveryState, fallbackMs: number): number {
  if (state.status === 'sending' && state.leaseUntilMs !== undefined) return state.leaseUntilMs;
  if (state.status === 'retrying' && state.nextAttemptAtMs !== undefined) return state.nextAttemptAtMs;
  return fallbackMs;
}

/** Whether a reopen (replay, redrive) may start a new series: only a delivered or failed record. */
export function mayReopen(status: DeliveryStatus | undefined): boolean {
  return status === 'delivered' || status === 'failed';
}

/** What the reconciler reads of a record it found in the pending index. */
export interface StuckCandidate extends DeliveryState {
  /** Epoch ms the record's pending index entry says it was due by. */
  readonly pendingUntilMs: number | undefined;
  /** Times the reconciler already put it back on the queue. */
  readonly reconciled: number;
  /** Whether the record keeps the rendered request the reconciler can enqueue again. */
  readonly requestKept: boolean;
}

export type ReconcileDecision =
  /** Not stuck (any more): finished, or moving, since the index was read. */
  | { readonly kind: 'skip'; readonly why: string }
  /** Put its kept request back on the delivery queue. */
  | { readonly kind: 'requeue' }
  /** Mark it failed: it cannot be rebuilt, or it was put back often enough. */
  | { readonly kind: 'fail'; readonly reason: string };

/**
 * Decides what the reconciler does with a record: one that is non-final past its
 * lease or due time by more than `graceMs` has most likely lost its message.
 */
export function decideReconcile(
  candidate: StuckCandidate | undefined,
  nowMs: number,
  options: { readonly graceMs: number; readonly maxReconciles: number },
): ReconcileDecision {
  if (candidate === undefined) return { kind: 'skip', why: 'no such record' };
  if (FINAL_STATUSES.has(candidate.status)) return { kind: 'skip', why: `it is ${candidate.status}` };
  if (candidate.pendingUntilMs === undefined) return { kind: 'skip', why: 'it is not pending' };
  if (candidate.pendingUntilMs + options.graceMs > nowMs) return { kind: 'skip', why: 'it is not overdue' };
  if (candidate.leaseUntilMs !== undefined && candidate.leaseUntilMs > nowMs)
    return { kind: 'skip', why: 'its lease is held' };
  if (!candidate.requestKept) {
    return {
      kind: 'fail',
      reason:
        `reconciler: stuck ${candidate.status} at attempt ${candidate.attempts} with no queue message, and its request was not kept (it is kept from the first retry on), so it cannot be rebuilt` +
        (candidate.status === 'sending'
          ? '; the outcome of that attempt was lost: it may have reached the endpoint'
          : '') +
        '; emit the run again to resend it',
    };
  }
  if (candidate.reconciled >= options.maxReconciles) {
    return {
      kind: 'fail',
      reason: `reconciler: stuck ${candidate.status} at attempt ${candidate.attempts} after being put back on the queue ${candidate.reconciled} times; replay it once the cause is fixed`,
    };
  }
  return { kind: 'requeue' };
}
