import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeDefinition, AttributeValue, GlobalSecondaryIndex } from '@aws-sdk/client-dynamodb';
import { byDayKeys, OUTCOME_TABLE } from '../adapters/outcome-table-layout.ts';
import { emulatorClientConfig } from './emulator-client-config.ts';

// dynalite is CommonJS and ships no types: the worker below loads it with `require`, from the
// path this module resolves.
const require = createRequire(import.meta.url);

/**
 * dynalite runs in a worker thread, so its request parsing (a PEG parser per expression, the
 * largest CPU cost of the local pipeline: docs/performance.md) uses a second core, and behind a
 * cache of its parses (dynalite-expressions.ts), which the worker puts in front of dynalite's
 * three parser modules before it loads dynalite. CommonJS, evaluated as is: starts the server on
 * a loopback port, posts the port, and on "stop" closes its connections and the server, then
 * posts "stopped".
 */
const DYNALITE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { dirname, join } = require('node:path');
(async () => {
  if (workerData.expressions !== undefined) {
    const { cacheParses } = await import(workerData.expressions);
    for (const parser of ['conditionParser', 'updateParser', 'projectionParser']) {
      cacheParses(require(join(dirname(workerData.dynalite), 'db', parser + '.js')));
    }
  }
  const server = require(workerData.dynalite)({
    ...(workerData.path === undefined ? {} : { path: workerData.path }),
    createTableMs: 0, deleteTableMs: 0, updateTableMs: 0,
  });
  server.once('error', (error) => parentPort.postMessage({ error: String(error) }));
  server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
  parentPort.on('message', () => {
    server.closeAllConnections();
    server.close(() => parentPort.postMessage('stopped'));
  });
})().catch((error) => parentPort.postMessage({ error: String(error) }));
`;

/** A running in-process DynamoDB emulator and a client bound to it. */
export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** A real SDK client pointed at the emulator (region us-east-1, dummy static credentials). */
  readonly client: DynamoDBClient;
  /** Destroys the client and closes the emulator; with `path`, its data is flushed to disk first. */
  stop(): Promise<void>;
}

export interface StartDynaliteOptions {
  /** A LevelDB folder that keeps the data between runs; in memory without it. */
  readonly path?: string;
  /** Parse each expression once per text, names and value types (dynalite-expressions.ts); default true. */
  readonly cacheExpressions?: boolean;
}

/**
 * Starts dynalite in this process on 127.0.0.1 with a random free port.
 *
 * In memory by default; `path` keeps the data in a LevelDB folder between runs.
 * Table state changes (create, delete, update) take no time, so a table is
 * ACTIVE as soon as it is created.
 */
export async function startDynalite(options: StartDynaliteOptions = {}): Promise<LocalDynamo> {
  const worker = new Worker(DYNALITE_WORKER, {
    eval: true,
    workerData: {
      dynalite: require.resolve('dynalite'),
      path: options.path,
      expressions:
        options.cacheExpressions === false ? undefined : new URL('./dynalite-expressions.ts', import.meta.url).href,
    },
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: { port?: number; error?: string }) =>
        m.port === undefined ? reject(new Error(`dynalite did not start: ${m.error}`)) : resolve(m.port),
      );
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  // An error of the emulator after its start: the client's next request fails with it.
  worker.on('error', (error) => process.stderr.write(`dynalite worker: ${String(error)}\n`));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient(emulatorClientConfig(endpoint));
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    client,
    stop() {
      stopped ??= (async () => {
        client.destroy();
        // The worker closes its connections and the server (so the data folder is written and
        // released), answers, and is then ended.
        const closed = new Promise<void>((resolve) => {
          worker.once('message', () => resolve());
          worker.once('exit', () => resolve());
        });
        worker.postMessage('stop');
        await closed;
        await worker.terminate();
      })();
      return stopped;
    },
  };
}

/**
 * Creates the outcome table exactly as `OUTCOME_TABLE` describes it (on-demand,
 * its GSIs) and waits until it and its indexes are ACTIVE. An existing table of
 * that name (a persistent `path`) is kept as it is, its items too; one made by an
 * older version that lacks an index of the layout is rebuilt with it (below).
 *
 * TTL is switched on where the service supports it; dynalite does not implement
 * `UpdateTimeToLive`, and locally nothing expires anyway, so it is skipped there.
 */
export async function createOutcomeTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const created = await createTable(client, tableName);
  if (!created) await addMissingIndexes(client, tableName);
  await waitUntilActive(client, tableName);
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: OUTCOME_TABLE.ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite answers UnknownOperationException; a table whose TTL is already on
    // answers ValidationException ("TimeToLive is already enabled").
    if (!isNamed(error, 'UnknownOperationException') && !isNamed(error, 'ValidationException')) throw error;
  }
}

/**
 * A `webhooks dev --data` folder from before an index was added (by-day): dynalite cannot add a
 * GSI to a table (UpdateTable has no index creation there), so the table is read whole, made
 * again with every index, and its items written back, each given the by-day keys of its own
 * creation time, run, workflow and node. Local data only, and small; AWS adds the index in place
 * (see docs/operations.md, upgrades).
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string): Promise<void> {
  await waitUntilActive(client, tableName);
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  if (Object.values(OUTCOME_TABLE.indexes).every((index) => present.has(index.name))) return;
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey !== undefined);
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  for (;;) {
    try {
      await client.send(new DescribeTableCommand({ TableName: tableName }));
      await new Promise((resolve) => setTimeout(resolve, 20));
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) break;
      throw error;
    }
  }
  await createTable(client, tableName);
  await waitUntilActive(client, tableName);
  for (const item of items) await client.send(new PutItemCommand({ TableName: tableName, Item: withByDayKeys(item) }));
}

/** An item of an older layout with the by-day keys it would have had (when it has what they are made of). */
function withByDayKeys(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const { partitionKey, sortKey } = OUTCOME_TABLE.indexes.byDay;
  const run = item['workflow_run_id']?.N;
  const workflow = item['workflow_id']?.N;
  const created = item['created_at']?.S;
  const node = item['node_id']?.S;
  if (item[partitionKey] !== undefined || run === undefined || workflow === undefined) return item;
  if (created === undefined || node === undefined) return item;
  const keys = byDayKeys({
    workflow_run_id: Number(run),
    workflow_id: Number(workflow),
    created_at: created,
    node_id: node,
  });
  return { ...item, [partitionKey]: { S: keys.day_shard }, [sortKey]: { S: keys.run_node } };
}

/** CreateTable as the layout says; false when a table of that name is there already. */
async function createTable(client: DynamoDBClient, tableName: string): Promise<boolean> {
  const { indexes } = OUTCOME_TABLE;
  const keyNames = new Set<string>([OUTCOME_TABLE.partitionKey]);
  const gsis: GlobalSecondaryIndex[] = Object.values(indexes).map((index) => {
    keyNames.add(index.partitionKey);
    keyNames.add(index.sortKey);
    return {
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: index.projection,
        ...(index.nonKeyAttributes === undefined ? {} : { NonKeyAttributes: [...index.nonKeyAttributes] }),
      },
    };
  });
  const attributeDefinitions: AttributeDefinition[] = [...keyNames].map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributeDefinitions,
        KeySchema: [{ AttributeName: OUTCOME_TABLE.partitionKey, KeyType: 'HASH' }],
        GlobalSecondaryIndexes: gsis,
      }),
    );
    return true;
  } catch (error) {
    if (!isNamed(error, 'ResourceInUseException')) throw error;
    return false;
  }
}

async function waitUntilActive(client: DynamoDBClient, tableName: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) throw new Error(`table ${tableName} is not ACTIVE after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}
