// Over 400 lines on purpose: one script, the price list beside the call counters it multiplies.
/**
 * What one million deliveries cost on AWS, computed from the AWS calls this run makes.
 *
 *   npm run bench -- cost            (node bench/cost.bench.ts)
 *   node bench/cost.bench.ts --deliveries 500
 *
 * The real render and deliver handlers, wired as in Lambda (wireRenderDeps, wireDeliverDeps),
 * run against the emulators (fauxqs, dynalite) and a loopback Secrets Manager that answers
 * GetSecretValue, through the real SDK clients. Middleware on every client counts each request,
 * asks DynamoDB for its consumed capacity, and weighs what each write does to the indexes. The
 * functions' log lines (the ones `logLevel: info` keeps, EMF metric lines included) are counted in
 * bytes, and each invocation's wall time is priced at the stack's memory size.
 *
 * Three traffic shapes, as in issue 10: busy (batches of 10, a warm credential cache), quiet
 * (batches of 1, one delivery a minute per instance, the credential cache at its default TTL) and a delivery that needs three attempts.
 * EventBridge API destinations, priced from the same list, stands beside them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { makeHandler as makeDeliverHandler, wireDeliverDeps } from '../functions/deliver/handler.ts';
import { makeHandler as makeRenderHandler, wireRenderDeps } from '../functions/render/handler.ts';
import { OUTCOME_TABLE } from '../shared/adapters/outcome-table-layout.ts';
import { createSecretsManagerCredentialStore } from '../shared/adapters/secrets-manager-credential-store.ts';
import {
  DEFAULT_METRICS_NAMESPACE,
  DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  DeliverConfigSchema,
  ENV,
  parseConfig,
  RenderConfigSchema,
} from '../shared/config/config.ts';
import { createOutcomeTable, startDynalite } from '../shared/local/dynalite.ts';
import { DEFAULT_SECRETS_PREFIX } from '../shared/schemas/credential.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';
import { emulatorClientConfig } from '../shared/local/emulator-client-config.ts';
import { startPoller, type SqsBatchHandler } from '../shared/local/event-source-poller.ts';
import { createDeliveryQueues, startSqsEmulator } from '../shared/local/fauxqs.ts';
import { LOCAL_ADDRESS_POLICY } from '../shared/net/address-policy.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { systemClock } from '../shared/ports/clock.ts';

const { values: args } = parseArgs({
  options: {
    deliveries: { type: 'string', default: '300' },
    json: { type: 'string', default: 'bench/results-cost.json' },
    'log-sample': { type: 'string' },
  },
  allowPositionals: true,
});
const DELIVERIES = Number(args.deliveries);

/** us-east-1 list prices (USD), the ones issue 10 priced today's figures with. */
export const PRICES = {
  eventBridgeEvent: 1.0 / 1e6,
  sqsRequest: 0.4 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** arm64, as the stack's functions run. */
  lambdaGbSecond: 0.0000133334,
  dynamoWru: 0.625 / 1e6,
  dynamoRru: 0.125 / 1e6,
  secretsManagerCall: 0.05 / 1e4,
  logsIngestedGb: 0.5,
  apiDestinationInvocation: 0.2 / 1e6,
} as const;

function readExample(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8')) as unknown;
}

/** The stack's memory sizes (infra/webhook-delivery/settings.ts defaults). */
const RENDER_MEMORY_MB = 256;
const DELIVER_MEMORY_MB = 512;

interface Counts {
  events: number;
  sqsRequests: number;
  sqsByOperation: Record<string, number>;
  wru: number;
  wruIndexes: number;
  rru: number;
  secretsCalls: number;
  logBytes: number;
  logLines: number;
  renderInvocations: number;
  renderMs: number;
  deliverInvocations: number;
  deliverMs: number;
}

function newCounts(): Counts {
  return {
    events: 0,
    sqsRequests: 0,
    sqsByOperation: {},
    wru: 0,
    wruIndexes: 0,
    rru: 0,
    secretsCalls: 0,
    logBytes: 0,
    logLines: 0,
    renderInvocations: 0,
    renderMs: 0,
    deliverInvocations: 0,
    deliverMs: 0,
  };
}

type Item = Record<string, AttributeValue>;

/** DynamoDB's item size: attribute names plus values (the rule dynalite and the docs use). */
function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-/, '').replace(/^0+/, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.L !== undefined) return 3 + v.L.reduce((sum, x) => sum + 1 + valueSize(x), 0);
  if (v.M !== undefined) return 3 + Object.keys(v.M).length + itemSize(v.M);
  if (v.SS !== undefined) return v.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  return 0;
}
function itemSize(item: Item): number {
  return Object.entries(item).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + valueSize(v), 0);
}

/** Write units an index pays for one table write: puts, deletes or updates of its projection. */
function indexWriteUnits(before: Item | undefined, after: Item | undefined): number {
  let units = 0;
  for (const index of Object.values(OUTCOME_TABLE.indexes)) {
    const keys = [index.partitionKey, index.sortKey];
    const has = (item: Item | undefined) => item !== undefined && keys.every((k) => item[k] !== undefined);
    const projected = (item: Item): Item => {
      const names = [...keys, OUTCOME_TABLE.partitionKey, ...(index.nonKeyAttributes ?? [])];
      return Object.fromEntries(names.filter((n) => item[n] !== undefined).map((n) => [n, item[n] as AttributeValue]));
    };
    const wru = (item: Item) => Math.max(1, Math.ceil(itemSize(projected(item)) / 1024));
    const was = has(before);
    const is = has(after);
    if (!was && !is) continue;
    if (was && !is) units += 1;
    else if (!was && is) units += wru(after as Item);
    else {
      const a = projected(before as Item);
      const b = projected(after as Item);
      const keyChanged = keys.some((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      if (keyChanged) units += 1 + wru(after as Item);
      else if (JSON.stringify(a) !== JSON.stringify(b)) units += wru(after as Item);
    }
  }
  return units;
}

/** Counts SQS requests by operation; SQS bills every 64 KB of a request as one request. */
function countSqs(client: SQSClient, counts: () => Counts): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = (context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? 'unknown';
      const bytes = Buffer.byteLength(JSON.stringify((args as { input: unknown }).input));
      const result = await next(args);
      const c = counts();
      // A receive that found nothing is Lambda's idle polling: priced separately (see the note).
      const empty =
        op === 'ReceiveMessage' && ((result.output as { Messages?: unknown[] }).Messages ?? []).length === 0;
      if (!empty && op !== 'GetQueueAttributes') {
        const requests = Math.max(1, Math.ceil(bytes / 65_536));
        c.sqsRequests += requests;
        c.sqsByOperation[op] = (c.sqsByOperation[op] ?? 0) + requests;
      }
      return result;
    },
    { step: 'initialize', name: 'costCounter' },
  );
}

/** Counts DynamoDB capacity: the table's from ConsumedCapacity, the indexes' from the item before and after. */
function countDynamo(client: DynamoDBClient, side: DynamoDBClient, tableName: string, counts: () => Counts): void {
  const read = async (key: Item | undefined): Promise<Item | undefined> =>
    key === undefined
      ? undefined
      : (await side.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;
  // dynalite can answer a write a moment before a read sees it; every write here changes the
  // item (updated_at at least), so read until it has.
  const readChanged = async (key: Item | undefined, before: Item | undefined): Promise<Item | undefined> => {
    let after = await read(key);
    for (let i = 0; i < 20 && JSON.stringify(after) === JSON.stringify(before); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      after = await read(key);
    }
    return after;
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = (context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? 'unknown';
      const input = (args as { input: Record<string, unknown> }).input;
      input['ReturnConsumedCapacity'] = 'TOTAL';
      const isWrite = op === 'UpdateItem' || op === 'PutItem' || op === 'DeleteItem';
      const key =
        (input['Key'] as Item | undefined) ??
        (op === 'PutItem'
          ? { [OUTCOME_TABLE.partitionKey]: (input['Item'] as Item)[OUTCOME_TABLE.partitionKey] as AttributeValue }
          : undefined);
      const before = isWrite ? await read(key) : undefined;
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (error) {
        // A refused conditional write still costs its write units.
        if (isWrite) counts().wru += Math.max(1, Math.ceil(itemSize(before ?? {}) / 1024));
        throw error;
      }
      const consumed = (
        result.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }
      ).ConsumedCapacity;
      const units = (Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]).reduce(
        (s, c) => s + (c.CapacityUnits ?? 0),
        0,
      );
      const c = counts();
      if (isWrite) {
        c.wru += units;
        // Awaited before the +=, which would otherwise add to a total read before the await.
        const after = await readChanged(key, before);
        c.wruIndexes += indexWriteUnits(before, after);
      } else if (op !== 'DescribeTable') c.rru += units;
      return result;
    },
    { step: 'initialize', name: 'costCounter' },
  );
}

/** A loopback Secrets Manager: GetSecretValue over the JSON 1.1 protocol the SDK client speaks. */
async function startSecretsManager(
  secrets: Record<string, unknown>,
  counts: () => Counts,
): Promise<{ endpoint: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      counts().secretsCalls++;
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      const value = secrets[SecretId];
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (value === undefined) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'not found' }));
        return;
      }
      res.end(JSON.stringify({ Name: SecretId, SecretString: JSON.stringify(value) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The customer's endpoint: answers 500 to the first `failFirst` attempts of each delivery, then 200. */
async function startReceiver(failFirst: number): Promise<{ url: string; server: Server; received: () => number }> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      const attempt = Number(req.headers['x-dograh-delivery-attempt'] ?? '1');
      res.statusCode = attempt <= failFirst ? 500 : 200;
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server, received: () => received };
}

interface Scenario {
  readonly name: string;
  readonly batchSize: number;
  /**
   * Traffic this quiet leaves each warm instance this long between deliveries: the credential
   * cache's clock moves on by it per invocation (0: back to back). The cache's TTL is the
   * deliver function's default (DeliverConfigSchema), so the figure follows that default.
   */
  readonly secondsBetweenDeliveries: number;
  readonly failFirst: number;
}

const CREDENTIAL_TTL_SECONDS = Number(DeliverConfigSchema.shape[ENV.credentialCacheTtlSeconds].parse(undefined));

const SCENARIOS: readonly Scenario[] = [
  { name: 'busy: batches of 10, warm credential cache', batchSize: 10, secondsBetweenDeliveries: 0, failFirst: 0 },
  // One delivery a minute per instance: with the old 60 s TTL, every credential read was a miss.
  {
    name: 'quiet: batches of 1, one delivery a minute per instance',
    batchSize: 1,
    secondsBetweenDeliveries: 60,
    failFirst: 0,
  },
  { name: 'a delivery that takes 3 attempts (busy)', batchSize: 10, secondsBetweenDeliveries: 0, failFirst: 2 },
];

/**
 * One run of a scenario. `instrument`: count every AWS call (the counter's own reads slow the
 * functions down, so durations come from a second run without it).
 */
async function runScenario(scenario: Scenario, instrument: boolean): Promise<{ counts: Counts; deliveries: number }> {
  let counts = newCounts();
  const current = () => counts;
  let idleMs = 0;
  const sqs = await startSqsEmulator();
  const dynamo = await startDynalite();
  const sideClient = new DynamoDBClient(emulatorClientConfig(dynamo.endpoint));
  const table = 'cost-bench';
  await createOutcomeTable(dynamo.client, table);
  const queues = await createDeliveryQueues(sqs.client, {
    visibilityTimeoutSeconds: 65,
    maxReceiveCount: DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  });
  const prefix = DEFAULT_SECRETS_PREFIX;
  const secretsManager = await startSecretsManager(
    { [`${prefix}/42/cred-1`]: { type: 'BEARER_TOKEN', token: 'tok-bench-1234567890' } },
    current,
  );
  const receiver = await startReceiver(scenario.failFirst);
  if (instrument) {
    countSqs(sqs.client, current);
    countDynamo(dynamo.client, sideClient, table, current);
  }

  const sink = (line: string) => {
    // `--log-sample FILE`: the lines the measured deliveries log, to see what they cost.
    if (args['log-sample'] !== undefined && instrument && counts.events > 0 && counts.events <= 2) logSample.push(line);
    counts.logLines++;
    counts.logBytes += Buffer.byteLength(line) + 1;
  };
  const env = {
    [ENV.deliveryQueueUrl]: queues.delivery.url,
    [ENV.deadLetterQueueUrl]: queues.deadLetter.url,
    [ENV.outcomeTableName]: table,
    [ENV.secretsPrefix]: prefix,
    [ENV.requestTimeoutMs]: '10000',
    [ENV.metricsNamespace]: DEFAULT_METRICS_NAMESPACE,
  };
  const log = createLogger({ level: 'info', sink });
  const render = makeRenderHandler(
    wireRenderDeps(parseConfig(RenderConfigSchema, env), {
      sqs: sqs.client,
      dynamo: dynamo.client,
      log: log.child({ function: 'render' }),
      metricsSink: sink,
    }),
  );
  const deliverConfig = parseConfig(DeliverConfigSchema, env);
  const deliverDeps = wireDeliverDeps(deliverConfig, {
    sqs: sqs.client,
    dynamo: dynamo.client,
    credentials: createSecretsManagerCredentialStore({
      client: new SecretsManagerClient(emulatorClientConfig(secretsManager.endpoint)),
      prefix,
      ttlSeconds: CREDENTIAL_TTL_SECONDS,
      clock: { now: () => systemClock.now() + idleMs },
    }),
    policy: LOCAL_ADDRESS_POLICY,
    log: log.child({ function: 'deliver' }),
    metricsSink: sink,
  });
  const deliver = makeDeliverHandler(deliverDeps);
  const timed: SqsBatchHandler = async (event) => {
    idleMs += scenario.secondsBetweenDeliveries * 1000;
    const start = performance.now();
    try {
      return await deliver(event);
    } finally {
      counts.deliverInvocations++;
      counts.deliverMs += performance.now() - start;
    }
  };

  const node = {
    id: 'webhook-1',
    type: 'webhook',
    data: {
      name: 'Notify CRM',
      endpoint_url: receiver.url,
      credential_uuid: 'cred-1',
      custom_headers: [{ key: 'X-Source', value: 'dograh' }],
      payload_template: readExample('payload-template.json'),
      ...(scenario.failFirst > 0
        ? { retry_config: { max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 1 } }
        : {}),
    },
  };
  const context = readExample('context.json') as Record<string, unknown>;

  const event = (run: number) => ({
    version: '0',
    id: `evt-${run}`,
    source: DEFAULT_EVENT_SOURCE,
    'detail-type': DEFAULT_DETAIL_TYPE,
    account: '123456789012',
    time: '2026-12-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      ...context,
      organization_id: '42',
      workflow_run_id: run,
      workflow_definition: { nodes: [node], edges: [] },
    },
  });
  const poller = () =>
    startPoller({
      client: sqs.client,
      queueUrl: queues.delivery.url,
      queueArn: queues.delivery.arn,
      handler: timed,
      batchSize: scenario.batchSize,
      waitTimeSeconds: 0,
      concurrency: 1,
    });
  // Warm-up outside the counts: a cold start is not what a million deliveries pay for.
  await render(event(1) as never);
  const warm = poller();
  await warm.idle();
  await warm.stop();
  counts = newCounts();

  // One invocation at a time, as each Lambda instance runs one: first every event is rendered
  // (so batches fill as on a busy queue), then the deliveries are drained by one poller.
  const runs = DELIVERIES;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await render(event(1000 + i) as never);
    counts.renderInvocations++;
    counts.renderMs += performance.now() - start;
    counts.events++;
  }
  const drain = poller();
  await drain.idle();
  await drain.stop();
  const expected = runs * (scenario.failFirst + 1);
  if (receiver.received() < expected + (scenario.failFirst + 1)) {
    throw new Error(
      `${scenario.name}: the receiver saw ${receiver.received()} requests, expected ${expected} after warm-up`,
    );
  }
  receiver.server.close();
  secretsManager.server.close();
  sideClient.destroy();
  await sqs.stop();
  await dynamo.stop();
  return { counts, deliveries: runs };
}

interface CostLine {
  readonly item: string;
  readonly perMillion: number;
  readonly basis: string;
}

function costPerMillion(c: Counts, deliveries: number): CostLine[] {
  const per = (n: number) => (n / deliveries) * 1e6;
  const gbs = (ms: number, mb: number) => (ms / 1000) * (mb / 1024);
  const lines: CostLine[] = [
    {
      item: 'EventBridge',
      perMillion: per(c.events) * PRICES.eventBridgeEvent,
      basis: `${(c.events / deliveries).toFixed(2)} events`,
    },
    {
      item: 'DynamoDB',
      perMillion: per(c.wru + c.wruIndexes) * PRICES.dynamoWru + per(c.rru) * PRICES.dynamoRru,
      basis: `${((c.wru + c.wruIndexes) / deliveries).toFixed(2)} WRU (${(c.wruIndexes / deliveries).toFixed(2)} of them indexes), ${(c.rru / deliveries).toFixed(2)} RRU`,
    },
    {
      item: 'CloudWatch Logs',
      perMillion: (per(c.logBytes) / 1e9) * PRICES.logsIngestedGb,
      basis: `${Math.round(c.logBytes / deliveries)} B in ${(c.logLines / deliveries).toFixed(1)} lines`,
    },
    {
      item: 'SQS',
      perMillion: per(c.sqsRequests) * PRICES.sqsRequest,
      basis: `${(c.sqsRequests / deliveries).toFixed(2)} requests (${Object.entries(c.sqsByOperation)
        .map(([k, v]) => `${k} ${(v / deliveries).toFixed(2)}`)
        .join(', ')})`,
    },
    {
      item: 'Lambda render',
      perMillion:
        per(c.renderInvocations) * PRICES.lambdaRequest +
        per(gbs(c.renderMs, RENDER_MEMORY_MB)) * PRICES.lambdaGbSecond,
      basis: `${(c.renderInvocations / deliveries).toFixed(2)} invocations, ${(c.renderMs / Math.max(1, c.renderInvocations)).toFixed(1)} ms each at ${RENDER_MEMORY_MB} MB`,
    },
    {
      item: 'Lambda deliver',
      perMillion:
        per(c.deliverInvocations) * PRICES.lambdaRequest +
        per(gbs(c.deliverMs, DELIVER_MEMORY_MB)) * PRICES.lambdaGbSecond,
      basis: `${(c.deliverInvocations / deliveries).toFixed(2)} invocations, ${(c.deliverMs / Math.max(1, c.deliverInvocations)).toFixed(1)} ms each at ${DELIVER_MEMORY_MB} MB`,
    },
    {
      item: 'Secrets Manager',
      perMillion: per(c.secretsCalls) * PRICES.secretsManagerCall,
      basis: `${(c.secretsCalls / deliveries).toFixed(3)} GetSecretValue`,
    },
  ];
  return lines;
}

const logSample: string[] = [];
const results: Record<string, { total: number; lines: CostLine[] }> = {};
for (const scenario of SCENARIOS) {
  const { counts, deliveries } = await runScenario(scenario, true);
  const timing = (await runScenario(scenario, false)).counts;
  counts.renderMs = timing.renderMs;
  counts.deliverMs = timing.deliverMs;
  const lines = costPerMillion(counts, deliveries);
  const total = lines.reduce((s, l) => s + l.perMillion, 0);
  results[scenario.name] = { total, lines };
  console.log(`\n${scenario.name}: $${total.toFixed(2)} per million deliveries (${deliveries} measured)`);
  for (const l of lines) console.log(`  ${l.item.padEnd(16)} $${l.perMillion.toFixed(2).padStart(6)}  ${l.basis}`);
}
const apiDestinations = 1e6 * (PRICES.eventBridgeEvent + PRICES.apiDestinationInvocation);
console.log(
  `\nEventBridge API destinations, for comparison: $${apiDestinations.toFixed(2)} per million (no templates, per-tenant credentials or outcome log; 5 s timeout)`,
);
console.log(
  'Not in the figures: idle polling by the event source mapping (empty receives), storage, custom-metric and alarm fees (per month, not per delivery).',
);
if (args['log-sample'] !== undefined) writeFileSync(args['log-sample'], `${logSample.join('\n')}\n`);
writeFileSync(args.json, `${JSON.stringify({ prices: PRICES, apiDestinations, scenarios: results }, null, 2)}\n`);
