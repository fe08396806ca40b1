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
    /** Every delivery of a run: partition `run_key` (the run id), sort `node_id`. Keys only, so updates don't write it. */
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
