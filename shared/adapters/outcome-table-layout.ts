/**
 * The outcome log's DynamoDB layout, shared by the store adapter, the local
 * emulator setup and the CDK construct, so all three describe one table.
 *
 * One item per delivery, keyed by its id; its attempts live in a list on the
 * item, so a delivery costs a claim and an outcome write per attempt and reading
 * its whole story is one GetItem.
 */
export const OUTCOME_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; DynamoDB's TTL deletes the item after the retention period. */
  ttlAttribute: 'expires_at',
  indexes: {
    /** Every delivery of a run: partition `run_key` (the run id), sort `node_id`. Keys only, so updates don't write it. */
    byRun: { name: 'by-run', partitionKey: 'run_key', sortKey: 'node_id', projection: 'KEYS_ONLY' },
    /** Final failures of one organization in a time window; sparse: only failed deliveries carry `fail_org`. */
    failuresByOrg: { name: 'failures-by-org', partitionKey: 'fail_org', sortKey: 'final_at', projection: 'ALL' },
    /** Final failures of every organization, one partition per UTC day (`fail_day`, YYYY-MM-DD). */
    failuresByDay: { name: 'failures-by-day', partitionKey: 'fail_day', sortKey: 'final_at', projection: 'ALL' },
  },
} as const;
