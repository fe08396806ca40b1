import type { DeliveryMessage } from '../domain/delivery.ts';
import { decideReconcile, type StuckCandidate } from '../domain/delivery-state.ts';
import { countDeliveries, DIMENSION, METRIC } from '../observability/metrics.ts';
import type { Clock } from '../ports/clock.ts';
import type { DeliveryQueries } from '../ports/delivery-queries.ts';
import type { DeliveryRecord, DeliveryStore } from '../ports/delivery-store.ts';
import type { Log, Metrics } from './observability.ts';

/** How long past its lease or due time a record may sit before it counts as stuck. Default 15 min. */
export const DEFAULT_RECONCILE_GRACE_MS = 15 * 60_000;
/** Times one delivery is put back on the queue before the reconciler fails it instead. */
export const DEFAULT_MAX_RECONCILES = 3;
/** Records looked at per run: a run stays well inside its function timeout; the rest wait for the next. */
export const DEFAULT_RECONCILE_LIMIT = 500;
/**
 * Messages waiting on the delivery queue at which a run does nothing: behind a
 * backlog, an overdue delivery's message is most likely still queued, and a copy
 * put back would only lengthen the queue (and a first attempt failed as stranded
 * would only be reopened when its message turns up).
 */
export const DEFAULT_RECONCILE_PAUSE_BACKLOG = 1_000;

export interface ReconcileDeps {
  readonly store: DeliveryStore;
  /** Where the candidates come from: the pending index. */
  readonly queries: Pick<DeliveryQueries, 'listPending'>;
  /** Puts a delivery message back on the delivery queue. */
  readonly enqueue: (message: DeliveryMessage) => Promise<void>;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly graceMs?: number;
  readonly maxReconciles?: number;
  readonly limit?: number;
  /** Messages waiting (visible) on the delivery queue; without it, or when it fails, every run acts. */
  readonly backlog?: () => Promise<number>;
  /** See {@link DEFAULT_RECONCILE_PAUSE_BACKLOG}. */
  readonly pauseAtBacklog?: number;
}

/** What one run did, by delivery id. */
export interface ReconcileReport {
  readonly examined: number;
  readonly requeued: readonly string[];
  readonly failed: readonly string[];
  /** Found in the index but moving again by the time they were read, or taken by another run. */
  readonly skipped: number;
  /** Set when the run did nothing because this many messages were waiting on the queue. */
  readonly pausedAtBacklog?: number;
}

/**
 * Finds deliveries that are non-final past their lease or next due time plus a grace
 * (their queue message is gone: a purged queue, a message past its retention, a
 * crash of the local stack), from the pending index, never a Scan. Each is put back
 * on the queue from its kept request, or failed with its reason when it cannot be
 * rebuilt. Every change is conditional on the record being as read, so two runs at
 * once, or a delivery that moves on meanwhile, do no harm: a duplicate message only
 * finds the delivery busy or final.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const graceMs = deps.graceMs ?? DEFAULT_RECONCILE_GRACE_MS;
  const maxReconciles = deps.maxReconciles ?? DEFAULT_MAX_RECONCILES;
  const waiting = await backlogOf(deps);
  if (waiting !== undefined && waiting >= (deps.pauseAtBacklog ?? DEFAULT_RECONCILE_PAUSE_BACKLOG)) {
    deps.metrics.count(METRIC.reconciled, 1, { [DIMENSION.action]: 'paused' });
    deps.log.info('reconciler run paused: the delivery queue has a backlog, overdue deliveries are most likely in it', {
      waiting,
    });
    return { examined: 0, requeued: [], failed: [], skipped: 0, pausedAtBacklog: waiting };
  }
  const now = deps.clock.now();
  const ids = await deps.queries.listPending(now - graceMs, deps.limit ?? DEFAULT_RECONCILE_LIMIT);
  const requeued: string[] = [];
  const failed: string[] = [];
  let skipped = 0;
  for (const id of ids) {
    const log = deps.log.child({ delivery_id: id });
    try {
      const record = await deps.store.get(id);
      const decision = decideReconcile(candidateOf(record), now, { graceMs, maxReconciles });
      const seen = { pending_until: record?.pending_until ?? '' };
      if (decision.kind === 'skip' || record === undefined) {
        skipped += 1;
        continue;
      }
      if (decision.kind === 'fail') {
        if (await deps.store.failStranded(id, decision.reason, now, seen)) {
          failed.push(id);
          countDeliveries(deps.metrics, 'failed');
          log.warn('stuck delivery failed by the reconciler', {
            outcome: 'failed',
            error: decision.reason,
            status: record.status,
            attempts: record.attempts,
          });
        } else skipped += 1;
        continue;
      }
      // Marked first: if the enqueue then fails, the next run finds it again after the grace.
      if (!(await deps.store.markRequeued(id, now, seen)) || record.request === null) {
        skipped += 1;
        continue;
      }
      await deps.enqueue(record.request);
      requeued.push(id);
      log.warn('stuck delivery put back on the queue by the reconciler', {
        status: record.status,
        attempts: record.attempts,
        reconciled: (record.reconciled_at?.length ?? 0) + 1,
      });
    } catch (error) {
      // One record never stops the others; it is still in the index for the next run.
      log.error('could not reconcile a stuck delivery', { error });
    }
  }
  if (requeued.length > 0) deps.metrics.count(METRIC.reconciled, requeued.length, { [DIMENSION.action]: 'requeued' });
  if (failed.length > 0) deps.metrics.count(METRIC.reconciled, failed.length, { [DIMENSION.action]: 'failed' });
  deps.log.info('reconciler run', { examined: ids.length, requeued: requeued.length, failed: failed.length, skipped });
  return { examined: ids.length, requeued, failed, skipped };
}

/** The queue's backlog, or undefined when it cannot be read (the run then acts as if there were none). */
async function backlogOf(deps: ReconcileDeps): Promise<number | undefined> {
  if (deps.backlog === undefined) return undefined;
  try {
    return await deps.backlog();
  } catch (error) {
    deps.log.warn('could not read the delivery queue backlog; reconciling anyway', { error });
    return undefined;
  }
}

function candidateOf(record: DeliveryRecord | undefined): StuckCandidate | undefined {
  if (record === undefined) return undefined;
  return {
    status: record.status,
    attempts: record.attempts,
    leaseUntilMs: msOf(record.lease_until),
    nextAttemptAtMs: msOf(record.next_attempt_at),
    pendingUntilMs: msOf(record.pending_until),
    reconciled: record.reconciled_at?.length ?? 0,
    requestKept: record.request !== null,
  };
}

function msOf(iso: string | null | undefined): number | undefined {
  if (iso === null || iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}
