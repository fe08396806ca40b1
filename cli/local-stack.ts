import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { wireDeliverDeps } from '../functions/deliver/handler.ts';
import { makeHandler as makeDeliverHandler } from '../functions/deliver/handler.ts';
import { makeHandler as makeRenderHandler, wireRenderDeps } from '../functions/render/handler.ts';
import { createDynamoDeliveryStore } from '../shared/adapters/dynamo-delivery-store.ts';
import { toSqsJson } from '../shared/adapters/sqs-delivery-queue.ts';
import { createFileCredentialStore } from '../shared/adapters/file-credential-store.ts';
import { DELIVERY_QUEUE_MAX_RECEIVE_COUNT, DeliverConfigSchema, ENV, parseConfig, RenderConfigSchema } from '../shared/config/config.ts';
import { FINAL_STATUSES } from '../shared/domain/delivery.ts';
import { ValidationError } from '../shared/errors.ts';
import { startDynalite, createOutcomeTable } from '../shared/local/dynalite.ts';
import { startPoller } from '../shared/local/event-source-poller.ts';
import { createEndpointHealthTable } from '../shared/local/endpoint-health-table.ts';
import { restoreQueues, saveQueues, SavedQueuesSchema } from '../shared/local/sqs-snapshot.ts';
import { createDeliveryQueues, startSqsEmulator, type DeliveryQueues } from '../shared/local/fauxqs.ts';
import { LOCAL_ADDRESS_POLICY } from '../shared/net/address-policy.ts';
import { createLogger, type LineSink, type LogLevel } from '../shared/observability/logger.ts';
import type { DeliveryRecord, DeliveryStore } from '../shared/ports/delivery-store.ts';
import { DEFAULT_SECRETS_PREFIX } from '../shared/schemas/credential.ts';
import type { DeliverDeps } from '../shared/use-cases/deliver-message.ts';
import type { RenderedDelivery } from '../shared/use-cases/render-run.ts';

export interface LocalStackOptions {
  /** Secret names (`<prefix>/<org>/<uuid>`) to credential objects, as in `--secrets S.json`. */
  readonly secrets: Readonly<Record<string, unknown>>;
  readonly secretsPrefix?: string;
  readonly requestTimeoutMs?: number;
  /** Where the functions' JSON log lines go; default nowhere. */
  readonly logSink?: LineSink;
  readonly logLevel?: LogLevel;
  /** Keep the outcome log (DynamoDB, in `dynamodb/`) and the queued messages (`sqs.json`, written at stop) in this folder between runs. */
  readonly dataDir?: string;
  /** Visibility timeout of the delivery queue; default the request timeout plus 35 s, as a crashed attempt needs. */
  readonly visibilityTimeoutSeconds?: number;
  /** Changes the deliver function's dependencies: fault injection in tests, taps for the dev server. */
  readonly adaptDeliverDeps?: (deps: DeliverDeps) => DeliverDeps;
  /** The event source mapping's MaximumConcurrency (batches in the handler at once). Default 2. */
  readonly pollerConcurrency?: number;
  /** The event source mapping's batch size. Default 10. */
  readonly batchSize?: number;
  /** Tenant isolation (issue 8): endpoint circuits and early settling. Default on; off is the "before" of the isolation bench. */
  readonly isolation?: boolean;
  /** Told how long each deliver invocation (one batch) took, in ms: the bench's Lambda GB-s. */
  readonly onDeliverBatch?: (ms: number, records: number) => void;
  /** Circuit settings, as the construct props set them (failure threshold, cool-downs in seconds, cache TTL in ms). */
  readonly circuit?: { readonly failureThreshold?: number; readonly cooldownMinSeconds?: number; readonly cooldownMaxSeconds?: number; readonly cacheTtlMs?: number };
}

export interface LocalStack {
  /** Hands one event to the render function as EventBridge would; a malformed one lands in the render dead-letter queue and rejects. */
  emit(event: unknown): Promise<RenderedDelivery[]>;
  /**
   * Resolves when every one of these deliveries is final, with their records. Those
   * in `attempted` must also have had an attempt: a delivery enqueued again after
   * failing to render is final (attempts 0) until its message reopens it.
   */
  waitUntilFinal(deliveryIds: readonly string[], timeoutMs: number, options?: { readonly attempted?: ReadonlySet<string> }): Promise<DeliveryRecord[]>;
  readonly store: DeliveryStore;
  readonly queues: DeliveryQueues;
  /** SDK clients bound to the emulators, and the emulators' endpoints. */
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly sqsEndpoint: string;
  readonly dynamoEndpoint: string;
  /** The endpoint health table (circuits, gone marks). */
  readonly healthTableName: string;
  stop(): Promise<void>;
}

export const LOCAL_TABLE_NAME = 'dograh-webhooks-outcomes';
export const LOCAL_HEALTH_TABLE_NAME = 'dograh-webhooks-endpoint-health';

/**
 * The whole pipeline on this machine: fauxqs for SQS, dynalite for DynamoDB,
 * the real AWS SDK clients pointed at them, the render and deliver handlers
 * wired by the same code as in Lambda, from environments parsed by the same
 * schemas, and a poller that plays Lambda's SQS event source mapping.
 * Loopback endpoints are allowed; every other private address stays blocked.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const sqs = await startSqsEmulator();
  const dynamo = await startDynalite(options.dataDir === undefined ? {} : { path: join(options.dataDir, 'dynamodb') });
  await createOutcomeTable(dynamo.client, LOCAL_TABLE_NAME);
  await createEndpointHealthTable(dynamo.client, LOCAL_HEALTH_TABLE_NAME);
  const queues = await createDeliveryQueues(sqs.client, {
    // As the stack does: the handler settles retries itself; visibility only covers a crashed attempt.
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? Math.ceil(requestTimeoutMs / 1000) + 35,
    maxReceiveCount: DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  });
  const queueUrls = new Map(Object.values(queues).map((q) => [queueName(q.url), q.url]));
  const savedFile = options.dataDir === undefined ? undefined : join(options.dataDir, 'sqs.json');
  if (savedFile !== undefined && existsSync(savedFile)) {
    // Messages kept by the last stop: retries waiting, dead letters. The file stays until
    // the next stop replaces it, so a run that dies without a stop loses nothing it had;
    // a message restored twice is a duplicate, which the deliver side drops.
    const saved = SavedQueuesSchema.parse(JSON.parse(await readFile(savedFile, 'utf8')));
    await restoreQueues(sqs.client, queueUrls, saved, Date.now());
  }
  const prefix = options.secretsPrefix ?? DEFAULT_SECRETS_PREFIX;
  const sink = options.logSink ?? (() => undefined);
  const log = createLogger({ level: options.logLevel ?? 'info', sink });
  const env = {
    [ENV.deliveryQueueUrl]: queues.delivery.url,
    [ENV.deadLetterQueueUrl]: queues.deadLetter.url,
    [ENV.outcomeTableName]: LOCAL_TABLE_NAME,
    [ENV.secretsPrefix]: prefix,
    [ENV.requestTimeoutMs]: String(requestTimeoutMs),
    [ENV.metricsNamespace]: 'DograhWebhooksLocal',
    ...isolationEnv(options),
  };
  const render = makeRenderHandler(
    wireRenderDeps(parseConfig(RenderConfigSchema, env), { sqs: sqs.client, dynamo: dynamo.client, log: log.child({ function: 'render' }), metricsSink: sink }),
  );
  const adapt = options.adaptDeliverDeps ?? ((deps: DeliverDeps) => deps);
  const deliver = makeDeliverHandler(
    adapt(wireDeliverDeps(parseConfig(DeliverConfigSchema, env), {
      sqs: sqs.client,
      dynamo: dynamo.client,
      credentials: createFileCredentialStore(options.secrets, prefix),
      policy: LOCAL_ADDRESS_POLICY,
      log: log.child({ function: 'deliver' }),
      metricsSink: sink,
    })),
  );
  const poller = startPoller({
    client: sqs.client,
    queueUrl: queues.delivery.url,
    queueArn: queues.delivery.arn,
    handler: timed(deliver, options.onDeliverBatch),
    waitTimeSeconds: 1,
    concurrency: options.pollerConcurrency ?? 2,
    batchSize: options.batchSize ?? 10,
    onError: (error, stage) => log.error('poller error', { stage, error }),
  });
  const store = createDynamoDeliveryStore({ client: dynamo.client, tableName: LOCAL_TABLE_NAME, retentionDays: 30 });

  return {
    store,
    queues,
    sqs: sqs.client,
    dynamo: dynamo.client,
    sqsEndpoint: sqs.endpoint,
    dynamoEndpoint: dynamo.endpoint,
    healthTableName: LOCAL_HEALTH_TABLE_NAME,
    async emit(event) {
      try {
        return await render(event as Parameters<typeof render>[0]);
      } catch (error) {
        // Lambda's on-failure destination: the event and why it failed.
        const reason = error instanceof ValidationError ? error.message : String(error);
        await sqs.client.send(
          new SendMessageCommand({
            QueueUrl: queues.renderDeadLetter.url,
            MessageBody: toSqsJson({ requestPayload: event, responsePayload: { errorMessage: reason } }),
          }),
        );
        throw error;
      }
    },
    async waitUntilFinal(deliveryIds, timeoutMs, waitOptions = {}) {
      const deadline = Date.now() + timeoutMs;
      const attempted = waitOptions.attempted ?? new Set<string>();
      const settled = (r: DeliveryRecord | undefined) =>
        r !== undefined && FINAL_STATUSES.has(r.status) && (!attempted.has(r.delivery_id) || r.attempts > 0);
      for (;;) {
        const records = await Promise.all(deliveryIds.map((id) => store.get(id)));
        if (records.every(settled)) return records as DeliveryRecord[];
        if (Date.now() > deadline) throw new Error(`deliveries not final after ${Math.round(timeoutMs / 1000)} s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await poller.stop();
      if (savedFile !== undefined) {
        const saved = await saveQueues(sqs.endpoint, [...queueUrls.keys()], Date.now());
        await mkdir(dirname(savedFile), { recursive: true });
        // Written aside, then renamed: a stop cut short never leaves half a file.
        await writeFile(`${savedFile}.tmp`, JSON.stringify(saved));
        await rename(`${savedFile}.tmp`, savedFile);
      }
      await sqs.stop();
      await dynamo.stop();
    },
  };
}

function timed<E extends { Records: readonly unknown[] }, R>(handler: (event: E) => Promise<R>, tell: ((ms: number, records: number) => void) | undefined): (event: E) => Promise<R> {
  if (tell === undefined) return handler;
  return async (event) => {
    const start = performance.now();
    try {
      return await handler(event);
    } finally {
      tell(performance.now() - start, event.Records.length);
    }
  };
}

/** The deliver function's isolation keys, as the construct sets them. */
function isolationEnv(options: LocalStackOptions): Record<string, string> {
  const on = options.isolation ?? true;
  const c = options.circuit ?? {};
  return {
    [ENV.endpointHealthTableName]: LOCAL_HEALTH_TABLE_NAME,
    [ENV.circuitsEnabled]: String(on),
    [ENV.settleEarly]: String(on),
    ...(c.failureThreshold === undefined ? {} : { [ENV.circuitFailureThreshold]: String(c.failureThreshold) }),
    ...(c.cooldownMinSeconds === undefined ? {} : { [ENV.circuitCooldownMinSeconds]: String(c.cooldownMinSeconds) }),
    ...(c.cooldownMaxSeconds === undefined ? {} : { [ENV.circuitCooldownMaxSeconds]: String(c.cooldownMaxSeconds) }),
    ...(c.cacheTtlMs === undefined ? {} : { [ENV.healthCacheTtlMs]: String(c.cacheTtlMs) }),
  };
}

function queueName(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
