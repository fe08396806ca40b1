import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CIRCUIT_STATES, type CircuitState, type EndpointHealth } from '../domain/endpoint-health.ts';
import type { EndpointHealthStore } from '../ports/endpoint-health-store.ts';
import { ENDPOINT_HEALTH_TABLE, TRAFFIC_SORT_KEY_PREFIX } from './endpoint-health-table-layout.ts';

/** Requests sent since the store was made. */
export interface EndpointHealthStoreStats {
  readonly reads: number;
  readonly writes: number;
}

export interface DynamoEndpointHealthStore extends EndpointHealthStore {
  readonly stats: EndpointHealthStoreStats;
}

export interface DynamoEndpointHealthStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Items not written for this many days expire (DynamoDB TTL); gone marks never do. */
  readonly retentionDays: number;
}

type Item = Record<string, AttributeValue>;
const PK = ENDPOINT_HEALTH_TABLE.partitionKey;
const SK = ENDPOINT_HEALTH_TABLE.sortKey;

/**
 * Endpoint health on DynamoDB: one item per organization and endpoint, written
 * whole with a version condition (PutItem), read with GetItem. The deliver side
 * reads it through a short per-container cache, so a delivery to a healthy
 * endpoint costs no request here at all.
 */
export function createDynamoEndpointHealthStore(options: DynamoEndpointHealthStoreOptions): DynamoEndpointHealthStore {
  const { client, tableName, retentionDays } = options;
  const counts = { reads: 0, writes: 0 };
  const key = (org: string, endpoint: string): Item => ({ [PK]: { S: org }, [SK]: { S: endpoint } });

  return {
    stats: counts,
    async get(org, endpoint) {
      counts.reads += 1;
      const { Item: item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: key(org, endpoint), ConsistentRead: true }),
      );
      return item === undefined ? undefined : fromItem(item);
    },
    async put(next, expectedVersion) {
      counts.writes += 1;
      const item = toItem({ ...next, version: expectedVersion + 1 }, retentionDays);
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(#pk)' : '#v = :v',
            ExpressionAttributeNames: expectedVersion === 0 ? { '#pk': PK } : { '#v': 'version' },
            ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ':v': { N: String(expectedVersion) } } }),
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },
    async remove(org, endpoint) {
      counts.writes += 1;
      const out = await client.send(
        new DeleteItemCommand({ TableName: tableName, Key: key(org, endpoint), ReturnValues: 'ALL_OLD' }),
      );
      return out.Attributes !== undefined;
    },
    async list(org) {
      const items: Item[] = [];
      let start: Item | undefined;
      do {
        counts.reads += 1;
        const out =
          org === undefined
            ? await client.send(
                new ScanCommand({ TableName: tableName, ...(start === undefined ? {} : { ExclusiveStartKey: start }) }),
              )
            : await client.send(
                new QueryCommand({
                  TableName: tableName,
                  KeyConditionExpression: '#pk = :org',
                  ExpressionAttributeNames: { '#pk': PK },
                  ExpressionAttributeValues: { ':org': { S: org } },
                  ...(start === undefined ? {} : { ExclusiveStartKey: start }),
                }),
              );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start !== undefined);
      return items
        .filter((item) => !item[SK]?.S?.startsWith(TRAFFIC_SORT_KEY_PREFIX))
        .map(fromItem)
        .sort((a, b) => (a.organization_id + a.endpoint < b.organization_id + b.endpoint ? -1 : 1));
    },
  };
}

function toItem(h: EndpointHealth, retentionDays: number): Item {
  const item: Item = {
    [PK]: { S: h.organization_id },
    [SK]: { S: h.endpoint },
    state: { S: h.state },
    consecutive_failures: { N: String(h.consecutive_failures) },
    opens: { N: String(h.opens) },
    updated_at_ms: { N: String(h.updated_at_ms) },
    version: { N: String(h.version) },
  };
  const optional: Array<[string, number | string | null]> = [
    ['open_until_ms', h.open_until_ms],
    ['probe_until_ms', h.probe_until_ms],
    ['last_success_ms', h.last_success_ms],
    ['last_failure_ms', h.last_failure_ms],
    ['last_error', h.last_error],
    ['gone_at_ms', h.gone_at_ms],
    ['gone_node_hash', h.gone_node_hash],
    ['slow_until_ms', h.slow_until_ms],
  ];
  for (const [name, value] of optional) {
    if (value === null) continue;
    item[name] = typeof value === 'number' ? { N: String(value) } : { S: value };
  }
  if (h.state !== 'gone')
    item[ENDPOINT_HEALTH_TABLE.ttlAttribute] = {
      N: String(Math.floor(h.updated_at_ms / 1000) + retentionDays * 86_400),
    };
  return item;
}

function fromItem(item: Item): EndpointHealth {
  const num = (name: string): number | null => (item[name]?.N === undefined ? null : Number(item[name].N));
  const str = (name: string): string | null => item[name]?.S ?? null;
  const state = str('state');
  return {
    organization_id: str(PK) ?? '',
    endpoint: str(SK) ?? '',
    state: CIRCUIT_STATES.includes(state as CircuitState) ? (state as CircuitState) : 'closed',
    consecutive_failures: num('consecutive_failures') ?? 0,
    opens: num('opens') ?? 0,
    open_until_ms: num('open_until_ms'),
    probe_until_ms: num('probe_until_ms'),
    last_success_ms: num('last_success_ms'),
    last_failure_ms: num('last_failure_ms'),
    last_error: str('last_error'),
    gone_at_ms: num('gone_at_ms'),
    gone_node_hash: str('gone_node_hash'),
    // Absent on items written before slow marks existed.
    slow_until_ms: num('slow_until_ms'),
    updated_at_ms: num('updated_at_ms') ?? 0,
    version: num('version') ?? 0,
  };
}
