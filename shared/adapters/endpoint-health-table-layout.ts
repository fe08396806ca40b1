/**
 * The endpoint health table's layout, shared by the store adapter, the local
 * emulator setup and the CDK construct. A table of its own beside the outcome
 * log: it holds one small item per organization and endpoint that ever failed,
 * so listing it is a cheap Scan (or a Query for one organization), which the
 * outcome table, one item per delivery, could not offer without an index.
 */
export const ENDPOINT_HEALTH_TABLE = {
  partitionKey: 'organization_id',
  sortKey: 'endpoint',
  /** Epoch seconds: an endpoint not heard of for the retention period is forgotten (gone marks excepted). */
  ttlAttribute: 'expires_at',
} as const;

/**
 * Sort keys of the fair-share counts render keeps beside the endpoints (shared/domain/lanes.ts):
 * `traffic#<window>`. An endpoint key is `scheme://host[:port]`, so none starts this way; the
 * store's list leaves these items out.
 */
export const TRAFFIC_SORT_KEY_PREFIX = 'traffic#';
