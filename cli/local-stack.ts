import { existsSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { wireDeliverDeps } from '../functions/deliver/handler.ts';
import { makeHandler as makeDeliverHandler } from '../functions/deliver/handler.ts';
import { makeHandler as makeRenderHandler, wireRenderDeps } from '../functions/render/handler.ts';
import { createDynamoDeliveryQueries } from '../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore } from '../shared/adapters/dynamo-delivery-store.ts';
import { toSqsJson } from '../shared/adapters/sqs-delivery-queue.ts';
import { createFileCredentialStore } from '../shared/adapters/file-credential-store.ts';
import {
  DEFAULT_OUTCOME_RETENTION_DAYS,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  DELIVER_EVENT_SOURCE_DEFAULTS,
  SLOW_LANE_EVENT_SOURCE_DEFAULTS,
  DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  DeliverConfigSchema,
  ENV,
  parseConfig,
  RenderConfigSchema,
} from '../shared/config/config.ts';
import { FINAL_STATUSES } from '../shared/domain/delivery.ts';
import { ValidationError } from '../shared/errors.ts';
import { startDynalite, createOutcomeTable } from '../shared/local/dynalite.ts';
import { startPoller } from '../shared/local/event-source-poller.ts';
import { createEndpointHealthTable } from '../shared/local/endpoint-health-table.ts';
import { restoreQueues, SavedQueuesSchema } from '../shared/local/sqs-snapshot.ts';
import { createDeliveryQueues, startSqsEmulator, type DeliveryQueues } from '../shared/local/fauxqs.ts';
import { LOCAL_ADDRESS_POLICY } from '../shared/net/address-policy.ts';
import { createLogger, DEFAULT_LOG_LEVEL, type LineSink, type LogLevel } from '../shared/observability/logger.ts';
import type { DeliveryQueries } from '../shared/ports/delivery-queries.ts';
import type { DeliveryRecord, DeliveryStore } from '../shared/ports/delivery-store.ts';
import { DEFAULT_SECRETS_PREFIX } from '../shared/schemas/credential.ts';
import type { DeliverDeps } from '../shared/use-cases/deliver-message.ts';
import type { Log } from '../shared/use-cases/observability.ts';
import type { RenderedDelivery } from '../shared/use-cases/render-run.ts';

export interface LocalStackOptions {
  /** Secret names (`<prefix>/<org>/<uuid>`) to credential objects, as in `--secrets S.json`. */
  readonly secrets: Readonly<Record<string, unknown>>;
  readonly secretsPrefix?: string;
  readonly requestTimeoutMs?: number;
  /** Where the functions' JSON log lines go; default nowhere. */
  readonly logSink?: LineSink;
  readonly logLevel?: LogLevel;
  /**
   * Keep the outcome log (DynamoDB, in `dynamodb/`) and the queues (SQLite, in `sqs/`) in this
   * folder. Both are written through as they change, so a process killed at any moment
   * restarts where it was (see docs/reliability.md).
   */
  readonly dataDir?: string;
  /** Visibility timeout of the delivery queue; default the request timeout plus 35 s, as a crashed attempt needs. */
  readonly visibilityTimeoutSeconds?: number;
  /** Changes the deliver function's dependencies: fault injection in tests, taps for the dev server. */
  readonly adaptDeliverDeps?: (deps: DeliverDeps) => DeliverDeps;
  /** The event source mapping's MaximumConcurrency (batches in the handler at once). Default the construct's, 10. */
  readonly pollerConcurrency?: number;
  /** The event source mapping's batch size. Default the construct's, 10. */
  readonly batchSize?: number;
  /** Tenant isolation (issue 8): endpoint circuits and early settling. Default on; off is the "before" of the isolation bench. */
  readonly isolation?: boolean;
  /**
   * Fairness (issue 8): the slow lane with its own poller, render's fair share and the deliver
   * side's slow-endpoint mark. Default on with `isolation`; off is one queue, as before.
   */
  readonly slowLane?: {
    readonly enabled?: boolean;
    /** An organization's deliveries per window on the main queue. Default the construct's, 100 per 10 s. */
    readonly fairShareDeliveries?: number;
    readonly fairShareWindowSeconds?: number;
    /** A request unanswered this long marks its endpoint slow. Default the construct's, 2,000 ms. */
    readonly slowEndpointMs?: number;
    /** The slow lane's MaximumConcurrency. Default the construct's, 2. */
    readonly concurrency?: number;
  };
  /** Told how long each deliver invocation (one batch) took, in ms: the bench's Lambda GB-s. */
  readonly onDeliverBatch?: (ms: number, records: number) => void;
  /** Circuit settings, as the construct props set them (failure threshold, cool-downs in seconds, cache TTL in ms). */
  readonly circuit?: {
    readonly failureThreshold?: number;
    readonly cooldownMinSeconds?: number;
    readonly cooldownMaxSeconds?: number;
    readonly cacheTtlMs?: number;
  };
}

export interface LocalStack {
  /** Hands one event to the render function as EventBridge would; a malformed one lands in the render dead-letter queue and rejects. */
  emit(event: unknown): Promise<RenderedDelivery[]>;
  /**
   * Resolves when every one of these deliveries is final, with their records. Those
   * in `attempted` must also have had an attempt: a delivery enqueued again after
   * failing to render is final (attempts 0) until its message reopens it.
   */
  waitUntilFinal(
    deliveryIds: readonly string[],
    timeoutMs: number,
    options?: { readonly attempted?: ReadonlySet<string> },
  ): Promise<DeliveryRecord[]>;
  readonly store: DeliveryStore;
  readonly queries: DeliveryQueries;
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
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_SECONDS * 1000;
  const sqs = await startSqsEmulator(options.dataDir === undefined ? {} : { dataDir: join(options.dataDir, 'sqs') });
  const dynamo = await startDynalite(options.dataDir === undefined ? {} : { path: join(options.dataDir, 'dynamodb') });
  await createOutcomeTable(dynamo.client, LOCAL_TABLE_NAME);
  await createEndpointHealthTable(dynamo.client, LOCAL_HEALTH_TABLE_NAME);
  const queues = await createDeliveryQueues(sqs.client, {
    // As the stack does: the handler settles retries itself; visibility only covers a crashed attempt.
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? Math.ceil(requestTimeoutMs / 1000) + 35,
    maxReceiveCount: DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  });
  const queueUrls = new Map(Object.values(queues).map((q) => [queueName(q.url), q.url]));
  const legacyFile = options.dataDir === undefined ? undefined : join(options.dataDir, 'sqs.json');
  if (legacyFile !== undefined && existsSync(legacyFile)) {
    // A data folder of an older version kept its queues in a file written at stop:
    // taken into the persistent queues once, then set aside.
    const saved = SavedQueuesSchema.parse(JSON.parse(await readFile(legacyFile, 'utf8')));
    await restoreQueues(sqs.client, queueUrls, saved, Date.now());
    await rename(legacyFile, `${legacyFile}.imported`);
  }
  const prefix = options.secretsPrefix ?? DEFAULT_SECRETS_PREFIX;
  const sink = options.logSink ?? (() => undefined);
  const log = createLogger({ level: options.logLevel ?? DEFAULT_LOG_LEVEL, sink });
  const env = {
    [ENV.deliveryQueueUrl]: queues.delivery.url,
    [ENV.deadLetterQueueUrl]: queues.deadLetter.url,
    [ENV.outcomeTableName]: LOCAL_TABLE_NAME,
    [ENV.secretsPrefix]: prefix,
    [ENV.requestTimeoutMs]: String(requestTimeoutMs),
    [ENV.metricsNamespace]: 'DograhWebhooksLocal',
    ...isolationEnv(options),
    ...slowLaneEnv(options, queues.slow.url),
  };
  // What the functions write, told to waiters: the render function records a node it
  // cannot render as failed, the deliver function every attempt.
  const changes = new ChangeFeed();
  const renderDeps = wireRenderDeps(parseConfig(RenderConfigSchema, env), {
    sqs: sqs.client,
    dynamo: dynamo.client,
    log: log.child({ function: 'render' }),
    metricsSink: sink,
  });
  const render = makeRenderHandler({ ...renderDeps, store: changes.watchFinal(renderDeps.store) });
  const adapt = options.adaptDeliverDeps ?? ((deps: DeliverDeps) => deps);
  const wired = wireDeliverDeps(parseConfig(DeliverConfigSchema, env), {
    sqs: sqs.client,
    dynamo: dynamo.client,
    credentials: createFileCredentialStore(options.secrets, prefix),
    policy: LOCAL_ADDRESS_POLICY,
    log: log.child({ function: 'deliver' }),
    metricsSink: sink,
  });
  // The feed watches the store the handler ends up with: a test's faulty store too, so its
  // writes wake a waiter at once instead of at the next full read.
  const adapted = adapt(wired);
  const deliver = makeDeliverHandler({ ...adapted, store: changes.watch(adapted.store) });
  const poller = startPoller({
    client: sqs.client,
    queueUrl: queues.delivery.url,
    queueArn: queues.delivery.arn,
    handler: timed(deliver, options.onDeliverBatch),
    waitTimeSeconds: 1,
    concurrency: options.pollerConcurrency ?? DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency,
    batchSize: options.batchSize ?? DELIVER_EVENT_SOURCE_DEFAULTS.batchSize,
    onError: (error, stage) => log.error('poller error', { stage, error }),
  });
  // The slow lane's event source mapping: the same function, a concurrency of its own.
  const slowPoller = slowLaneOn(options)
    ? startPoller({
        client: sqs.client,
        queueUrl: queues.slow.url,
        queueArn: queues.slow.arn,
        handler: timed(deliver, options.onDeliverBatch),
        waitTimeSeconds: 1,
        concurrency: options.slowLane?.concurrency ?? SLOW_LANE_EVENT_SOURCE_DEFAULTS.maxConcurrency,
        batchSize: options.batchSize ?? DELIVER_EVENT_SOURCE_DEFAULTS.batchSize,
        onError: (error, stage) => log.error('slow lane poller error', { stage, error }),
      })
    : undefined;
  const store = createDynamoDeliveryStore({
    client: dynamo.client,
    tableName: LOCAL_TABLE_NAME,
    retentionDays: DEFAULT_OUTCOME_RETENTION_DAYS,
  });
  const queries = createDynamoDeliveryQueries({ client: dynamo.client, tableName: LOCAL_TABLE_NAME });

  return {
    store,
    queries,
    queues,
    sqs: sqs.client,
    dynamo: dynamo.client,
    sqsEndpoint: sqs.endpoint,
    dynamoEndpoint: dynamo.endpoint,
    healthTableName: LOCAL_HEALTH_TABLE_NAME,
    async emit(event) {
      try {
        return await renderWithRetries(() => render(event as Parameters<typeof render>[0]));
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
      const settled = (r: DeliveryRecord | undefined): r is DeliveryRecord =>
        r !== undefined && FINAL_STATUSES.has(r.status) && (!attempted.has(r.delivery_id) || r.attempts > 0);
      const final = new Map<string, DeliveryRecord>();
      // Read the records this stack's deliver function has written so far; after that, only
      // the ones it just wrote, and all that are still open every few seconds (a write by
      // another process: a replay, a redrive). A run of any size costs a read per write, not
      // a read per delivery per tick, and a record no one has written yet is not read: the
      // first pass of a fresh run was otherwise a GetItem per delivery that found nothing.
      const all: ReadonlySet<string> = new Set(deliveryIds);
      let toRead: ReadonlySet<string> = changes.writtenAmong(deliveryIds);
      let lastFullRead = Date.now();
      let fullReadEveryMs = FULL_READ_INTERVAL_MS;
      const feed = changes.subscribe();
      try {
        for (;;) {
          // A wake names the few ids just written: walk those, not every id waited for.
          const candidates = toRead === all ? deliveryIds : [...toRead].filter((id) => all.has(id));
          const reading = candidates.filter((id) => !final.has(id));
          const readStart = Date.now();
          for (let i = 0; i < reading.length; i += READ_BATCH) {
            const records = await readTolerantly(queries, reading.slice(i, i + READ_BATCH), log);
            for (const r of records) if (settled(r)) final.set(r.delivery_id, r);
          }
          if (toRead === all)
            fullReadEveryMs = Math.max(FULL_READ_INTERVAL_MS, FULL_READ_SHARE * (Date.now() - readStart));
          if (final.size === all.size) return deliveryIds.map((id) => final.get(id) as DeliveryRecord);
          if (Date.now() > deadline)
            throw new Error(
              `${deliveryIds.length - final.size} deliveries not final after ${Math.round(timeoutMs / 1000)} s`,
            );
          const written = await feed.next(Math.min(fullReadEveryMs, Math.max(0, deadline - Date.now())));
          if (Date.now() - lastFullRead >= fullReadEveryMs) {
            toRead = all;
            lastFullRead = Date.now();
          } else {
            toRead = written;
          }
        }
      } finally {
        feed.close();
      }
    },
    async stop() {
      await Promise.all([poller.stop(), slowPoller?.stop()]);
      // The deliver function's keep-alive sockets to the endpoints would hold the process open.
      wired.sender.close?.();
      await sqs.stop();
      await dynamo.stop();
    },
  };
}

function timed<E extends { Records: readonly unknown[] }, R>(
  handler: (event: E) => Promise<R>,
  tell: ((ms: number, records: number) => void) | undefined,
): (event: E) => Promise<R> {
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

function slowLaneOn(options: LocalStackOptions): boolean {
  return options.slowLane?.enabled ?? options.isolation ?? true;
}

/** The slow lane's keys, as the construct sets them; none when it is off (one queue). */
function slowLaneEnv(options: LocalStackOptions, slowQueueUrl: string): Record<string, string> {
  if (!slowLaneOn(options)) return {};
  const lane = options.slowLane ?? {};
  return {
    [ENV.slowDeliveryQueueUrl]: slowQueueUrl,
    ...(lane.fairShareDeliveries === undefined ? {} : { [ENV.fairShareDeliveries]: String(lane.fairShareDeliveries) }),
    ...(lane.fairShareWindowSeconds === undefined
      ? {}
      : { [ENV.fairShareWindowSeconds]: String(lane.fairShareWindowSeconds) }),
    ...(lane.slowEndpointMs === undefined ? {} : { [ENV.slowEndpointMs]: String(lane.slowEndpointMs) }),
  };
}

/**
 * How many written delivery ids the change feed remembers for a waiter that starts later: the
 * ids of about a thousand runs of a hundred nodes, some 10 MB. An id it has forgotten is still
 * read by the waiter's periodic full read.
 */
const WRITTEN_IDS_KEPT = 100_000;
/** Records read at once while waiting: one BatchGetItem. */
const READ_BATCH = 100;
/** How often every open record is read again while waiting, whatever was written. */
const FULL_READ_INTERVAL_MS = 3_000;
/**
 * Full reads take at most 1/this of the wait: with thousands open, a pass is thousands of
 * GetItems against the emulator the deliver function is writing to, so the interval grows
 * to this many times the last pass took.
 */
const FULL_READ_SHARE = 10;

/** A read of records that an emulator hiccup does not turn into a failed run: they are read again later. */
async function readTolerantly(
  queries: DeliveryQueries,
  ids: readonly string[],
  log: Log,
): Promise<readonly DeliveryRecord[]> {
  try {
    return await queries.getMany(ids);
  } catch (error) {
    log.warn('could not read delivery records; reading them again later', { deliveries: ids.length, error });
    return [];
  }
}

/**
 * EventBridge retries a target that failed (up to 185 times over 24 h); locally a render
 * that failed on anything but its own input is tried three times, a second apart, before
 * the event goes to the render dead-letter queue. Render is idempotent: a second try
 * enqueues copies the deliver side drops.
 */
async function renderWithRetries<T>(render: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await render();
    } catch (error) {
      if (error instanceof ValidationError || attempt >= 3) throw error;
      await sleep(1_000);
    }
  }
}

/** Tells waiters which deliveries the deliver function just wrote. */
class ChangeFeed {
  private readonly subscribers = new Set<Subscriber>();
  /** The ids written since the stack started, the oldest dropped past WRITTEN_IDS_KEPT. */
  private readonly written = new Set<string>();

  private touched(id: string): void {
    this.written.delete(id);
    this.written.add(id);
    if (this.written.size > WRITTEN_IDS_KEPT) this.written.delete(this.written.values().next().value as string);
    for (const subscriber of this.subscribers) {
      subscriber.pending.add(id);
      subscriber.wake?.();
    }
  }

  /** A store whose final records are told to waiters; the render function has only these. */
  watchFinal<S extends Pick<DeliveryStore, 'recordFinal'>>(store: S): S {
    const touched = (id: string) => this.touched(id);
    return {
      ...store,
      async recordFinal(message, status, reason, nowMs) {
        try {
          await store.recordFinal(message, status, reason, nowMs);
        } finally {
          touched(message.delivery_id);
        }
      },
    };
  }

  watch(store: DeliveryStore): DeliveryStore {
    const touched = (id: string) => this.touched(id);
    return {
      ...this.watchFinal(store),
      async recordAttempt(message, attempt, next, nowMs) {
        try {
          await store.recordAttempt(message, attempt, next, nowMs);
        } finally {
          touched(message.delivery_id);
        }
      },
      async reopen(deliveryId, nowMs, seen) {
        try {
          return await store.reopen(deliveryId, nowMs, seen);
        } finally {
          touched(deliveryId);
        }
      },
      async claim(message, nowMs, leaseMs) {
        const claim = await store.claim(message, nowMs, leaseMs);
        // A copy of a final delivery: a waiter may be waiting for exactly that record.
        if (claim.kind !== 'claimed') touched(message.delivery_id);
        return claim;
      },
    };
  }

  /**
   * Which of `ids` were written since the stack started (or, past WRITTEN_IDS_KEPT, lately).
   * A waiter reads these first; the others wait for a write or its periodic full read.
   */
  writtenAmong(ids: readonly string[]): ReadonlySet<string> {
    return new Set(ids.filter((id) => this.written.has(id)));
  }

  /** A waiter's view: the ids written since its last `next`. */
  subscribe(): { next(timeoutMs: number): Promise<ReadonlySet<string>>; close(): void } {
    const subscriber: Subscriber = { pending: new Set(), wake: undefined };
    this.subscribers.add(subscriber);
    return {
      async next(timeoutMs) {
        if (subscriber.pending.size === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, timeoutMs);
            subscriber.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          subscriber.wake = undefined;
          // Let the writes that land together be read together.
          await sleep(20);
        }
        const written = subscriber.pending;
        subscriber.pending = new Set();
        return written;
      },
      close: () => {
        subscriber.wake?.();
        this.subscribers.delete(subscriber);
      },
    };
  }
}

interface Subscriber {
  pending: Set<string>;
  wake: (() => void) | undefined;
}

function queueName(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
