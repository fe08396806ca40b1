import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { convertToAttr, marshall, type NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { FINAL_STATUSES, type DeliveryMessage } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import type { AttemptRecord } from '../ports/delivery-store.ts';
import { ATTR, attemptItem, iso, type OutcomeItem, shardOf, truncate, utcDay } from './outcome-item.ts';
import { byDayKeys } from './outcome-table-layout.ts';

/**
 * Every state change of the outcome log as one DynamoDB write: the update, and the condition
 * that lets it through only when the rules of shared/domain/delivery-state.ts allow it.
 * Pure: the store (dynamo-delivery-store.ts) sends these and reads what a refusal means.
 */

/** The expression part of a conditional UpdateItem. */
export interface ConditionalUpdate {
  readonly UpdateExpression: string;
  readonly ConditionExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, AttributeValue>;
}

/** How the next attempt goes on: final, or retried at `atMs`. */
export type NextStep =
  | { readonly status: 'delivered' | 'failed' }
  | { readonly status: 'retrying'; readonly atMs: number };

/**
 * The condition of a claim: `decideClaim`'s `next`, as DynamoDB checks it. A record seen for
 * the first time, or one that is neither final nor sending, whose lease and due time have
 * passed and whose series has attempts left under the message's `max_attempts`. Everything
 * else is refused, and the store decides from the item why (own claim, takeover, wait, final,
 * exhausted).
 */
export function claimCondition(e: Expression, nowMs: number, maxAttempts: number): string {
  const now = e.value(nowMs);
  return [
    `attribute_not_exists(${e.name(ATTR.pk)}) OR (`,
    // 'sending' with its lease over is a lost attempt: taken over by `takeover`, not counted again.
    `NOT (${e.name(ATTR.status)} IN (${finalValues(e)}, ${e.value('sending')}))`,
    `AND (attribute_not_exists(${e.name(ATTR.leaseUntil)}) OR ${e.name(ATTR.leaseUntil)} <= ${now})`,
    `AND (attribute_not_exists(${e.name(ATTR.nextAttemptAt)}) OR ${e.name(ATTR.nextAttemptAt)} <= ${now})`,
    `AND ${e.name(ATTR.attempts)} < ${e.value(maxAttempts)})`,
  ].join(' ');
}

/** The writes of one table, its items expiring `retentionDays` after their last write. */
export function createOutcomeWrites(retentionDays: number) {
  /** Epoch seconds: refreshed on every write, so a delivery retried for days never expires mid-way. */
  const expiresAt = (nowMs: number): number => Math.floor(nowMs / 1000) + retentionDays * 86_400;

  /** What every claim sets besides the count: the lease, its owner, and the pending index keys. */
  function leaseSets(e: Expression, message: DeliveryMessage, claimId: string, nowMs: number, leaseMs: number) {
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
      // A delivery that expired mid-way would come back as a new record with a fresh attempt count.
      `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
    ];
  }

  return {
    /** Starts attempt `attempts + 1` under {@link claimCondition}, creating the record on first sight. */
    claim(message: DeliveryMessage, claimId: string, nowMs: number, leaseMs: number): ConditionalUpdate {
      const e = expression();
      const keys = byDayKeys({ ...message, created_at: iso(nowMs) });
      const creates: [string, NativeAttributeValue][] = [
        [ATTR.organizationId, message.organization_id],
        [ATTR.workflowId, message.workflow_id],
        [ATTR.workflowRunId, message.workflow_run_id],
        [ATTR.dayShard, keys.day_shard],
        [ATTR.runNode, keys.run_node],
        [ATTR.nodeId, message.node_id],
        [ATTR.nodeName, message.node_name],
        [ATTR.method, message.method],
        [ATTR.endpointHost, endpointHost(message.url)],
        [ATTR.createdAt, iso(nowMs)],
        [ATTR.attemptLog, []],
      ];
      const set = [
        ...creates.map(([name, value]) => `${e.name(name)} = if_not_exists(${e.name(name)}, ${e.value(value)})`),
        `${e.name(ATTR.attempts)} = if_not_exists(${e.name(ATTR.attempts)}, ${e.value(0)}) + ${e.value(1)}`,
        ...leaseSets(e, message, claimId, nowMs, leaseMs),
      ];
      // From the message too: the latest render's report of empty placeholders replaces an older one.
      const empty = message.empty_placeholders ?? [];
      if (empty.length > 0) set.push(`${e.name(ATTR.emptyPlaceholders)} = ${e.value(JSON.stringify(empty))}`);
      const removes = [e.name(ATTR.nextAttemptAt), ...(empty.length > 0 ? [] : [e.name(ATTR.emptyPlaceholders)])];
      const condition = claimCondition(e, nowMs, message.retry.max_attempts);
      return done(e, `SET ${set.join(', ')} REMOVE ${removes.join(', ')}`, condition);
    },

    /**
     * Takes over attempt `attempt`, whose lease ran out with no outcome: the same number again,
     * held only if the item is still the one `seen` (same attempt, same lease).
     */
    takeover(
      message: DeliveryMessage,
      seen: OutcomeItem,
      attempt: number,
      claimId: string,
      nowMs: number,
      leaseMs: number,
    ): ConditionalUpdate {
      const e = expression();
      const lease = seen[ATTR.leaseUntil];
      const condition =
        `${e.name(ATTR.status)} = ${e.value('sending')} AND ${e.name(ATTR.attempts)} = ${e.value(attempt)} AND ` +
        (lease === undefined
          ? `attribute_not_exists(${e.name(ATTR.leaseUntil)})`
          : `${e.name(ATTR.leaseUntil)} = ${e.value(lease)}`);
      return done(e, `SET ${leaseSets(e, message, claimId, nowMs, leaseMs).join(', ')}`, condition);
    },

    /** Records an attempt's outcome; `request` is the JSON to keep, if any. */
    attempt(
      message: DeliveryMessage,
      attempt: AttemptRecord,
      next: NextStep,
      nowMs: number,
      request: string | undefined,
    ): ConditionalUpdate {
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
        else
          set.push(`${e.name(ATTR.request)} = ${e.value(request)}`, `${e.name(ATTR.requestKept)} = ${e.value(true)}`);
      }
      // Only the owner of the attempt in flight may record it: a second record of the
      // same attempt, or one that a later claim overtook, is refused.
      const condition = `${e.name(ATTR.attempts)} = ${e.value(attempt.attempt)} AND ${e.name(ATTR.status)} = ${e.value('sending')}`;
      return done(e, `SET ${set.join(', ')} REMOVE ${remove.map((name) => e.name(name)).join(', ')}`, condition);
    },

    /** A delivery that never reached the queue or the wire, as a whole item: put only where none exists. */
    final(message: DeliveryMessage, status: 'failed' | 'skipped', reason: string, nowMs: number) {
      const at = iso(nowMs);
      const keys = byDayKeys({ ...message, created_at: at });
      const item: Record<string, NativeAttributeValue> = {
        [ATTR.pk]: message.delivery_id,
        [ATTR.organizationId]: message.organization_id,
        [ATTR.workflowId]: message.workflow_id,
        [ATTR.workflowRunId]: message.workflow_run_id,
        [ATTR.dayShard]: keys.day_shard,
        [ATTR.runNode]: keys.run_node,
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
      return {
        Item: marshall(item),
        // A record that exists (being delivered, or already final) is the better truth.
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': ATTR.pk },
      };
    },

    /** Clears the dead-letter mark of the failure recorded at `finalAt` only. */
    deadLettered(finalAt: string): ConditionalUpdate {
      return {
        UpdateExpression: 'REMOVE #pending',
        ConditionExpression: '#final = :seen',
        ExpressionAttributeNames: { '#pending': ATTR.deadLetterPending, '#final': ATTR.finalAt },
        ExpressionAttributeValues: marshall({ ':seen': finalAt }),
      };
    },

    /**
     * Starts a new series on a delivered or failed record (`mayReopen`); with `seen`, only the
     * very outcome the caller read: two copies of a redriven message must not both reopen it.
     */
    reopen(deliveryId: string, nowMs: number, seen?: { readonly final_at: string | null }): ConditionalUpdate {
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
      const condition =
        `${e.name(ATTR.status)} IN (${e.value('delivered')}, ${e.value('failed')})` +
        (seen === undefined
          ? ''
          : seen.final_at === null
            ? ` AND attribute_not_exists(${e.name(ATTR.finalAt)})`
            : ` AND ${e.name(ATTR.finalAt)} = ${e.value(seen.final_at)}`);
      return done(e, `SET ${set.join(', ')} REMOVE ${remove.join(', ')}`, condition);
    },

    /** The reconciler put the kept request back on the queue: held only as `seen`, and not final. */
    requeued(nowMs: number, seenPendingUntil: string): ConditionalUpdate {
      return pendingAsSeen(seenPendingUntil, (e) => ({
        set: [
          `${e.name(ATTR.pendingUntil)} = ${e.value(iso(nowMs))}`,
          `${e.name(ATTR.reconciledAt)} = list_append(if_not_exists(${e.name(ATTR.reconciledAt)}, ${e.value([])}), ${e.value([iso(nowMs)])})`,
          `${e.name(ATTR.updatedAt)} = ${e.value(iso(nowMs))}`,
          `${e.name(ATTR.expiresAt)} = ${e.value(expiresAt(nowMs))}`,
        ],
        remove: [],
      }));
    },

    /** Fails a delivery whose message was lost and cannot be rebuilt, under the same condition. */
    stranded(reason: string, nowMs: number, seenPendingUntil: string): ConditionalUpdate {
      return pendingAsSeen(seenPendingUntil, (e) => ({
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
    },
  };
}

export type OutcomeWrites = ReturnType<typeof createOutcomeWrites>;

/** A write on a pending record, held only if its `pending_until` is still `seen` and it is not final. */
function pendingAsSeen(seen: string, build: (e: Expression) => { set: string[]; remove: string[] }): ConditionalUpdate {
  const e = expression();
  const { set, remove } = build(e);
  const update = `SET ${set.join(', ')}${remove.length === 0 ? '' : ` REMOVE ${remove.map((name) => e.name(name)).join(', ')}`}`;
  const condition = `${e.name(ATTR.pendingUntil)} = ${e.value(seen)} AND NOT (${e.name(ATTR.status)} IN (${finalValues(e)}))`;
  return done(e, update, condition);
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

function done(e: Expression, update: string, condition: string): ConditionalUpdate {
  return {
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: e.names,
    ExpressionAttributeValues: e.values,
  };
}

/** Collects expression attribute names and values; every name is aliased, so no reserved word can bite. */
export interface Expression {
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
  /** Aliases an attribute name: `#name`. */
  name(name: string): string;
  /** Aliases a plain value, marshalled as `marshall` does (an array is a list, an object a map, null NULL). */
  value(value: NativeAttributeValue): string;
}

export function expression(): Expression {
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
