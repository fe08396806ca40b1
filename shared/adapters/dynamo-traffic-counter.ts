import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { windowOf, type FairSharePolicy } from '../domain/lanes.ts';
import type { TrafficCounter } from '../ports/traffic-counter.ts';
import type { Log } from '../use-cases/observability.ts';
import { ENDPOINT_HEALTH_TABLE, TRAFFIC_SORT_KEY_PREFIX } from './endpoint-health-table-layout.ts';

export interface DynamoTrafficCounterOptions {
  readonly client: DynamoDBClient;
  /** The endpoint health table: a count is one small item per organization and window beside its endpoints. */
  readonly tableName: string;
  readonly policy: FairSharePolicy;
  readonly log: Log;
  /** One call in this many writes, adding this many times its deliveries. Default 10. */
  readonly sampleEvery?: number;
  /** In [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Organizations remembered per container. Default 10,000. */
  readonly maxEntries?: number;
}

interface Known {
  readonly window: number;
  /** This container's own deliveries in the window, exact. */
  own: number;
  /** What this container's samples added to the table (ten times the sampled deliveries). */
  sampled: number;
  /** The other containers' part of the table's count at the last write. */
  others: number;
}

/**
 * Each organization's deliveries per fair-share window, counted in the endpoint
 * health table by sampling: one call in `sampleEvery` sends one UpdateItem that
 * adds `sampleEvery` × its deliveries and reads the total back; the others add to
 * the last total this container read. An organization sending a few runs mostly
 * costs nothing and takes the main lane; one sending hundreds per window is counted
 * within a few per cent. A container counts its own deliveries exactly and takes only
 * the other containers' part from the table (the total less what its own samples added),
 * so one sampled write never makes a quiet organization look ten times its size.
 */
export function createDynamoTrafficCounter(options: DynamoTrafficCounterOptions): TrafficCounter {
  const { client, tableName, policy, log } = options;
  const every = Math.max(1, Math.floor(options.sampleEvery ?? 10));
  const random = options.random ?? Math.random;
  const maxEntries = options.maxEntries ?? 10_000;
  const known = new Map<string, Known>();
  let warned = false;

  return {
    async add(organizationId, deliveries, nowMs) {
      const window = windowOf(nowMs, policy);
      let entry = known.get(organizationId);
      if (entry === undefined || entry.window !== window) {
        entry = { window, own: 0, sampled: 0, others: 0 };
        known.delete(organizationId);
        if (known.size >= maxEntries) known.delete(known.keys().next().value as string);
        known.set(organizationId, entry);
      }
      entry.own += deliveries;
      if (random() * every >= 1) return entry.own + entry.others;
      try {
        const windowEndS = (window + 1) * policy.windowSeconds;
        const out = await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: {
              [ENDPOINT_HEALTH_TABLE.partitionKey]: { S: organizationId },
              [ENDPOINT_HEALTH_TABLE.sortKey]: { S: `${TRAFFIC_SORT_KEY_PREFIX}${window}` },
            },
            UpdateExpression: 'ADD #count :n SET #ttl = :ttl',
            ExpressionAttributeNames: { '#count': 'count', '#ttl': ENDPOINT_HEALTH_TABLE.ttlAttribute },
            ExpressionAttributeValues: {
              ':n': { N: String(deliveries * every) },
              ':ttl': { N: String(Math.ceil(windowEndS) + 60) },
            },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        entry.sampled += deliveries * every;
        const total = Number(out.Attributes?.count?.N ?? entry.sampled);
        entry.others = Math.max(0, total - entry.sampled);
      } catch (error) {
        if (!warned) log.warn('fair-share count not written: deliveries take the main lane meanwhile', { error });
        warned = true;
      }
      return entry.own + entry.others;
    },
  };
}

/** The same count in memory, for tests and one-process tools. */
export function createMemoryTrafficCounter(policy: FairSharePolicy): TrafficCounter {
  const counts = new Map<string, number>();
  return {
    async add(organizationId, deliveries, nowMs) {
      const key = `${organizationId}\u0000${windowOf(nowMs, policy)}`;
      const count = (counts.get(key) ?? 0) + deliveries;
      counts.set(key, count);
      return count;
    },
  };
}
