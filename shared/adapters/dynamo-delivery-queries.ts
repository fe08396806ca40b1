import { BatchGetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ValidationError, WebhookError } from '../errors.ts';
import { type DeliveryQueries, type FailureQuery, failureWindow } from '../ports/delivery-queries.ts';
import type { DeliveryRecord } from '../ports/delivery-store.ts';
import { ATTR, iso, parseItem, parseKey, type RawItem, toRecord, utcDay } from './outcome-item.ts';
import { OUTCOME_TABLE, PENDING_SHARDS } from './outcome-table-layout.ts';

/** Requests sent to DynamoDB since the queries were made. */
export interface DeliveryQueriesStats {
  /** Query and BatchGetItem requests. */
  readonly reads: number;
}

/**
 * The outcome log's listings on DynamoDB, each a Query of one index (never a Scan):
 * by-run (keys only, then BatchGetItem for the records), the two failure indexes
 * (summaries, newest first) and the sharded pending index (keys only).
 */
export interface DynamoDeliveryQueries extends DeliveryQueries {
  readonly stats: DeliveryQueriesStats;
}

export interface DynamoDeliveryQueriesOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;
const DAY_MS = 86_400_000;
/** Longest retention the config allows, and a day's slack for TTL's lag. */
const MAX_WINDOW_DAYS = 3651;

export function createDynamoDeliveryQueries(options: DynamoDeliveryQueriesOptions): DynamoDeliveryQueries {
  const { client, tableName } = options;
  const counts = { reads: 0 };
  const stats: DeliveryQueriesStats = {
    get reads() {
      return counts.reads;
    },
  };
  const keyOf = (deliveryId: string): RawItem => marshall({ [ATTR.pk]: deliveryId });

  async function listByRun(workflowRunId: number): Promise<DeliveryRecord[]> {
    const index = OUTCOME_TABLE.indexes.byRun;
    const ids: string[] = [];
    let startKey: RawItem | undefined;
    do {
      counts.reads += 1;
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: index.name,
          KeyConditionExpression: '#run = :run',
          ExpressionAttributeNames: { '#run': index.partitionKey },
          ExpressionAttributeValues: marshall({ ':run': String(workflowRunId) }),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const key of out.Items ?? []) ids.push(parseKey(key));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);

    const byId = new Map<string, DeliveryRecord>();
    for (let i = 0; i < ids.length; i += BATCH_GET_LIMIT) {
      for (const item of await batchGet(ids.slice(i, i + BATCH_GET_LIMIT))) {
        const record = toRecord(parseItem(item));
        byId.set(record.delivery_id, record);
      }
    }
    // The index is sorted by node id; BatchGetItem returns items in any order.
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async function batchGet(ids: readonly string[]): Promise<RawItem[]> {
    const items: RawItem[] = [];
    let keys: RawItem[] = ids.map(keyOf);
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
    const { since, until } = failureWindow(query);
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
    let startKey: RawItem | undefined;
    do {
      const remaining = limit - into.length;
      counts.reads += 1;
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: indexName,
          KeyConditionExpression: '#p = :p AND #at BETWEEN :since AND :until',
          ExpressionAttributeNames: { '#p': partitionKey, '#at': ATTR.finalAt },
          ExpressionAttributeValues: marshall({ ':p': partition, ':since': since, ':until': until }),
          ScanIndexForward: false,
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) into.push(toRecord(parseItem(item)));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && into.length < limit);
  }

  async function listPending(beforeMs: number, limit: number): Promise<string[]> {
    const index = OUTCOME_TABLE.indexes.pending;
    const ids: string[] = [];
    for (let shard = 0; shard < PENDING_SHARDS && ids.length < limit; shard++) {
      let startKey: RawItem | undefined;
      do {
        counts.reads += 1;
        const out = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: index.name,
            KeyConditionExpression: '#p = :p AND #until < :before',
            ExpressionAttributeNames: { '#p': index.partitionKey, '#until': index.sortKey },
            ExpressionAttributeValues: marshall({ ':p': shard.toString(16), ':before': iso(beforeMs) }),
            Limit: limit - ids.length,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const key of out.Items ?? []) ids.push(parseKey(key));
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined && ids.length < limit);
    }
    return ids;
  }

  return { stats, listByRun, listFailures, listPending };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
