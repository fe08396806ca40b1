import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { decideClaim, mayReopen, type DeliveryState } from '../domain/delivery-state.ts';
import type { EmptyPlaceholder } from '../domain/empty-placeholders.ts';
import { DeliveryMessageSchema, FINAL_STATUSES } from '../domain/delivery.ts';
import type { DeliveryMessage, DeliveryStatus } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import { DeliveryStateError, ValidationError, WebhookError } from '../errors.ts';
import type {
  AttemptRecord,
  Claim,
  DeliveryRecord,
  DeliveryStore,
  ErrorClass,
  FailureQuery,
} from '../ports/delivery-store.ts';
import { OUTCOME_TABLE, PENDING_SHARDS } from './outcome-table-layout.ts';

/** Requests sent to DynamoDB since the store was made; a conditional write that fails still counts (and is billed). */
export interface DeliveryStoreStats {
  /** UpdateItem and PutItem requests. */
  readonly writes: number;
  /** GetItem, BatchGetItem and Query requests. */
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
 * that write, and the copies in the two failure indexes (which project every
 * attribute), are billed by the larger item. Only failures pay for it, and the
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

// Attribute names of an item. Partition and index keys come from the shared layout.
const A = {
  pk: OUTCOME_TABLE.partitionKey,
  organizationId: 'organization_id',
  workflowId: 'workflow_id',
  workflowRunId: 'workflow_run_id',
  runKey: OUTCOME_TABLE.indexes.byRun.partitionKey,
  nodeId: OUTCOME_TABLE.indexes.byRun.sortKey,
  nodeName: 'node_name',
  method: 'method',
  endpointHost: 'endpoint_host',
  status: 'status',
  attempts: 'attempts',
  maxAttempts: 'max_attempts',
  lastStatusCode: 'last_status_code',
  lastError: 'last_error',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  /** Epoch ms: compared with `now` in the claim condition. */
  nextAttemptAt: 'next_attempt_at',
  /** Epoch ms. */
  leaseUntil: 'lease_until',
  finalAt: OUTCOME_TABLE.indexes.failuresByOrg.sortKey,
  failOrg: OUTCOME_TABLE.indexes.failuresByOrg.partitionKey,
  failDay: OUTCOME_TABLE.indexes.failuresByDay.partitionKey,
  attemptLog: 'attempt_log',
  /** ISO times of each reopen: where a new series of attempts starts in `attempt_log`. */
  replayedAt: 'replayed_at',
  /** JSON text of the rendered DeliveryMessage, kept on final failures so an operator can replay them. */
  request: 'request',
  /** True while `request` is kept: the failure indexes carry this flag, not the request. */
  requestKept: 'request_kept',
  /** Set with a final failure until its message is on the dead-letter queue. */
  deadLetterPending: 'dead_letter_pending',
  /** JSON text of the latest render's empty placeholders (bounded by the renderer); absent when none. */
  emptyPlaceholders: 'empty_placeholders',
  expiresAt: OUTCOME_TABLE.ttlAttribute,
  /** The id of the claim that took the attempt in flight: a retried claim recognises its own. */
  claimId: 'claim_id',
  /** Pending index keys: set while non-final, removed by a final outcome (sparse). */
  pendingShard: OUTCOME_TABLE.indexes.pending.partitionKey,
  pendingUntil: OUTCOME_TABLE.indexes.pending.sortKey,
  /** ISO times the reconciler put the delivery back on the queue. */
  reconciledAt: 'reconciled_at',
  /** Failed by the reconciler: its message was lost and could not be rebuilt. */
  stranded: 'stranded',
} as const;

/** Longest text kept per attempt field, so 25 attempts and a few replays stay far below DynamoDB's 400 KB item limit. */
const MAX_TEXT = 2048;
/**
 * Largest rendered request kept on a failed delivery, in bytes of its JSON. A
 * webhook payload is a few KB; this leaves room under the 400 KB item limit
 * for 25 attempts and a few replays. A larger one is not kept (its copy on the
 * dead-letter queue can still be redriven).
 */
export const MAX_KEPT_REQUEST_BYTES = 64 * 1024;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;
const DAY_MS = 86_400_000;
/** Longest retention the config allows, and a day's slack for TTL's lag. */
const MAX_WINDOW_DAYS = 3651;

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

  const keyOf = (deliveryId: string): Record<string, AttributeValue> => ({ [A.pk]: s(deliveryId) });
  const expiresAt = (nowMs: number): AttributeValue => n(Math.floor(nowMs / 1000) + retentionDays * 86_400);

  async function readItem(deliveryId: string): Promise<Item | undefined> {
    counts.reads += 1;
    const out = await client.send(
      new GetItemCommand({ TableName: tableName, Key: keyOf(deliveryId), ConsistentRead: true }),
    );
    return out.Item;
  }

  /**
   * The item as a failed conditional write saw it. DynamoDB returns it with the
   * error (ReturnValuesOnConditionCheckFailure); emulators that ignore that
   * parameter (dynalite) get a consistent GetItem instead.
   */
  async function itemAfterConflict(
    error: ConditionalCheckFailedException,
    deliveryId: string,
  ): Promise<Item | undefined> {
    return error.Item ?? (await readItem(deliveryId));
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
    let item: Item | undefined;
    try {
      counts.writes += 1;
      const out = await client.send(nextAttemptUpdate(message, claimId, nowMs, leaseMs));
      const attempt = num(out.Attributes?.[A.attempts]);
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
    const now = e.v(n(nowMs));
    const creates: [string, AttributeValue][] = [
      [A.organizationId, s(message.organization_id)],
      [A.workflowId, n(message.workflow_id)],
      [A.workflowRunId, n(message.workflow_run_id)],
      [A.runKey, s(String(message.workflow_run_id))],
      [A.nodeId, s(message.node_id)],
      [A.nodeName, s(message.node_name)],
      [A.method, s(message.method)],
      [A.endpointHost, s(endpointHost(message.url))],
      [A.createdAt, s(iso(nowMs))],
      [A.attemptLog, { L: [] }],
    ];
    const maxAttempts = e.v(n(message.retry.max_attempts));
    const set = [
      ...creates.map(([name, value]) => `${e.n(name)} = if_not_exists(${e.n(name)}, ${e.v(value)})`),
      `${e.n(A.attempts)} = if_not_exists(${e.n(A.attempts)}, ${e.v(n(0))}) + ${e.v(n(1))}`,
      ...leaseSets(e, message, claimId, nowMs, leaseMs),
    ];
    // From the message too: the latest render's report of empty placeholders replaces an older one.
    const empty = message.empty_placeholders ?? [];
    if (empty.length > 0) set.push(`${e.n(A.emptyPlaceholders)} = ${e.v(s(JSON.stringify(empty)))}`);
    const removes = [e.n(A.nextAttemptAt), ...(empty.length > 0 ? [] : [e.n(A.emptyPlaceholders)])];
    const condition = [
      `attribute_not_exists(${e.n(A.pk)}) OR (`,
      // 'sending' with its lease over is a lost attempt: taken over by `takeOver`, not counted again.
      `NOT (${e.n(A.status)} IN (${finalValues(e)}, ${e.v(s('sending'))}))`,
      `AND (attribute_not_exists(${e.n(A.leaseUntil)}) OR ${e.n(A.leaseUntil)} <= ${now})`,
      `AND (attribute_not_exists(${e.n(A.nextAttemptAt)}) OR ${e.n(A.nextAttemptAt)} <= ${now})`,
      `AND ${e.n(A.attempts)} < ${maxAttempts})`,
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
      `${e.n(A.maxAttempts)} = ${e.v(n(message.retry.max_attempts))}`,
      `${e.n(A.status)} = ${e.v(s('sending'))}`,
      `${e.n(A.leaseUntil)} = ${e.v(n(nowMs + leaseMs))}`,
      `${e.n(A.claimId)} = ${e.v(s(claimId))}`,
      `${e.n(A.pendingShard)} = ${e.v(s(shardOf(message.delivery_id)))}`,
      `${e.n(A.pendingUntil)} = ${e.v(s(iso(nowMs + leaseMs)))}`,
      `${e.n(A.updatedAt)} = ${e.v(s(iso(nowMs)))}`,
      // Refreshed on every write: a delivery retried for days must not expire mid-way
      // and come back as a new record with a fresh attempt count.
      `${e.n(A.expiresAt)} = ${e.v(expiresAt(nowMs))}`,
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
    seen: Item,
    attempt: number,
    claimId: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<Claim> {
    const e = expression();
    const lease = seen[A.leaseUntil];
    const condition =
      `${e.n(A.status)} = ${e.v(s('sending'))} AND ${e.n(A.attempts)} = ${e.v(n(attempt))} AND ` +
      (lease === undefined ? `attribute_not_exists(${e.n(A.leaseUntil)})` : `${e.n(A.leaseUntil)} = ${e.v(lease)}`);
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
          : `the record is at attempt ${num(item[A.attempts]) ?? 0}, ${str(item[A.status])}`;
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
      `${e.n(A.attemptLog)} = list_append(if_not_exists(${e.n(A.attemptLog)}, ${e.v({ L: [] })}), ${e.v({ L: [attemptValue(attempt)] })})`,
      `${e.n(A.status)} = ${e.v(s(next.status))}`,
      `${e.n(A.updatedAt)} = ${e.v(s(iso(nowMs)))}`,
      `${e.n(A.expiresAt)} = ${e.v(expiresAt(nowMs))}`,
    ];
    const remove: string[] = [A.leaseUntil, A.claimId];
    if (attempt.status_code === null) remove.push(A.lastStatusCode);
    else set.push(`${e.n(A.lastStatusCode)} = ${e.v(n(attempt.status_code))}`);
    if (attempt.error_message === null) remove.push(A.lastError);
    else set.push(`${e.n(A.lastError)} = ${e.v(s(truncate(attempt.error_message)))}`);
    if (next.status === 'retrying') {
      set.push(`${e.n(A.nextAttemptAt)} = ${e.v(n(next.atMs))}`, `${e.n(A.pendingUntil)} = ${e.v(s(iso(next.atMs)))}`);
      if (request !== undefined)
        set.push(`${e.n(A.request)} = ${e.v(s(request))}`, `${e.n(A.requestKept)} = ${e.v({ BOOL: true })}`);
    } else {
      remove.push(A.nextAttemptAt, A.pendingShard, A.pendingUntil);
      set.push(`${e.n(A.finalAt)} = ${e.v(s(iso(nowMs)))}`);
      if (next.status === 'failed') {
        set.push(...failureKeys(e, message.organization_id, nowMs));
        // Cleared by markDeadLettered once the message is on the dead-letter queue: until
        // then any copy of the message that comes back puts it there first.
        set.push(`${e.n(A.deadLetterPending)} = ${e.v({ BOOL: true })}`);
      }
      // A delivered delivery has nothing left to replay, and a stale request from an
      // earlier failure would make every later write of the item cost more.
      if (request === undefined) remove.push(A.request, A.requestKept);
      else set.push(`${e.n(A.request)} = ${e.v(s(request))}`, `${e.n(A.requestKept)} = ${e.v({ BOOL: true })}`);
    }
    return new UpdateItemCommand({
      TableName: tableName,
      Key: keyOf(message.delivery_id),
      UpdateExpression: `SET ${set.join(', ')} REMOVE ${remove.map((name) => e.n(name)).join(', ')}`,
      // Only the owner of the attempt in flight may record it: a second record of the
      // same attempt, or one that a later claim overtook, is refused.
      ConditionExpression: `${e.n(A.attempts)} = ${e.v(n(attempt.attempt))} AND ${e.n(A.status)} = ${e.v(s('sending'))}`,
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
    const item: Item = {
      [A.pk]: s(message.delivery_id),
      [A.organizationId]: s(message.organization_id),
      [A.workflowId]: n(message.workflow_id),
      [A.workflowRunId]: n(message.workflow_run_id),
      [A.runKey]: s(String(message.workflow_run_id)),
      [A.nodeId]: s(message.node_id),
      [A.nodeName]: s(message.node_name),
      [A.method]: s(message.method),
      [A.endpointHost]: s(endpointHost(message.url)),
      [A.status]: s(status),
      [A.attempts]: n(0),
      [A.maxAttempts]: n(message.retry.max_attempts),
      [A.lastError]: s(truncate(reason)),
      [A.createdAt]: s(at),
      [A.updatedAt]: s(at),
      [A.finalAt]: s(at),
      [A.attemptLog]: { L: [] },
      [A.expiresAt]: expiresAt(nowMs),
      ...(status === 'failed' ? { [A.failOrg]: s(message.organization_id), [A.failDay]: s(utcDay(nowMs)) } : {}),
    };
    try {
      counts.writes += 1;
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: item,
          // A record that exists (being delivered, or already final) is the better truth.
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': A.pk },
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
          ExpressionAttributeNames: { '#pending': A.deadLetterPending, '#final': A.finalAt },
          ExpressionAttributeValues: { ':seen': s(seen.final_at) },
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
      `${e.n(A.status)} = ${e.v(s('pending'))}`,
      `${e.n(A.attempts)} = ${e.v(n(0))}`,
      `${e.n(A.updatedAt)} = ${e.v(s(iso(nowMs)))}`,
      `${e.n(A.expiresAt)} = ${e.v(expiresAt(nowMs))}`,
      `${e.n(A.replayedAt)} = list_append(if_not_exists(${e.n(A.replayedAt)}, ${e.v({ L: [] })}), ${e.v({ L: [s(iso(nowMs))] })})`,
      // Pending again: if the message that is to carry the new series never arrives, the reconciler finds it.
      `${e.n(A.pendingShard)} = ${e.v(s(shardOf(deliveryId)))}`,
      `${e.n(A.pendingUntil)} = ${e.v(s(iso(nowMs)))}`,
    ];
    const remove = [
      A.nextAttemptAt,
      A.leaseUntil,
      A.claimId,
      A.finalAt,
      A.failOrg,
      A.failDay,
      A.deadLetterPending,
      A.stranded,
    ].map((name) => e.n(name));
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
            `${e.n(A.status)} IN (${e.v(s('delivered'))}, ${e.v(s('failed'))})` +
            (seen === undefined
              ? ''
              : seen.final_at === null
                ? ` AND attribute_not_exists(${e.n(A.finalAt)})`
                : ` AND ${e.n(A.finalAt)} = ${e.v(s(seen.final_at))}`),
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return toRecord(out.Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = await itemAfterConflict(error, deliveryId);
      const reason =
        item === undefined
          ? 'no such delivery'
          : seen !== undefined && optionalStr(item[A.finalAt]) !== seen.final_at
            ? 'it changed since it was read (reopened or finished by someone else)'
            : !mayReopen(str(item[A.status]) as DeliveryStatus)
              ? `it is ${str(item[A.status])}; only a delivered or failed delivery can be reopened`
              : 'it changed since it was read';
      throw new DeliveryStateError(deliveryId, reason, { cause: error });
    }
  }

  async function get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const item = await readItem(deliveryId);
    return item === undefined ? undefined : toRecord(item);
  }

  async function listByRun(workflowRunId: number): Promise<DeliveryRecord[]> {
    const index = OUTCOME_TABLE.indexes.byRun;
    const ids: string[] = [];
    let startKey: Item | undefined;
    do {
      counts.reads += 1;
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: index.name,
          KeyConditionExpression: '#run = :run',
          ExpressionAttributeNames: { '#run': index.partitionKey },
          ExpressionAttributeValues: { ':run': s(String(workflowRunId)) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const key of out.Items ?? []) ids.push(str(key[A.pk]));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);

    const byId = new Map<string, DeliveryRecord>();
    for (let i = 0; i < ids.length; i += BATCH_GET_LIMIT) {
      for (const item of await batchGet(ids.slice(i, i + BATCH_GET_LIMIT))) {
        const record = toRecord(item);
        byId.set(record.delivery_id, record);
      }
    }
    // The index is sorted by node id; BatchGetItem returns items in any order.
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async function batchGet(ids: readonly string[]): Promise<Item[]> {
    const items: Item[] = [];
    let keys: Item[] = ids.map(keyOf);
    for (let round = 0; keys.length > 0; round += 1) {
      if (round > 0) await sleep(Math.min(1000, 25 * 2 ** round));
      counts.reads += 1;
      const out = await client.send(
        new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      items.push(...(out.Responses?.[tableName] ?? []));
      keys = out.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (round >= 10 && keys.length > 0) {
        throw new WebhookError(`BatchGetItem left ${keys.length} keys unprocessed after ${round + 1} tries`);
      }
    }
    return items;
  }

  async function listFailures(query: FailureQuery): Promise<DeliveryRecord[]> {
    const since = isoArgument('since', query.since);
    const until = isoArgument('until', query.until);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    if (since > until || limit <= 0) return [];
    const found: DeliveryRecord[] = [];
    if (query.organizationId !== undefined) {
      const index = OUTCOME_TABLE.indexes.failuresByOrg;
      await queryFailures(index.name, index.partitionKey, query.organizationId, since, until, limit, found);
      return found;
    }
    // One partition per UTC day, newest day first, so results come newest first across days too.
    const index = OUTCOME_TABLE.indexes.failuresByDay;
    const firstDay = Date.parse(`${since.slice(0, 10)}T00:00:00.000Z`);
    if (Date.parse(until) - firstDay > MAX_WINDOW_DAYS * DAY_MS) {
      // One Query per day: a window of decades is a mistake, not a question.
      throw new ValidationError([
        { path: 'since', reason: `a window across all organizations may span at most ${MAX_WINDOW_DAYS} days` },
      ]);
    }
    for (let day = Date.parse(`${until.slice(0, 10)}T00:00:00.000Z`); day >= firstDay; day -= DAY_MS) {
      if (found.length >= limit) break;
      await queryFailures(index.name, index.partitionKey, utcDay(day), since, until, limit, found);
    }
    return found;
  }

  async function queryFailures(
    indexName: string,
    partitionKey: string,
    partition: string,
    since: string,
    until: string,
    limit: number,
    into: DeliveryRecord[],
  ): Promise<void> {
    let startKey: Item | undefined;
    do {
      const remaining = limit - into.length;
      counts.reads += 1;
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: indexName,
          KeyConditionExpression: '#p = :p AND #at BETWEEN :since AND :until',
          ExpressionAttributeNames: { '#p': partitionKey, '#at': A.finalAt },
          ExpressionAttributeValues: { ':p': s(partition), ':since': s(since), ':until': s(until) },
          ScanIndexForward: false,
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) into.push(toRecord(item));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && into.length < limit);
  }

  async function listPending(beforeMs: number, limit: number): Promise<string[]> {
    const index = OUTCOME_TABLE.indexes.pending;
    const ids: string[] = [];
    for (let shard = 0; shard < PENDING_SHARDS && ids.length < limit; shard++) {
      let startKey: Item | undefined;
      do {
        counts.reads += 1;
        const out = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: index.name,
            KeyConditionExpression: '#p = :p AND #until < :before',
            ExpressionAttributeNames: { '#p': index.partitionKey, '#until': index.sortKey },
            ExpressionAttributeValues: { ':p': s(shard.toString(16)), ':before': s(iso(beforeMs)) },
            Limit: limit - ids.length,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const key of out.Items ?? []) ids.push(str(key[A.pk]));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined && ids.length < limit);
    }
    return ids;
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
          UpdateExpression: `SET ${set.join(', ')}${remove.length === 0 ? '' : ` REMOVE ${remove.map((name) => e.n(name)).join(', ')}`}`,
          ConditionExpression: `${e.n(A.pendingUntil)} = ${e.v(s(seen))} AND NOT (${e.n(A.status)} IN (${finalValues(e)}))`,
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
        `${e.n(A.pendingUntil)} = ${e.v(s(iso(nowMs)))}`,
        `${e.n(A.reconciledAt)} = list_append(if_not_exists(${e.n(A.reconciledAt)}, ${e.v({ L: [] })}), ${e.v({ L: [s(iso(nowMs))] })})`,
        `${e.n(A.updatedAt)} = ${e.v(s(iso(nowMs)))}`,
        `${e.n(A.expiresAt)} = ${e.v(expiresAt(nowMs))}`,
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
        `${e.n(A.status)} = ${e.v(s('failed'))}`,
        `${e.n(A.lastError)} = ${e.v(s(truncate(reason)))}`,
        `${e.n(A.finalAt)} = ${e.v(s(iso(nowMs)))}`,
        // The failure indexes' keys, the organization copied from the item itself.
        `${e.n(A.failOrg)} = ${e.n(A.organizationId)}`,
        `${e.n(A.failDay)} = ${e.v(s(utcDay(nowMs)))}`,
        `${e.n(A.stranded)} = ${e.v({ BOOL: true })}`,
        `${e.n(A.updatedAt)} = ${e.v(s(iso(nowMs)))}`,
        `${e.n(A.expiresAt)} = ${e.v(expiresAt(nowMs))}`,
      ],
      // No message to move to the dead-letter queue: it was lost, which is why this runs.
      remove: [A.pendingShard, A.pendingUntil, A.leaseUntil, A.nextAttemptAt, A.claimId, A.deadLetterPending],
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
    listByRun,
    listFailures,
    listPending,
    markRequeued,
    failStranded,
  };
}

type Item = Record<string, AttributeValue>;

/** What the state rules read of an item. */
function stateOf(item: Item): DeliveryState {
  return {
    status: str(item[A.status]) as DeliveryStatus,
    attempts: num(item[A.attempts]) ?? 0,
    leaseUntilMs: num(item[A.leaseUntil]),
    nextAttemptAtMs: num(item[A.nextAttemptAt]),
    claimId: item[A.claimId]?.S,
  };
}

/** The pending index partition of a delivery: a cheap, stable spread of its id. */
export function shardOf(deliveryId: string): string {
  let h = 0;
  for (let i = 0; i < deliveryId.length; i++) h = (h * 31 + deliveryId.charCodeAt(i)) >>> 0;
  return (h % PENDING_SHARDS).toString(16);
}

/** Whether the item already holds exactly this outcome of this attempt as its latest. */
function alreadyRecorded(item: Item, attempt: AttemptRecord, status: DeliveryStatus): boolean {
  const last = item[A.attemptLog]?.L?.at(-1);
  return (
    num(item[A.attempts]) === attempt.attempt &&
    str(item[A.status]) === status &&
    last !== undefined &&
    num(last.M?.attempt) === attempt.attempt &&
    str(last.M?.at) === attempt.at
  );
}

function toRecord(item: Item): DeliveryRecord {
  const nextAttemptAt = num(item[A.nextAttemptAt]);
  const leaseUntil = num(item[A.leaseUntil]);
  return {
    delivery_id: str(item[A.pk]),
    organization_id: str(item[A.organizationId]),
    workflow_id: num(item[A.workflowId]) ?? 0,
    workflow_run_id: num(item[A.workflowRunId]) ?? 0,
    node_id: str(item[A.nodeId]),
    node_name: str(item[A.nodeName]),
    method: str(item[A.method]),
    endpoint_host: str(item[A.endpointHost]),
    status: str(item[A.status]) as DeliveryStatus,
    attempts: num(item[A.attempts]) ?? 0,
    max_attempts: num(item[A.maxAttempts]) ?? 0,
    last_status_code: num(item[A.lastStatusCode]) ?? null,
    last_error: optionalStr(item[A.lastError]),
    created_at: str(item[A.createdAt]),
    updated_at: str(item[A.updatedAt]),
    next_attempt_at: nextAttemptAt === undefined ? null : iso(nextAttemptAt),
    final_at: optionalStr(item[A.finalAt]),
    attempt_log: (item[A.attemptLog]?.L ?? []).map(toAttempt),
    replayed_at: (item[A.replayedAt]?.L ?? []).map((value) => str(value)),
    request: keptRequest(item[A.request]),
    request_kept: item[A.requestKept]?.BOOL === true,
    dead_letter_pending: item[A.deadLetterPending]?.BOOL === true,
    lease_until: leaseUntil === undefined ? null : iso(leaseUntil),
    pending_until: optionalStr(item[A.pendingUntil]),
    reconciled_at: (item[A.reconciledAt]?.L ?? []).map((value) => str(value)),
    stranded: item[A.stranded]?.BOOL === true,
    ...emptyPlaceholdersOf(item[A.emptyPlaceholders]),
  };
}

/** The stored empty-placeholder report, if there is one that still reads as one. */
function emptyPlaceholdersOf(value: AttributeValue | undefined): { empty_placeholders?: EmptyPlaceholder[] } {
  if (value?.S === undefined) return {};
  try {
    const parsed = DeliveryMessageSchema.shape.empty_placeholders.safeParse(JSON.parse(value.S));
    return parsed.success && parsed.data !== undefined ? { empty_placeholders: parsed.data } : {};
  } catch {
    return {};
  }
}

/** The kept request, if there is one and it still reads as a delivery message. */
function keptRequest(value: AttributeValue | undefined): DeliveryMessage | null {
  if (value?.S === undefined) return null;
  try {
    const parsed = DeliveryMessageSchema.safeParse(JSON.parse(value.S));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function isValidationException(error: unknown): boolean {
  return error instanceof Error && error.name === 'ValidationException';
}

function attemptValue(attempt: AttemptRecord): AttributeValue {
  return {
    M: {
      attempt: n(attempt.attempt),
      at: s(attempt.at),
      duration_ms: n(attempt.duration_ms),
      status_code: attempt.status_code === null ? { NULL: true } : n(attempt.status_code),
      error_class: s(attempt.error_class),
      error_message: attempt.error_message === null ? { NULL: true } : s(truncate(attempt.error_message)),
      response_snippet: attempt.response_snippet === null ? { NULL: true } : s(truncate(attempt.response_snippet)),
      ...(attempt.resent_after_status === undefined ? {} : { resent_after_status: n(attempt.resent_after_status) }),
    },
  };
}

function toAttempt(value: AttributeValue): AttemptRecord {
  const m = value.M ?? {};
  return {
    attempt: num(m.attempt) ?? 0,
    at: str(m.at),
    duration_ms: num(m.duration_ms) ?? 0,
    status_code: num(m.status_code) ?? null,
    error_class: str(m.error_class) as ErrorClass,
    error_message: optionalStr(m.error_message),
    response_snippet: optionalStr(m.response_snippet),
    ...(num(m.resent_after_status) === undefined ? {} : { resent_after_status: num(m.resent_after_status)! }),
  };
}

/** The sparse keys that put a failed delivery into both failure indexes. */
function failureKeys(e: Expression, organizationId: string, nowMs: number): string[] {
  return [`${e.n(A.failOrg)} = ${e.v(s(organizationId))}`, `${e.n(A.failDay)} = ${e.v(s(utcDay(nowMs)))}`];
}

function finalValues(e: Expression): string {
  return [...FINAL_STATUSES].map((status) => e.v(s(status))).join(', ');
}

/** Collects expression attribute names and values; every name is aliased, so no reserved word can bite. */
interface Expression {
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
  n(name: string): string;
  v(value: AttributeValue): string;
}

function expression(): Expression {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  let next = 0;
  return {
    names,
    values,
    n(name) {
      const alias = `#${name}`;
      names[alias] = name;
      return alias;
    },
    v(value) {
      const alias = `:v${next++}`;
      values[alias] = value;
      return alias;
    },
  };
}

function isoArgument(name: string, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new ValidationError([{ path: name, reason: `not an ISO time: ${JSON.stringify(value)}` }]);
  return iso(ms);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function utcDay(ms: number): string {
  return iso(ms).slice(0, 10);
}

function truncate(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });
const str = (value: AttributeValue | undefined): string => value?.S ?? '';
const optionalStr = (value: AttributeValue | undefined): string | null => value?.S ?? null;
const num = (value: AttributeValue | undefined): number | undefined =>
  value?.N === undefined ? undefined : Number(value.N);
