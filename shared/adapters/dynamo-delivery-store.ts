import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { randomUUID } from 'node:crypto';
import { decideClaim, mayReopen } from '../domain/delivery-state.ts';
import type { DeliveryMessage, DeliveryStatus } from '../domain/delivery.ts';
import { DeliveryStateError, WebhookError } from '../errors.ts';
import type { AttemptRecord, Claim, DeliveryRecord, DeliveryStore } from '../ports/delivery-store.ts';
import { ATTR, claimedAttempt, type OutcomeItem, parseItem, type RawItem, stateOf, toRecord } from './outcome-item.ts';
import { type ConditionalUpdate, createOutcomeWrites, type NextStep } from './outcome-writes.ts';

/** Requests sent to DynamoDB since the store was made; a conditional write that fails still counts (and is billed). */
export interface DeliveryStoreStats {
  /** UpdateItem and PutItem requests. */
  readonly writes: number;
  /** GetItem requests (a record, or the item a refused write found). */
  readonly reads: number;
}

/**
 * The outcome log on DynamoDB, with its request counts.
 *
 * Cost: a delivery that succeeds on its first attempt takes exactly 2 write
 * requests (the claim and the outcome); each further attempt takes 2 more, and a final
 * failure 1 more (clearing its dead-letter mark once the message is on the DLQ). A
 * duplicate message that finds the delivery final costs one failed conditional
 * write (and a GetItem where the old item does not come back with the failure,
 * as on dynalite).
 *
 * A final failure recorded by `recordAttempt` also keeps the rendered message
 * (`request`, its JSON, up to {@link MAX_KEPT_REQUEST_BYTES}) in the same
 * UpdateItem, so `webhooks replay` can send it again: no extra request, but
 * that write is billed by the larger item (the failure indexes carry only the
 * `request_kept` flag, not the request). Only failures pay for it, and the
 * same message already sits on the dead-letter queue for 14 days. A delivered
 * outcome removes it again.
 *
 * `recordAttempt` rejects with `DeliveryStateError` when the attempt is no longer
 * in flight (a later claim overtook it, or it was already recorded with another
 * outcome); repeating the exact outcome already recorded is accepted, so a
 * retried request whose first try landed does not fail. `reopen` rejects with
 * `DeliveryStateError` for a missing delivery or one that is not delivered or
 * failed.
 */
export interface DynamoDeliveryStore extends DeliveryStore {
  readonly stats: DeliveryStoreStats;
}

export interface DynamoDeliveryStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Items expire this many days after their last write (DynamoDB TTL on `expires_at`). */
  readonly retentionDays: number;
}

/**
 * Largest rendered request kept on a failed delivery, in bytes of its JSON. A
 * webhook payload is a few KB; this leaves room under the 400 KB item limit
 * for 25 attempts and a few replays. A larger one is not kept (its copy on the
 * dead-letter queue can still be redriven).
 */
export const MAX_KEPT_REQUEST_BYTES = 64 * 1024;

/**
 * Creates the DynamoDB `DeliveryStore`. Every state change is one conditional
 * write, so duplicate messages, crashed workers and concurrent deliverers can
 * never take more attempts than a delivery allows.
 */
export function createDynamoDeliveryStore(options: DynamoDeliveryStoreOptions): DynamoDeliveryStore {
  const { client, tableName } = options;
  const writes = createOutcomeWrites(options.retentionDays);
  const counts = { writes: 0, reads: 0 };
  const stats: DeliveryStoreStats = {
    get writes() {
      return counts.writes;
    },
    get reads() {
      return counts.reads;
    },
  };

  const keyOf = (deliveryId: string): RawItem => marshall({ [ATTR.pk]: deliveryId });

  async function readItem(deliveryId: string): Promise<OutcomeItem | undefined> {
    counts.reads += 1;
    const out = await client.send(
      new GetItemCommand({ TableName: tableName, Key: keyOf(deliveryId), ConsistentRead: true }),
    );
    return out.Item === undefined ? undefined : parseItem(out.Item);
  }

  /**
   * The item as a failed conditional write saw it. DynamoDB returns it with the
   * error (ReturnValuesOnConditionCheckFailure); emulators that ignore that
   * parameter (dynalite) get a consistent GetItem instead.
   */
  async function itemAfterConflict(
    error: ConditionalCheckFailedException,
    deliveryId: string,
  ): Promise<OutcomeItem | undefined> {
    return error.Item === undefined ? await readItem(deliveryId) : parseItem(error.Item);
  }

  /**
   * The claim: one conditional UpdateItem that starts the next attempt (the rules are
   * `decideClaim`; its condition is `claimCondition`). When it is refused, the item as it was
   * decides why: a retried request of this very claim finds its own claim id (the answer of the
   * first try was lost) and gets its attempt back; an attempt whose worker died is taken over
   * with a second conditional write, under its own number.
   */
  async function claim(message: DeliveryMessage, nowMs: number, leaseMs: number): Promise<Claim> {
    const claimId = randomUUID();
    let item: OutcomeItem | undefined;
    try {
      counts.writes += 1;
      const out = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(message.delivery_id),
          ...writes.claim(message, claimId, nowMs, leaseMs),
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const attempt = claimedAttempt(out.Attributes);
      if (attempt === undefined)
        throw new WebhookError(`delivery ${message.delivery_id}: claim returned no attempt count`);
      return { kind: 'claimed', attempt };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      item = await itemAfterConflict(error, message.delivery_id);
    }
    // Gone between the write and the read (TTL): look again, the next claim recreates it.
    if (item === undefined) return { kind: 'wait', seconds: 1 };
    const decision = decideClaim(stateOf(item), { maxAttempts: message.retry.max_attempts, claimId }, nowMs);
    switch (decision.kind) {
      case 'own':
        return { kind: 'claimed', attempt: decision.attempt };
      case 'takeover':
        return takeOver(message, item, decision.attempt, claimId, nowMs, leaseMs);
      case 'next':
        // The item changed between the write and the read: whatever blocked the claim is gone.
        return { kind: 'wait', seconds: 1 };
      default:
        return decision;
    }
  }

  /**
   * Takes over attempt `attempt`, whose lease ran out with no outcome (its worker died, or
   * its outcome write was lost): the same number again, so a crash never costs an attempt
   * past `max_attempts`. Held only if the item is still the one read; a retried request of
   * this write finds its own claim id.
   */
  async function takeOver(
    message: DeliveryMessage,
    seen: OutcomeItem,
    attempt: number,
    claimId: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<Claim> {
    try {
      counts.writes += 1;
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(message.delivery_id),
          ...writes.takeover(message, seen, attempt, claimId, nowMs, leaseMs),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed', attempt };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = await itemAfterConflict(error, message.delivery_id);
      if (item === undefined) return { kind: 'wait', seconds: 1 };
      const again = decideClaim(stateOf(item), { maxAttempts: message.retry.max_attempts, claimId }, nowMs);
      if (again.kind === 'own') return { kind: 'claimed', attempt: again.attempt };
      // Another worker took it over first, or it moved on: look again later.
      if (again.kind === 'final' || again.kind === 'wait' || again.kind === 'exhausted') return again;
      return { kind: 'wait', seconds: 1 };
    }
  }

  async function recordAttempt(
    message: DeliveryMessage,
    attempt: AttemptRecord,
    next: NextStep,
    nowMs: number,
  ): Promise<void> {
    // Kept on a retry and a final failure, in this same write (no extra request): what `replay`
    // and the reconciler send again. A first-attempt success never pays for it.
    const request = next.status === 'failed' || next.status === 'retrying' ? JSON.stringify(message) : undefined;
    const keepsRequest = request !== undefined && Buffer.byteLength(request, 'utf8') <= MAX_KEPT_REQUEST_BYTES;
    const send = (kept: string | undefined) =>
      client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(message.delivery_id),
          ...writes.attempt(message, attempt, next, nowMs, kept),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    try {
      counts.writes += 1;
      try {
        await send(keepsRequest ? request : undefined);
      } catch (error) {
        // The failure must be recorded whatever the kept request does to the item: if
        // DynamoDB refuses the write (an item grown near 400 KB by many replays), it is
        // written once more without the request. Any other refusal repeats and is thrown.
        if (!keepsRequest || !isValidationException(error)) throw error;
        counts.writes += 1;
        await send(undefined);
      }
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = await itemAfterConflict(error, message.delivery_id);
      // The SDK retries a request whose answer was lost; if the first try landed, this is done.
      if (item !== undefined && alreadyRecorded(item, attempt, next.status)) return;
      const held =
        item === undefined
          ? 'the record does not exist'
          : `the record is at attempt ${item[ATTR.attempts]}, ${item[ATTR.status]}`;
      throw new DeliveryStateError(
        message.delivery_id,
        `cannot record attempt ${attempt.attempt}: it is no longer in flight (${held})`,
        { cause: error },
      );
    }
  }

  async function recordFinal(
    message: DeliveryMessage,
    status: 'failed' | 'skipped',
    reason: string,
    nowMs: number,
  ): Promise<void> {
    try {
      counts.writes += 1;
      await client.send(new PutItemCommand({ TableName: tableName, ...writes.final(message, status, reason, nowMs) }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async function markDeadLettered(deliveryId: string, seen: { readonly final_at: string | null }): Promise<void> {
    if (seen.final_at === null) return;
    try {
      counts.writes += 1;
      await client.send(
        new UpdateItemCommand({ TableName: tableName, Key: keyOf(deliveryId), ...writes.deadLettered(seen.final_at) }),
      );
    } catch (error) {
      // Reopened or failed again since: that series keeps its own mark.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async function reopen(
    deliveryId: string,
    nowMs: number,
    seen?: { readonly final_at: string | null },
  ): Promise<DeliveryRecord> {
    try {
      counts.writes += 1;
      const out = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(deliveryId),
          ...writes.reopen(deliveryId, nowMs, seen),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return toRecord(parseItem(out.Attributes ?? {}));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = await itemAfterConflict(error, deliveryId);
      const reason =
        item === undefined
          ? 'no such delivery'
          : seen !== undefined && (item[ATTR.finalAt] ?? null) !== seen.final_at
            ? 'it changed since it was read (reopened or finished by someone else)'
            : !mayReopen(item[ATTR.status])
              ? `it is ${item[ATTR.status]}; only a delivered or failed delivery can be reopened`
              : 'it changed since it was read';
      throw new DeliveryStateError(deliveryId, reason, { cause: error });
    }
  }

  async function get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const item = await readItem(deliveryId);
    return item === undefined ? undefined : toRecord(item);
  }

  /** One of the reconciler's writes: false when the record moved on since it was read. */
  async function sendPending(deliveryId: string, update: ConditionalUpdate): Promise<boolean> {
    try {
      counts.writes += 1;
      await client.send(new UpdateItemCommand({ TableName: tableName, Key: keyOf(deliveryId), ...update }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  function markRequeued(deliveryId: string, nowMs: number, seen: { readonly pending_until: string }): Promise<boolean> {
    return sendPending(deliveryId, writes.requeued(nowMs, seen.pending_until));
  }

  function failStranded(
    deliveryId: string,
    reason: string,
    nowMs: number,
    seen: { readonly pending_until: string },
  ): Promise<boolean> {
    return sendPending(deliveryId, writes.stranded(reason, nowMs, seen.pending_until));
  }

  return {
    stats,
    claim,
    recordAttempt,
    markDeadLettered,
    recordFinal,
    reopen,
    get,
    markRequeued,
    failStranded,
  };
}

/** Whether the item already holds exactly this outcome of this attempt as its latest. */
function alreadyRecorded(item: OutcomeItem, attempt: AttemptRecord, status: DeliveryStatus): boolean {
  const last = item[ATTR.attemptLog]?.at(-1);
  return (
    item[ATTR.attempts] === attempt.attempt &&
    item[ATTR.status] === status &&
    last !== undefined &&
    last.attempt === attempt.attempt &&
    last.at === attempt.at
  );
}

function isValidationException(error: unknown): boolean {
  return error instanceof Error && error.name === 'ValidationException';
}
