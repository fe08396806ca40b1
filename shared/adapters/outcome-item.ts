import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod/mini';
import type { DeliveryState } from '../domain/delivery-state.ts';
import {
  deliveryMessageSchema,
  safeParseDeliveryMessage,
  type DeliveryMessage,
  type DeliveryStatus,
} from '../domain/delivery.ts';
import type { EmptyPlaceholder } from '../domain/empty-placeholders.ts';
import { WebhookError } from '../errors.ts';
import { builtOnUse } from '../schemas/built-on-use.ts';
import { safeParse } from '../schemas/issues.ts';
import type { AttemptRecord, DeliveryRecord, ErrorClass } from '../ports/delivery-store.ts';
import { OUTCOME_TABLE, PENDING_SHARDS } from './outcome-table-layout.ts';

/**
 * One delivery as an item of the outcome table: its attribute names, the zod schema every
 * item read back is parsed with, and the mapping to the port's `DeliveryRecord`. The store
 * (state writes) and the queries (index reads) both read items only through here.
 */

/** Attribute names of an item. Partition and index keys come from the shared layout. */
export const ATTR = {
  pk: OUTCOME_TABLE.partitionKey,
  organizationId: 'organization_id',
  workflowId: 'workflow_id',
  workflowRunId: 'workflow_run_id',
  /** Legacy by-run key: read for records created before by-day, no longer written. */
  runKey: OUTCOME_TABLE.indexes.byRun.partitionKey,
  nodeId: OUTCOME_TABLE.indexes.byRun.sortKey,
  /** By-day index keys, written once with the record (`byDayKeys`). */
  dayShard: OUTCOME_TABLE.indexes.byDay.partitionKey,
  runNode: OUTCOME_TABLE.indexes.byDay.sortKey,
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

/** An item, a primary key or a page key as the SDK sends and returns it. */
export type RawItem = Record<string, AttributeValue>;

// Every status and error class, keyed by itself: the mapped types make the compiler check
// these against the port's unions both ways, so a value added there must be added here.
const STATUSES: { readonly [S in DeliveryStatus]: S } = {
  pending: 'pending',
  sending: 'sending',
  retrying: 'retrying',
  delivered: 'delivered',
  failed: 'failed',
  skipped: 'skipped',
};
const ERROR_CLASSES: { readonly [C in ErrorClass]: C } = {
  none: 'none',
  http_transient: 'http_transient',
  http_permanent: 'http_permanent',
  timeout: 'timeout',
  connection: 'connection',
  blocked: 'blocked',
  credential: 'credential',
  invalid: 'invalid',
  endpoint_gone: 'endpoint_gone',
  unknown: 'unknown',
};

/** One entry of `attempt_log`, as `attemptItem` writes it. */
function attemptItemSchema() {
  return z.object({
    attempt: z.number(),
    at: z.string(),
    duration_ms: z.number(),
    status_code: z.nullable(z.number()),
    error_class: z.enum(ERROR_CLASSES),
    error_message: z.nullable(z.string()),
    response_snippet: z.nullable(z.string()),
    /** Only on an attempt resent after a refused cached credential. */
    resent_after_status: z.optional(z.number()),
  });
}

/**
 * An item as it is read back: required are the attributes every write that creates an item
 * sets, and that the failure indexes project; the others are sparse (set while they apply)
 * or not projected into the indexes. Index keys and the TTL are not read.
 */
function outcomeItemSchema() {
  return z.object({
    [ATTR.pk]: z.string(),
    [ATTR.organizationId]: z.string(),
    [ATTR.workflowId]: z.number(),
    [ATTR.workflowRunId]: z.number(),
    [ATTR.nodeId]: z.string(),
    [ATTR.nodeName]: z.string(),
    [ATTR.method]: z.string(),
    [ATTR.endpointHost]: z.string(),
    [ATTR.status]: z.enum(STATUSES),
    [ATTR.attempts]: z.number(),
    [ATTR.maxAttempts]: z.number(),
    [ATTR.lastStatusCode]: z.optional(z.number()),
    [ATTR.lastError]: z.optional(z.string()),
    [ATTR.createdAt]: z.string(),
    [ATTR.updatedAt]: z.string(),
    [ATTR.nextAttemptAt]: z.optional(z.number()),
    [ATTR.leaseUntil]: z.optional(z.number()),
    [ATTR.finalAt]: z.optional(z.string()),
    [ATTR.attemptLog]: z.optional(z.array(attemptItemSchema())),
    [ATTR.replayedAt]: z.optional(z.array(z.string())),
    [ATTR.request]: z.optional(z.string()),
    [ATTR.requestKept]: z.optional(z.boolean()),
    [ATTR.deadLetterPending]: z.optional(z.boolean()),
    [ATTR.emptyPlaceholders]: z.optional(z.string()),
    [ATTR.claimId]: z.optional(z.string()),
    [ATTR.pendingUntil]: z.optional(z.string()),
    [ATTR.reconciledAt]: z.optional(z.array(z.string())),
    [ATTR.stranded]: z.optional(z.boolean()),
  });
}
export type OutcomeItem = z.infer<ReturnType<typeof outcomeItemSchema>>;

// Built on first use: a cold start that reads no item back builds none of them.
const itemSchema = builtOnUse(outcomeItemSchema);
/** What an index that projects keys only (by-run, pending) returns per item. */
const keyItemSchema = builtOnUse(() => z.object({ [ATTR.pk]: z.string() }));
/** What the by-day index returns per item: the id and the sort key that names run, workflow, time and node. */
const byDayKeyItemSchema = builtOnUse(() => z.object({ [ATTR.pk]: z.string(), [ATTR.runNode]: z.string() }));
/** What the claim's write returns (`UPDATED_NEW`): the attempt count it set, among others. */
const claimedItemSchema = builtOnUse(() => z.object({ [ATTR.attempts]: z.number() }));

/**
 * Parses an item read back from the table. One that is not an item this code writes (a
 * status outside the vocabulary, a required attribute missing) is an error naming the
 * delivery and every bad attribute, never a record made up of blanks.
 */
export function parseItem(raw: RawItem): OutcomeItem {
  return parse(itemSchema(), raw);
}

/** The delivery id of an item from a keys-only index. */
export function parseKey(raw: RawItem): string {
  return parse(keyItemSchema(), raw)[ATTR.pk];
}

/** The delivery id and `run_node` sort key of a by-day index entry. */
export function parseByDayKey(raw: RawItem): { readonly id: string; readonly runNode: string } {
  const item = parse(byDayKeyItemSchema(), raw);
  return { id: item[ATTR.pk], runNode: item[ATTR.runNode] };
}

/** The attempt number the claim's write set, if its answer carries one. */
export function claimedAttempt(raw: RawItem | undefined): number | undefined {
  const parsed = claimedItemSchema().safeParse(unmarshall(raw ?? {}));
  return parsed.success ? parsed.data[ATTR.attempts] : undefined;
}

function parse<T>(schema: z.ZodMiniType<T>, raw: RawItem): T {
  const item = unmarshall(raw);
  const parsed = safeParse(schema, item);
  if (parsed.success) return parsed.data;
  const id = typeof item[ATTR.pk] === 'string' ? item[ATTR.pk] : '(no id)';
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(item)'}: ${issue.message}`);
  throw new WebhookError(`outcome record ${id}: not a record this store writes: ${problems.join('; ')}`);
}

/** What the state rules read of an item. */
export function stateOf(item: OutcomeItem): DeliveryState {
  return {
    status: item[ATTR.status],
    attempts: item[ATTR.attempts],
    leaseUntilMs: item[ATTR.leaseUntil],
    nextAttemptAtMs: item[ATTR.nextAttemptAt],
    claimId: item[ATTR.claimId],
  };
}

/** The port's record of an item (a summary, for one from a failure index: no log, no request). */
export function toRecord(item: OutcomeItem): DeliveryRecord {
  const nextAttemptAt = item[ATTR.nextAttemptAt];
  const leaseUntil = item[ATTR.leaseUntil];
  return {
    delivery_id: item[ATTR.pk],
    organization_id: item[ATTR.organizationId],
    workflow_id: item[ATTR.workflowId],
    workflow_run_id: item[ATTR.workflowRunId],
    node_id: item[ATTR.nodeId],
    node_name: item[ATTR.nodeName],
    method: item[ATTR.method],
    endpoint_host: item[ATTR.endpointHost],
    status: item[ATTR.status],
    attempts: item[ATTR.attempts],
    max_attempts: item[ATTR.maxAttempts],
    last_status_code: item[ATTR.lastStatusCode] ?? null,
    last_error: item[ATTR.lastError] ?? null,
    created_at: item[ATTR.createdAt],
    updated_at: item[ATTR.updatedAt],
    next_attempt_at: nextAttemptAt === undefined ? null : iso(nextAttemptAt),
    final_at: item[ATTR.finalAt] ?? null,
    attempt_log: item[ATTR.attemptLog] ?? [],
    replayed_at: item[ATTR.replayedAt] ?? [],
    request: keptRequest(item[ATTR.request]),
    request_kept: item[ATTR.requestKept] === true,
    dead_letter_pending: item[ATTR.deadLetterPending] === true,
    lease_until: leaseUntil === undefined ? null : iso(leaseUntil),
    pending_until: item[ATTR.pendingUntil] ?? null,
    reconciled_at: item[ATTR.reconciledAt] ?? [],
    stranded: item[ATTR.stranded] === true,
    ...emptyPlaceholdersOf(item[ATTR.emptyPlaceholders]),
  };
}

/** The stored empty-placeholder report, if there is one that still reads as one. */
function emptyPlaceholdersOf(value: string | undefined): { empty_placeholders?: EmptyPlaceholder[] } {
  if (value === undefined) return {};
  try {
    const parsed = deliveryMessageSchema().shape.empty_placeholders.safeParse(JSON.parse(value));
    return parsed.success && parsed.data !== undefined ? { empty_placeholders: parsed.data } : {};
  } catch {
    return {};
  }
}

/** The kept request, if there is one and it still reads as a delivery message (an older version's may not). */
function keptRequest(value: string | undefined): DeliveryMessage | null {
  if (value === undefined) return null;
  try {
    const parsed = safeParseDeliveryMessage(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Longest text kept per attempt field, so 25 attempts and a few replays stay far below DynamoDB's 400 KB item limit. */
const MAX_TEXT = 2048;

export function truncate(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

/** An attempt as the attempt log keeps it (a map), its texts bounded. */
export function attemptItem(attempt: AttemptRecord): AttemptRecord {
  return {
    attempt: attempt.attempt,
    at: attempt.at,
    duration_ms: attempt.duration_ms,
    status_code: attempt.status_code,
    error_class: attempt.error_class,
    error_message: attempt.error_message === null ? null : truncate(attempt.error_message),
    response_snippet: attempt.response_snippet === null ? null : truncate(attempt.response_snippet),
    ...(attempt.resent_after_status === undefined ? {} : { resent_after_status: attempt.resent_after_status }),
  };
}

/** The pending index partition of a delivery: a cheap, stable spread of its id. */
export function shardOf(deliveryId: string): string {
  let h = 0;
  for (let i = 0; i < deliveryId.length; i++) h = (h * 31 + deliveryId.charCodeAt(i)) >>> 0;
  return (h % PENDING_SHARDS).toString(16);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The failures-by-day partition of a time: its UTC day, YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return iso(ms).slice(0, 10);
}
