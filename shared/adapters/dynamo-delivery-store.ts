import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { convertToAttr, marshall, type NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { randomUUID } from 'node:crypto';
import { decideClaim, mayReopen } from '../domain/delivery-state.ts';
import { FINAL_STATUSES } from '../domain/delivery.ts';
import type { DeliveryMessage, DeliveryStatus } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import { DeliveryStateError, WebhookError } from '../errors.ts';
import type { AttemptRecord, Claim, DeliveryRecord, DeliveryStore } from '../ports/delivery-store.ts';
import {
  ATTR,
  attemptItem,
  claimedAttempt,
  iso,
  type OutcomeItem,
  parseItem,
  type RawItem,
  shardOf,
  stateOf,
  toRecord,
  truncate,
  utcDay,
} from './outcome-item.ts';

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
  const { client, tableName, retentionDays } = options;
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
  const expiresAt = (nowMs: number): number => Math.floor(nowMs / 1000) + retentionDays * 86_400;

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
   * `decideClaim`; this is their condition). When it is refused, the item as it was decides
   * why: a retried request of this very claim finds its own claim id (the answer of the first
   * try was lost) and gets its attempt back; an attempt whose worker died is taken over with a
   * second conditional write, under its own number.
   */
  async function claim(message: DeliveryMessage, nowMs: number, leaseMs: number): Promise<Claim> {
    const claimId = randomUUID();
    let item: OutcomeItem | undefined;
    try {
      counts.writes += 1;
      const out = await client.send(nextAttemptUpdate(message, claimId, nowMs, leaseMs));
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

  /** Starts attempt `attempts + 1`, creating the record on first sight. */
  function nextAttemptUpdate(
    message: DeliveryMessage,
    claimId: string,
    nowMs: number,
    leaseMs: number,
  ): UpdateItemCommand {
    const e = expression();
    const now = e.value(nowMs);
    const creates: [string, NativeAttributeValue][] = [
      [ATTR.organizationId, message.organization_id],
      [ATTR.workflowId, message.workflow_id],
      [ATTR.workflowRunId, message.workflow_run_id],
      [ATTR.runKey, String(message.workflow_run_id)],
      [ATTR.nodeId, message.node_id],
      [ATTR.nodeName, message.node_name],
      [ATTR.method, message.method],
      [ATTR.endpointHost, endpointHost(message.url)],
      [ATTR.createdAt, iso(nowMs)],
      [ATTR.attemptLog, []],
    ];
    const maxAttempts = e.value(message.retry.max_attempts);
    const set = [
      ...creates.map(([name, value]) => `${e.name(name)} = if_not_exists(${e.name(name)}, ${e.value(value)})`),
      `${e.name(ATTR.attempts)} = if_not_exists(${e.name(ATTR.attempts)}, ${e.value(0)}) + ${e.value(1)}`,
      ...leaseSets(e, message, claimId, nowMs, leaseMs),
    ];
    // From the message too: the latest render's report of empty placeholders replaces an older one.
    const empty = message.empty_placeholders ?? [];
    if (empty.length > 0) set.push(`${e.name(ATTR.emptyPlaceholders)} = ${e.value(JSON.stringify(empty))}`);
    const removes = [e.name(ATTR.nextAttemptAt), ...(empty.length > 0 ? [] : [e.name(ATTR.emptyPlaceholders)])];
    const condition = [
      `attribute_not_exists(${e.name(ATTR.pk)}) OR (`,
      // 'sending' with its lease over is a lost attempt: taken over by `takeOver`, not counted again.
      `NOT (${e.name(ATTR.status)} IN (${finalValues(e)}, ${e.value('sending')}))`,
      `AND (attribute_not_exists(${e.name(ATTR.leaseUntil)}) OR ${e.name(ATTR.leaseUntil)} <= ${now})`,
      `AND (attribute_not_exists(${e.name(ATTR.nextAttemptAt)}) OR ${e.name(ATTR.nextAttemptAt)} <= ${now})`,
      `AND ${e.name(ATTR.attempts)} < ${maxAttempts})`,
    ].join(' ');
    return new UpdateItemCommand({
      TableName: tableName,
      Key: keyOf(message.delivery_id),
      UpdateExpression: `SET ${set.join(', ')} REMOVE ${removes.join(', ')}`,
      ConditionExpression: condition,
      ExpressionAttributeNames: e.names,
      ExpressionAttributeValues: e.values,
      ReturnValues: 'UPDATED_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  }

  /** What every claim sets besides the count: the lease, its owner, and the pending index keys. */
  function leaseSets(
    e: Expression,
    message: DeliveryMessage,
    claimId: string,
    nowMs: number,
    leaseMs: number,
  ): string[] {
    return [
      // From the message, not kept from the first sight: a fixed run emitted again, or a
      // replay, brings the node's current retry_config with it.
      `${e.name(ATTR.maxAttempts)} = ${e.value(message.retry.max_attempts)}`,
      `${e.name(ATTR.status)} = ${e.value('sending')}`,
      `${e.name(ATTR.leaseUntil)} = ${e.value(nowMs + leaseMs)}`,
      `${e.name(ATTR.claimId)} = ${e.value(claimId)}`,
      `${e.name(ATTR.pendingShard)} = ${e.value(shardOf(message.delivery_id))}`,
      `${e.name(ATTR.pendingUntil)} = ${e.value(iso(nowMs + leaseMs))}`,
      `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
      // Refreshed on every write: a delivery retried for days must not expire mid-way
      // and come back as a new record with a fresh attempt count.
      `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
    ];
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
    const e = expression();
    const lease = seen[ATTR.leaseUntil];
    const condition =
      `${e.name(ATTR.status)} = ${e.value('sending')} AND ${e.name(ATTR.attempts)} = ${e.value(attempt)} AND ` +
      (lease === undefined
        ? `attribute_not_exists(${e.name(ATTR.leaseUntil)})`
        : `${e.name(ATTR.leaseUntil)} = ${e.value(lease)}`);
    try {
      counts.writes += 1;
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(message.delivery_id),
          UpdateExpression: `SET ${leaseSets(e, message, claimId, nowMs, leaseMs).join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
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
    next: { readonly status: 'delivered' | 'failed' } | { readonly status: 'retrying'; readonly atMs: number },
    nowMs: number,
  ): Promise<void> {
    // Kept on a retry and a final failure, in this same write (no extra request): what `replay`
    // and the reconciler send again. A first-attempt success never pays for it.
    const request = next.status === 'failed' || next.status === 'retrying' ? JSON.stringify(message) : undefined;
    const keepsRequest = request !== undefined && Buffer.byteLength(request, 'utf8') <= MAX_KEPT_REQUEST_BYTES;
    try {
      counts.writes += 1;
      try {
        await client.send(attemptUpdate(message, attempt, next, nowMs, keepsRequest ? request : undefined));
      } catch (error) {
        // The failure must be recorded whatever the kept request does to the item: if
        // DynamoDB refuses the write (an item grown near 400 KB by many replays), it is
        // written once more without the request. Any other refusal repeats and is thrown.
        if (!keepsRequest || !isValidationException(error)) throw error;
        counts.writes += 1;
        await client.send(attemptUpdate(message, attempt, next, nowMs, undefined));
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

  /** The one conditional write that records an attempt's outcome; `request` is the JSON to keep, if any. */
  function attemptUpdate(
    message: DeliveryMessage,
    attempt: AttemptRecord,
    next: { readonly status: 'delivered' | 'failed' } | { readonly status: 'retrying'; readonly atMs: number },
    nowMs: number,
    request: string | undefined,
  ): UpdateItemCommand {
    const e = expression();
    const set = [
      `${e.name(ATTR.attemptLog)} = list_append(if_not_exists(${e.name(ATTR.attemptLog)}, ${e.value([])}), ${e.value([attemptItem(attempt)])})`,
      `${e.name(ATTR.status)} = ${e.value(next.status)}`,
      `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
      `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
    ];
    const remove: string[] = [ATTR.leaseUntil, ATTR.claimId];
    if (attempt.status_code === null) remove.push(ATTR.lastStatusCode);
    else set.push(`${e.name(ATTR.lastStatusCode)} = ${e.value(attempt.status_code)}`);
    if (attempt.error_message === null) remove.push(ATTR.lastError);
    else set.push(`${e.name(ATTR.lastError)} = ${e.value(truncate(attempt.error_message))}`);
    if (next.status === 'retrying') {
      set.push(
        `${e.name(ATTR.nextAttemptAt)} = ${e.value(next.atMs)}`,
        `${e.name(ATTR.pendingUntil)} = ${e.value(iso(next.atMs))}`,
      );
      if (request !== undefined)
        set.push(`${e.name(ATTR.request)} = ${e.value(request)}`, `${e.name(ATTR.requestKept)} = ${e.value(true)}`);
    } else {
      remove.push(ATTR.nextAttemptAt, ATTR.pendingShard, ATTR.pendingUntil);
      set.push(`${e.name(ATTR.finalAt)} = ${e.value(iso(nowMs))}`);
      if (next.status === 'failed') {
        set.push(...failureKeys(e, message.organization_id, nowMs));
        // Cleared by markDeadLettered once the message is on the dead-letter queue: until
        // then any copy of the message that comes back puts it there first.
        set.push(`${e.name(ATTR.deadLetterPending)} = ${e.value(true)}`);
      }
      // A delivered delivery has nothing left to replay, and a stale request from an
      // earlier failure would make every later write of the item cost more.
      if (request === undefined) remove.push(ATTR.request, ATTR.requestKept);
      else set.push(`${e.name(ATTR.request)} = ${e.value(request)}`, `${e.name(ATTR.requestKept)} = ${e.value(true)}`);
    }
    return new UpdateItemCommand({
      TableName: tableName,
      Key: keyOf(message.delivery_id),
      UpdateExpression: `SET ${set.join(', ')} REMOVE ${remove.map((name) => e.name(name)).join(', ')}`,
      // Only the owner of the attempt in flight may record it: a second record of the
      // same attempt, or one that a later claim overtook, is refused.
      ConditionExpression: `${e.name(ATTR.attempts)} = ${e.value(attempt.attempt)} AND ${e.name(ATTR.status)} = ${e.value('sending')}`,
      ExpressionAttributeNames: e.names,
      ExpressionAttributeValues: e.values,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  }

  async function recordFinal(
    message: DeliveryMessage,
    status: 'failed' | 'skipped',
    reason: string,
    nowMs: number,
  ): Promise<void> {
    const at = iso(nowMs);
    const item: Record<string, NativeAttributeValue> = {
      [ATTR.pk]: message.delivery_id,
      [ATTR.organizationId]: message.organization_id,
      [ATTR.workflowId]: message.workflow_id,
      [ATTR.workflowRunId]: message.workflow_run_id,
      [ATTR.runKey]: String(message.workflow_run_id),
      [ATTR.nodeId]: message.node_id,
      [ATTR.nodeName]: message.node_name,
      [ATTR.method]: message.method,
      [ATTR.endpointHost]: endpointHost(message.url),
      [ATTR.status]: status,
      [ATTR.attempts]: 0,
      [ATTR.maxAttempts]: message.retry.max_attempts,
      [ATTR.lastError]: truncate(reason),
      [ATTR.createdAt]: at,
      [ATTR.updatedAt]: at,
      [ATTR.finalAt]: at,
      [ATTR.attemptLog]: [],
      [ATTR.expiresAt]: expiresAt(nowMs),
      ...(status === 'failed' ? { [ATTR.failOrg]: message.organization_id, [ATTR.failDay]: utcDay(nowMs) } : {}),
    };
    try {
      counts.writes += 1;
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: marshall(item),
          // A record that exists (being delivered, or already final) is the better truth.
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async function markDeadLettered(deliveryId: string, seen: { readonly final_at: string | null }): Promise<void> {
    if (seen.final_at === null) return;
    try {
      counts.writes += 1;
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(deliveryId),
          UpdateExpression: 'REMOVE #pending',
          ConditionExpression: '#final = :seen',
          ExpressionAttributeNames: { '#pending': ATTR.deadLetterPending, '#final': ATTR.finalAt },
          ExpressionAttributeValues: marshall({ ':seen': seen.final_at }),
        }),
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
    const e = expression();
    const set = [
      `${e.name(ATTR.status)} = ${e.value('pending')}`,
      `${e.name(ATTR.attempts)} = ${e.value(0)}`,
      `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
      `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
      `${e.name(ATTR.replayedAt)} = list_append(if_not_exists(${e.name(ATTR.replayedAt)}, ${e.value([])}), ${e.value([iso(nowMs)])})`,
      // Pending again: if the message that is to carry the new series never arrives, the reconciler finds it.
      `${e.name(ATTR.pendingShard)} = ${e.value(shardOf(deliveryId))}`,
      `${e.name(ATTR.pendingUntil)} = ${e.value(iso(nowMs))}`,
    ];
    const remove = [
      ATTR.nextAttemptAt,
      ATTR.leaseUntil,
      ATTR.claimId,
      ATTR.finalAt,
      ATTR.failOrg,
      ATTR.failDay,
      ATTR.deadLetterPending,
      ATTR.stranded,
    ].map((name) => e.name(name));
    try {
      counts.writes += 1;
      const out = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(deliveryId),
          UpdateExpression: `SET ${set.join(', ')} REMOVE ${remove.join(', ')}`,
          // With `seen`, only the very outcome the caller read may be reopened: two copies of
          // a redriven message must not both reopen it, the second after the first delivered.
          ConditionExpression:
            `${e.name(ATTR.status)} IN (${e.value('delivered')}, ${e.value('failed')})` +
            (seen === undefined
              ? ''
              : seen.final_at === null
                ? ` AND attribute_not_exists(${e.name(ATTR.finalAt)})`
                : ` AND ${e.name(ATTR.finalAt)} = ${e.value(seen.final_at)}`),
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
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

  /** One conditional write on a pending record, held only if its `pending_until` is still `seen`. */
  async function updatePending(
    deliveryId: string,
    seen: string,
    build: (e: Expression) => { set: string[]; remove: string[] },
  ): Promise<boolean> {
    const e = expression();
    const { set, remove } = build(e);
    try {
      counts.writes += 1;
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(deliveryId),
          UpdateExpression: `SET ${set.join(', ')}${remove.length === 0 ? '' : ` REMOVE ${remove.map((name) => e.name(name)).join(', ')}`}`,
          ConditionExpression: `${e.name(ATTR.pendingUntil)} = ${e.value(seen)} AND NOT (${e.name(ATTR.status)} IN (${finalValues(e)}))`,
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  function markRequeued(deliveryId: string, nowMs: number, seen: { readonly pending_until: string }): Promise<boolean> {
    return updatePending(deliveryId, seen.pending_until, (e) => ({
      set: [
        `${e.name(ATTR.pendingUntil)} = ${e.value(iso(nowMs))}`,
        `${e.name(ATTR.reconciledAt)} = list_append(if_not_exists(${e.name(ATTR.reconciledAt)}, ${e.value([])}), ${e.value([iso(nowMs)])})`,
        `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
        `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
      ],
      remove: [],
    }));
  }

  function failStranded(
    deliveryId: string,
    reason: string,
    nowMs: number,
    seen: { readonly pending_until: string },
  ): Promise<boolean> {
    return updatePending(deliveryId, seen.pending_until, (e) => ({
      set: [
        `${e.name(ATTR.status)} = ${e.value('failed')}`,
        `${e.name(ATTR.lastError)} = ${e.value(truncate(reason))}`,
        `${e.name(ATTR.finalAt)} = ${e.value(iso(nowMs))}`,
        // The failure indexes' keys, the organization copied from the item itself.
        `${e.name(ATTR.failOrg)} = ${e.name(ATTR.organizationId)}`,
        `${e.name(ATTR.failDay)} = ${e.value(utcDay(nowMs))}`,
        `${e.name(ATTR.stranded)} = ${e.value(true)}`,
        `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
        `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
      ],
      // No message to move to the dead-letter queue: it was lost, which is why this runs.
      remove: [
        ATTR.pendingShard,
        ATTR.pendingUntil,
        ATTR.leaseUntil,
        ATTR.nextAttemptAt,
        ATTR.claimId,
        ATTR.deadLetterPending,
      ],
    }));
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

/** The sparse keys that put a failed delivery into both failure indexes. */
function failureKeys(e: Expression, organizationId: string, nowMs: number): string[] {
  return [
    `${e.name(ATTR.failOrg)} = ${e.value(organizationId)}`,
    `${e.name(ATTR.failDay)} = ${e.value(utcDay(nowMs))}`,
  ];
}

function finalValues(e: Expression): string {
  return [...FINAL_STATUSES].map((status) => e.value(status)).join(', ');
}

/** Collects expression attribute names and values; every name is aliased, so no reserved word can bite. */
interface Expression {
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
  /** Aliases an attribute name: `#name`. */
  name(name: string): string;
  /** Aliases a plain value, marshalled as `marshall` does (an array is a list, an object a map, null NULL). */
  value(value: NativeAttributeValue): string;
}

function expression(): Expression {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  let next = 0;
  return {
    names,
    values,
    name(name) {
      const alias = `#${name}`;
      names[alias] = name;
      return alias;
    },
    value(value) {
      const alias = `:v${next++}`;
      values[alias] = convertToAttr(value);
      return alias;
    },
  };
}
