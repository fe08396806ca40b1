import { randomUUID } from 'node:crypto';
import { decideClaim, mayReopen } from '../domain/delivery-state.ts';
import { FINAL_STATUSES, type DeliveryMessage } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import { DeliveryStateError } from '../errors.ts';
import {
  type CreatedWindow,
  type DeliveryQueries,
  type FailureQuery,
  failureWindow,
  type WorkflowQuery,
} from '../ports/delivery-queries.ts';
import type { AttemptRecord, Claim, DeliveryRecord, DeliveryStore } from '../ports/delivery-store.ts';
import { MAX_KEPT_REQUEST_BYTES } from './dynamo-delivery-store.ts';

/** A record as the memory store holds it: the port's record, and the state the rules read. */
interface Held {
  record: Mutable<DeliveryRecord>;
  leaseUntilMs?: number | undefined;
  nextAttemptAtMs?: number | undefined;
  claimId?: string | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The outcome log in memory: the same state rules as the DynamoDB store (both decide with
 * `shared/domain/delivery-state.ts`), and its listings, for unit tests of the use cases and a
 * contract test that runs one suite against both. Single process; every call is atomic.
 */
export function createMemoryDeliveryStore(): DeliveryStore & DeliveryQueries & { readonly size: number } {
  const items = new Map<string, Held>();
  const iso = (ms: number) => new Date(ms).toISOString();
  const copy = (r: DeliveryRecord): DeliveryRecord => structuredClone(r);

  function claim(message: DeliveryMessage, nowMs: number, leaseMs: number): Promise<Claim> {
    const held = items.get(message.delivery_id);
    const state =
      held === undefined
        ? undefined
        : {
            status: held.record.status,
            attempts: held.record.attempts,
            leaseUntilMs: held.leaseUntilMs,
            nextAttemptAtMs: held.nextAttemptAtMs,
            claimId: held.claimId,
          };
    const claimId = randomUUID();
    const decision = decideClaim(state, { maxAttempts: message.retry.max_attempts, claimId }, nowMs);
    switch (decision.kind) {
      case 'next':
      case 'takeover':
      case 'own': {
        const h = held ?? { record: fresh(message, nowMs) };
        if (held === undefined) items.set(message.delivery_id, h);
        h.record.attempts = decision.attempt;
        h.record.max_attempts = message.retry.max_attempts;
        h.record.status = 'sending';
        h.record.updated_at = iso(nowMs);
        h.record.next_attempt_at = null;
        h.leaseUntilMs = nowMs + leaseMs;
        h.nextAttemptAtMs = decision.kind === 'takeover' ? h.nextAttemptAtMs : undefined;
        h.claimId = claimId;
        h.record.lease_until = iso(nowMs + leaseMs);
        h.record.pending_until = iso(nowMs + leaseMs);
        return Promise.resolve({ kind: 'claimed', attempt: decision.attempt });
      }
      default:
        return Promise.resolve(decision);
    }
  }

  function recordAttempt(
    message: DeliveryMessage,
    attempt: AttemptRecord,
    next: { readonly status: 'delivered' | 'failed' } | { readonly status: 'retrying'; readonly atMs: number },
    nowMs: number,
  ): Promise<void> {
    const held = items.get(message.delivery_id);
    const r = held?.record;
    if (r === undefined || r.attempts !== attempt.attempt || r.status !== 'sending') {
      const last = r?.attempt_log.at(-1);
      if (
        r !== undefined &&
        r.attempts === attempt.attempt &&
        r.status === next.status &&
        last?.attempt === attempt.attempt &&
        last.at === attempt.at
      )
        return Promise.resolve();
      const why = r === undefined ? 'the record does not exist' : `the record is at attempt ${r.attempts}, ${r.status}`;
      return Promise.reject(
        new DeliveryStateError(
          message.delivery_id,
          `cannot record attempt ${attempt.attempt}: it is no longer in flight (${why})`,
        ),
      );
    }
    r.attempt_log = [...r.attempt_log, { ...attempt }];
    r.status = next.status;
    r.updated_at = iso(nowMs);
    r.last_status_code = attempt.status_code;
    r.last_error = attempt.error_message;
    held!.leaseUntilMs = undefined;
    held!.claimId = undefined;
    r.lease_until = null;
    // As the DynamoDB store: the message is serialized only when it is kept (a retry, a failure).
    const keep =
      next.status !== 'delivered' && Buffer.byteLength(JSON.stringify(message), 'utf8') <= MAX_KEPT_REQUEST_BYTES;
    if (next.status === 'retrying') {
      held!.nextAttemptAtMs = next.atMs;
      r.next_attempt_at = iso(next.atMs);
      r.pending_until = iso(next.atMs);
      if (keep) Object.assign(r, { request: structuredClone(message), request_kept: true });
    } else {
      held!.nextAttemptAtMs = undefined;
      r.next_attempt_at = null;
      r.pending_until = null;
      r.final_at = iso(nowMs);
      if (next.status === 'failed') {
        r.dead_letter_pending = true;
        Object.assign(
          r,
          keep ? { request: structuredClone(message), request_kept: true } : { request: null, request_kept: false },
        );
      } else Object.assign(r, { request: null, request_kept: false });
    }
    return Promise.resolve();
  }

  function recordFinal(
    message: DeliveryMessage,
    status: 'failed' | 'skipped',
    reason: string,
    nowMs: number,
  ): Promise<void> {
    if (items.has(message.delivery_id)) return Promise.resolve();
    const record = fresh(message, nowMs);
    Object.assign(record, { status, last_error: reason, final_at: iso(nowMs), pending_until: null, lease_until: null });
    items.set(message.delivery_id, { record });
    return Promise.resolve();
  }

  function markDeadLettered(deliveryId: string, seen: { readonly final_at: string | null }): Promise<void> {
    const r = items.get(deliveryId)?.record;
    if (seen.final_at !== null && r !== undefined && r.final_at === seen.final_at) r.dead_letter_pending = false;
    return Promise.resolve();
  }

  function reopen(
    deliveryId: string,
    nowMs: number,
    seen?: { readonly final_at: string | null },
  ): Promise<DeliveryRecord> {
    const held = items.get(deliveryId);
    const r = held?.record;
    if (r === undefined) return Promise.reject(new DeliveryStateError(deliveryId, 'no such delivery'));
    if (seen !== undefined && r.final_at !== seen.final_at)
      return Promise.reject(
        new DeliveryStateError(deliveryId, 'it changed since it was read (reopened or finished by someone else)'),
      );
    if (!mayReopen(r.status))
      return Promise.reject(
        new DeliveryStateError(deliveryId, `it is ${r.status}; only a delivered or failed delivery can be reopened`),
      );
    Object.assign(r, {
      status: 'pending',
      attempts: 0,
      updated_at: iso(nowMs),
      final_at: null,
      next_attempt_at: null,
      dead_letter_pending: false,
      stranded: false,
      pending_until: iso(nowMs),
      lease_until: null,
    });
    r.replayed_at = [...r.replayed_at, iso(nowMs)];
    held!.leaseUntilMs = undefined;
    held!.nextAttemptAtMs = undefined;
    held!.claimId = undefined;
    return Promise.resolve(copy(r));
  }

  function get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const r = items.get(deliveryId)?.record;
    return Promise.resolve(r === undefined ? undefined : copy(r));
  }

  // async: a bound that is not a time rejects, as the DynamoDB queries' do.
  async function listByRun(workflowRunId: number, window?: CreatedWindow): Promise<DeliveryRecord[]> {
    const bounds = window === undefined ? undefined : failureWindow(window);
    const found = [...items.values()]
      .map((h) => h.record)
      .filter((r) => r.workflow_run_id === workflowRunId)
      .filter((r) => bounds === undefined || (r.created_at >= bounds.since && r.created_at <= bounds.until));
    return found.sort((a, b) => (a.node_id < b.node_id ? -1 : 1)).map(copy);
  }

  async function listByWorkflow(query: WorkflowQuery): Promise<DeliveryRecord[]> {
    const { since, until } = failureWindow(query);
    return [...items.values()]
      .map((h) => h.record)
      .filter((r) => r.workflow_id === query.workflowId && r.created_at >= since && r.created_at <= until)
      .sort((a, b) =>
        a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.delivery_id < b.delivery_id ? -1 : 1,
      )
      .slice(0, query.limit ?? Number.POSITIVE_INFINITY)
      .map(copy);
  }

  // async: a bound that is not a time rejects, as the DynamoDB store's does.
  async function listFailures(query: FailureQuery): Promise<DeliveryRecord[]> {
    const { since, until } = failureWindow(query);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return [];
    const found = [...items.values()]
      .map((h) => h.record)
      .filter((r) => r.status === 'failed' && r.final_at !== null && r.final_at >= since && r.final_at <= until)
      .filter((r) => query.organizationId === undefined || r.organization_id === query.organizationId)
      .sort((a, b) => ((a.final_at ?? '') < (b.final_at ?? '') ? 1 : -1))
      .slice(0, limit)
      .map(summaryOf);
    return found;
  }

  /** What the failure indexes carry (see FAILURE_SUMMARY_ATTRIBUTES): no log, request, replays or dead-letter mark. */
  function summaryOf(r: DeliveryRecord): DeliveryRecord {
    const { empty_placeholders: _, ...summary } = copy(r);
    return { ...summary, attempt_log: [], replayed_at: [], request: null, dead_letter_pending: false };
  }

  function listPending(beforeMs: number, limit: number): Promise<string[]> {
    const before = iso(beforeMs);
    const ids = [...items.values()]
      .filter(
        (h) =>
          !FINAL_STATUSES.has(h.record.status) && h.record.pending_until != null && h.record.pending_until < before,
      )
      .map((h) => h.record.delivery_id);
    return Promise.resolve(ids.slice(0, limit));
  }

  function pendingAsSeen(deliveryId: string, seen: string): Held | undefined {
    const held = items.get(deliveryId);
    if (held === undefined || FINAL_STATUSES.has(held.record.status) || held.record.pending_until !== seen)
      return undefined;
    return held;
  }

  function markRequeued(deliveryId: string, nowMs: number, seen: { readonly pending_until: string }): Promise<boolean> {
    const held = pendingAsSeen(deliveryId, seen.pending_until);
    if (held === undefined) return Promise.resolve(false);
    held.record.pending_until = iso(nowMs);
    held.record.reconciled_at = [...(held.record.reconciled_at ?? []), iso(nowMs)];
    held.record.updated_at = iso(nowMs);
    return Promise.resolve(true);
  }

  function failStranded(
    deliveryId: string,
    reason: string,
    nowMs: number,
    seen: { readonly pending_until: string },
  ): Promise<boolean> {
    const held = pendingAsSeen(deliveryId, seen.pending_until);
    if (held === undefined) return Promise.resolve(false);
    Object.assign(held.record, {
      status: 'failed',
      last_error: reason,
      final_at: iso(nowMs),
      stranded: true,
      updated_at: iso(nowMs),
      pending_until: null,
      lease_until: null,
      next_attempt_at: null,
      dead_letter_pending: false,
    });
    held.leaseUntilMs = undefined;
    held.nextAttemptAtMs = undefined;
    held.claimId = undefined;
    return Promise.resolve(true);
  }

  return {
    get size() {
      return items.size;
    },
    claim,
    recordAttempt,
    recordFinal,
    markDeadLettered,
    reopen,
    get,
    async getMany(deliveryIds: readonly string[]): Promise<DeliveryRecord[]> {
      const records = await Promise.all(deliveryIds.map(get));
      return records.filter((r): r is DeliveryRecord => r !== undefined);
    },
    listByRun,
    listByWorkflow,
    listFailures,
    listPending,
    markRequeued,
    failStranded,
  };

  function fresh(message: DeliveryMessage, nowMs: number): Mutable<DeliveryRecord> {
    return {
      delivery_id: message.delivery_id,
      organization_id: message.organization_id,
      workflow_id: message.workflow_id,
      workflow_run_id: message.workflow_run_id,
      node_id: message.node_id,
      node_name: message.node_name,
      method: message.method,
      endpoint_host: endpointHost(message.url),
      status: 'sending',
      attempts: 0,
      max_attempts: message.retry.max_attempts,
      last_status_code: null,
      last_error: null,
      created_at: iso(nowMs),
      updated_at: iso(nowMs),
      next_attempt_at: null,
      final_at: null,
      attempt_log: [],
      replayed_at: [],
      request: null,
      request_kept: false,
      dead_letter_pending: false,
      lease_until: null,
      pending_until: null,
      reconciled_at: [],
      stranded: false,
    };
  }
}
