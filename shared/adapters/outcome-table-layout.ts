/**
 * The outcome log's DynamoDB layout, shared by the store adapter, the local
 * emulator setup and the CDK construct, so all three describe one table.
 *
 * One item per delivery, keyed by its id; its attempts live in a list on the
 * item, so a delivery costs a claim and an outcome write per attempt and reading
 * its whole story is one GetItem.
 */
/**
 * What the failure indexes carry besides their keys: enough for `webhooks failures`,
 * not the attempt log or the kept request, which can be tens of KB and would be
 * copied, and paid for, in both indexes on every failure.
 */
export const FAILURE_SUMMARY_ATTRIBUTES = [
  'organization_id',
  'workflow_id',
  'workflow_run_id',
  'node_id',
  'node_name',
  'method',
  'endpoint_host',
  'status',
  'attempts',
  'max_attempts',
  'last_status_code',
  'last_error',
  'created_at',
  'updated_at',
  'request_kept',
  'reconciled_at',
  'stranded',
] as const;

/** Partitions of each day of the by-day index, by run: no one index partition takes a day's writes. */
export const BY_DAY_SHARDS = 16;

/** Partitions of the pending index: enough that no one index partition takes a hot write load. */
export const PENDING_SHARDS = 16;

/** How an index is projected; `nonKeyAttributes` only with INCLUDE. */
export interface IndexProjection {
  readonly projection: 'KEYS_ONLY' | 'INCLUDE' | 'ALL';
  readonly nonKeyAttributes?: readonly string[];
}

export const OUTCOME_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; DynamoDB's TTL deletes the item after the retention period. */
  ttlAttribute: 'expires_at',
  indexes: {
    /**
     * Every delivery by the UTC day it was created, spread over {@link BY_DAY_SHARDS} partitions
     * by its run (`day_shard`: `YYYY-MM-DD#<shard of the run id>`), sorted by
     * `run_node` (`<run id>#<workflow id>#<created_at>#<node id>`). One index serves both
     * `webhooks deliveries --run` (one Query per day of the window, on the run's shard, with
     * `begins_with(run_node, "<run id>#")`) and `--workflow --since` (every shard of each day of
     * the window, keeping the entries of that workflow). Keys only, and both keys are written once,
     * when the record is created: one index write per delivery, the one `by-run` used to cost.
     */
    byDay: {
      name: 'by-day',
      partitionKey: 'day_shard',
      sortKey: 'run_node',
      projection: 'KEYS_ONLY',
      nonKeyAttributes: undefined,
    },
    /**
     * Legacy, read only: every delivery of a run, partition `run_key` (the run id), sort `node_id`,
     * as records created before `by-day` carry it. New records no longer set `run_key`, so it gets
     * no new entries (and costs no write); `listByRun` still reads it for the older records. Drop
     * it, in a deploy of its own, once every stack has run `by-day` for its outcome retention.
     */
    byRun: {
      name: 'by-run',
      partitionKey: 'run_key',
      sortKey: 'node_id',
      projection: 'KEYS_ONLY',
      nonKeyAttributes: undefined,
    },
    /** Final failures of one organization in a time window; sparse: only failed deliveries carry `fail_org`. Summaries only. */
    failuresByOrg: {
      name: 'failures-by-org',
      partitionKey: 'fail_org',
      sortKey: 'final_at',
      projection: 'INCLUDE',
      nonKeyAttributes: FAILURE_SUMMARY_ATTRIBUTES,
    },
    /** Final failures of every organization, one partition per UTC day (`fail_day`, YYYY-MM-DD). */
    failuresByDay: {
      name: 'failures-by-day',
      partitionKey: 'fail_day',
      sortKey: 'final_at',
      projection: 'INCLUDE',
      nonKeyAttributes: FAILURE_SUMMARY_ATTRIBUTES,
    },
    /**
     * Non-final deliveries by when they are due to move on (ISO `pending_until`: the lease's end
     * while sending, the next attempt's due time while retrying), spread over
     * {@link PENDING_SHARDS} partitions (`pending_shard`). Sparse: a final outcome removes both
     * keys, so the index holds only what is in flight, and the reconciler reads it with a Query
     * per shard, never a Scan. Keys only: on the happy path it costs one small index write at
     * the claim and one delete at the outcome.
     */
    pending: {
      name: 'pending',
      partitionKey: 'pending_shard',
      sortKey: 'pending_until',
      projection: 'KEYS_ONLY',
      nonKeyAttributes: undefined,
    },
  },
} as const;

/** What a delivery's by-day entry is made of; all of it fixed when the record is created. */
export interface ByDayFields {
  readonly workflow_run_id: number;
  readonly workflow_id: number;
  /** ISO time the record was created. */
  readonly created_at: string;
  readonly node_id: string;
}

/** The by-day partition of a run's deliveries created on `day` (YYYY-MM-DD). */
export function byDayPartition(day: string, workflowRunId: number): string {
  return `${day}#${(Math.abs(Math.trunc(workflowRunId)) % BY_DAY_SHARDS).toString(16)}`;
}

/** Every by-day partition of `day`: where a listing that does not know the run looks. */
export function byDayPartitions(day: string): string[] {
  return Array.from({ length: BY_DAY_SHARDS }, (_, shard) => `${day}#${shard.toString(16)}`);
}

/** The by-day index keys of a delivery. */
export function byDayKeys(fields: ByDayFields): { readonly day_shard: string; readonly run_node: string } {
  return {
    day_shard: byDayPartition(fields.created_at.slice(0, 10), fields.workflow_run_id),
    run_node: `${fields.workflow_run_id}#${fields.workflow_id}#${fields.created_at}#${fields.node_id}`,
  };
}

/**
 * Reads a `run_node` sort key back (the node id, last, may itself hold `#`); undefined for one
 * not written by {@link byDayKeys}. Digits and one ISO time before it: a linear-time pattern.
 */
export function parseRunNode(value: string): ByDayFields | undefined {
  const match = /^(\d+)#(-?\d+)#([0-9T:.Z-]+)#(.*)$/s.exec(value);
  if (match === null) return undefined;
  const [, run = '', workflow = '', created = '', node = ''] = match;
  return { workflow_run_id: Number(run), workflow_id: Number(workflow), created_at: created, node_id: node };
}
