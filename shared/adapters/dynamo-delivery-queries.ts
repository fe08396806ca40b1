import { BatchGetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ValidationError, WebhookError } from '../errors.ts';
import { DEFAULT_OUTCOME_RETENTION_DAYS } from '../config/env.ts';
import {
  type CreatedWindow,
  type DeliveryQueries,
  type FailureQuery,
  failureWindow,
  type WorkflowQuery,
} from '../ports/delivery-queries.ts';
import type { DeliveryRecord } from '../ports/delivery-store.ts';
import { ATTR, iso, parseByDayKey, parseItem, parseKey, type RawItem, toRecord, utcDay } from './outcome-item.ts';
import {
  byDayPartition,
  byDayPartitions,
  OUTCOME_TABLE,
  PENDING_SHARDS,
  parseRunNode,
} from './outcome-table-layout.ts';

/** Requests sent to DynamoDB since the queries were made. */
export interface DeliveryQueriesStats {
  /** Query and BatchGetItem requests. */
  readonly reads: number;
}

/**
 * The outcome log's listings on DynamoDB, each a Query of one index (never a Scan):
 * by-day (keys only, then BatchGetItem for the records; by-run too for older records), the two
 * failure indexes (summaries, newest first) and the sharded pending index (keys only).
 */
export interface DynamoDeliveryQueries extends DeliveryQueries {
  readonly stats: DeliveryQueriesStats;
}

export interface DynamoDeliveryQueriesOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Days a record lives after its last write: the default window of `listByRun`. */
  readonly retentionDays?: number;
}

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;
const DAY_MS = 86_400_000;
/** Longest retention the config allows, and a day's slack for TTL's lag. */
const MAX_WINDOW_DAYS = 3651;

export function createDynamoDeliveryQueries(options: DynamoDeliveryQueriesOptions): DynamoDeliveryQueries {
  const { client, tableName, retentionDays = DEFAULT_OUTCOME_RETENTION_DAYS } = options;
  const counts = { reads: 0 };
  const stats: DeliveryQueriesStats = {
    get reads() {
      return counts.reads;
    },
  };
  const keyOf = (deliveryId: string): RawItem => marshall({ [ATTR.pk]: deliveryId });

  /** The default window of the listings by day: the outcome retention (and a day of TTL lag) up to now. */
  function retentionWindow(): CreatedWindow {
    const now = Date.now();
    return { since: iso(now - (retentionDays + 1) * DAY_MS), until: iso(now) };
  }

  async function listByRun(
    workflowRunId: number,
    window: CreatedWindow = retentionWindow(),
  ): Promise<DeliveryRecord[]> {
    const { since, until, days } = windowDays(window);
    const index = OUTCOME_TABLE.indexes.byDay;
    // One Query per day, on the run's shard: the run's entries, whatever else that day holds.
    const perDay = await mapLimit(days, QUERY_CONCURRENCY, (day) =>
      queryIndex(index.name, {
        KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
        ExpressionAttributeNames: { '#p': index.partitionKey, '#s': index.sortKey },
        ExpressionAttributeValues: marshall({
          ':p': byDayPartition(day, workflowRunId),
          ':prefix': `${workflowRunId}#`,
        }),
      }),
    );
    const ids = new Set<string>();
    for (const item of perDay.flat()) {
      const { id, runNode } = parseByDayKey(item);
      const fields = parseRunNode(runNode);
      if (fields !== undefined && fields.created_at >= since && fields.created_at <= until) ids.add(id);
    }
    // Records created before the by-day index carry only the legacy by-run key.
    const legacy = OUTCOME_TABLE.indexes.byRun;
    const older = await queryIndex(legacy.name, {
      KeyConditionExpression: '#run = :run',
      ExpressionAttributeNames: { '#run': legacy.partitionKey },
      ExpressionAttributeValues: marshall({ ':run': String(workflowRunId) }),
    });
    for (const item of older) ids.add(parseKey(item));

    const records = (await readRecords([...ids])).filter((r) => r.created_at >= since && r.created_at <= until);
    return records.sort((a, b) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0));
  }

  async function listByWorkflow(query: WorkflowQuery): Promise<DeliveryRecord[]> {
    const { since, until, days } = windowDays(query);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return [];
    const index = OUTCOME_TABLE.indexes.byDay;
    // The index is sorted by run, not by workflow: every shard of every day of the window is read,
    // and only this workflow's entries kept (keys only: small, and never the records themselves).
    const found: { id: string; created: string }[] = [];
    await mapLimit(days.flatMap(byDayPartitions), QUERY_CONCURRENCY, async (partition) => {
      const items = await queryIndex(index.name, {
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': index.partitionKey },
        ExpressionAttributeValues: marshall({ ':p': partition }),
      });
      for (const item of items) {
        const { id, runNode } = parseByDayKey(item);
        const fields = parseRunNode(runNode);
        if (fields === undefined || fields.workflow_id !== query.workflowId) continue;
        if (fields.created_at < since || fields.created_at > until) continue;
        found.push({ id, created: fields.created_at });
      }
    });
    found.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? -1 : 1));
    const ids = found.slice(0, limit).map((f) => f.id);
    const byId = new Map((await readRecords(ids)).map((r) => [r.delivery_id, r]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** Every item of an index Query, all pages. */
  async function queryIndex(
    indexName: string,
    input: Pick<QueryCommandInput, 'KeyConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>,
  ): Promise<RawItem[]> {
    const items: RawItem[] = [];
    let startKey: RawItem | undefined;
    do {
      counts.reads += 1;
      const out = await client.send(
        new QueryCommand({ TableName: tableName, IndexName: indexName, ...input, ExclusiveStartKey: startKey }),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }

  /** The records of these ids (BatchGetItem, 100 at a time); ids gone meanwhile (TTL) are left out. */
  async function readRecords(ids: readonly string[]): Promise<DeliveryRecord[]> {
    const records: DeliveryRecord[] = [];
    for (let i = 0; i < ids.length; i += BATCH_GET_LIMIT) {
      for (const item of await batchGet(ids.slice(i, i + BATCH_GET_LIMIT))) records.push(toRecord(parseItem(item)));
    }
    return records;
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

  return { stats, listByRun, listByWorkflow, listFailures, listPending, getMany: readRecords };
}

/** Queries of one listing in flight at once: parallel enough to be quick, few enough to stay polite. */
const QUERY_CONCURRENCY = 8;

/** A window's bounds as ISO times and its UTC days, oldest first; a window of decades is refused. */
function windowDays(window: CreatedWindow): { since: string; until: string; days: string[] } {
  const { since, until } = failureWindow(window);
  if (since > until) return { since, until, days: [] };
  const first = Date.parse(`${since.slice(0, 10)}T00:00:00.000Z`);
  const last = Date.parse(`${until.slice(0, 10)}T00:00:00.000Z`);
  if (last - first > MAX_WINDOW_DAYS * DAY_MS) {
    throw new ValidationError([{ path: 'since', reason: `a window may span at most ${MAX_WINDOW_DAYS} days` }]);
  }
  const days: string[] = [];
  for (let day = first; day <= last; day += DAY_MS) days.push(utcDay(day));
  return { since, until, days };
}

/** Runs `work` on every item, at most `limit` at once; results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
