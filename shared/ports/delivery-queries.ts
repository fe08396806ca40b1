import { ValidationError } from '../errors.ts';
import type { DeliveryRecord } from './delivery-store.ts';

/** A window of final failures: `webhooks failures`, and `webhooks deliveries --workflow`. */
export interface FailureQuery {
  /** ISO times, inclusive. */
  readonly since: string;
  readonly until: string;
  readonly organizationId?: string;
  readonly limit?: number;
}

/**
 * A failure query's bounds as the outcome log holds times (ISO, UTC, milliseconds), so both
 * stores compare them alike. A bound that is not a time is a `ValidationError` naming it.
 */
export function failureWindow(query: FailureQuery): { readonly since: string; readonly until: string } {
  return { since: isoBound('since', query.since), until: isoBound('until', query.until) };
}

function isoBound(name: string, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new ValidationError([{ path: name, reason: `not an ISO time: ${JSON.stringify(value)}` }]);
  return new Date(ms).toISOString();
}

/** When deliveries were created (ISO times, inclusive): the window of the listings by run and by workflow. */
export interface CreatedWindow {
  readonly since: string;
  readonly until: string;
}

export interface WorkflowQuery extends CreatedWindow {
  readonly workflowId: number;
  /** At most this many, the newest. */
  readonly limit?: number;
}

/**
 * Listings across deliveries, read from the outcome log's indexes: what the CLI shows and
 * where the reconciler finds its candidates. Reads only; every change of state is
 * `DeliveryStore`'s. A listing may lag a write by an index's propagation (on DynamoDB the
 * indexes are eventually consistent): read one record with `DeliveryStore.get` to act on it.
 */
export interface DeliveryQueries {
  /**
   * Every delivery of one run created in `window` (default: the outcome retention up to now),
   * ordered by node id, as whole records. No Scan: one Query per UTC day of the window on the
   * by-day index (and one on the legacy by-run index, for records created before by-day).
   */
  listByRun(workflowRunId: number, window?: CreatedWindow): Promise<DeliveryRecord[]>;
  /**
   * Every delivery of a workflow created in the window, whatever its status, newest first, as
   * whole records. No Scan, but it reads the by-day entries of every delivery of the window (each
   * of its days, every shard) and keeps the workflow's: its cost grows with all deliveries of the
   * window. Records created before the by-day index are not found.
   */
  listByWorkflow(query: WorkflowQuery): Promise<DeliveryRecord[]>;
  /**
   * Final failures in the window, newest first, as summaries from the failure indexes:
   * `attempt_log` and `replayed_at` are empty, `request` null and `dead_letter_pending` false
   * (see `DeliveryStore.get`). A bound that is not a time is a `ValidationError` naming it.
   */
  listFailures(query: FailureQuery): Promise<DeliveryRecord[]>;
  /**
   * Ids of non-final deliveries whose `pending_until` is before `beforeMs`, at most `limit`
   * (oldest first within a shard of the pending index): the reconciler's candidates.
   */
  listPending(beforeMs: number, limit: number): Promise<string[]>;
  /**
   * The whole records of these ids, read consistently, as `DeliveryStore.get` reads one, in no
   * particular order; an id with no record is left out. On DynamoDB one BatchGetItem per 100
   * ids, not a GetItem each: a waiter on many deliveries (`webhooks local`) reads them so.
   */
  getMany(deliveryIds: readonly string[]): Promise<DeliveryRecord[]>;
}
