import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createGuardedHttpSender } from '../../shared/adapters/guarded-http-sender.ts';
import { createSecretsManagerCredentialStore } from '../../shared/adapters/secrets-manager-credential-store.ts';
import { createSqsMessageActions, DEAD_LETTERED_AT_ATTRIBUTE } from '../../shared/adapters/sqs-message-actions.ts';
import { DeliverConfigSchema, type DeliverConfig } from '../../shared/config/deliver-config.ts';
import { ENV, parseConfig } from '../../shared/config/env.ts';
import { STRICT_ADDRESS_POLICY, type AddressPolicy } from '../../shared/net/address-policy.ts';
import { createLogger, type LineSink } from '../../shared/observability/logger.ts';
import { createMetrics, type Metrics } from '../../shared/observability/metrics.ts';
import { redactText } from '../../shared/observability/redact.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import type { CredentialStore } from '../../shared/ports/credential-store.ts';
import type { Log } from '../../shared/use-cases/observability.ts';
import {
  deliverMessage,
  type DeliverDeps,
  type MessageFate,
  type SlowLaneDeps,
} from '../../shared/use-cases/deliver-message.ts';
import { createDynamoEndpointHealthStore } from '../../shared/adapters/dynamo-endpoint-health-store.ts';
import { createSqsMessageSettler } from '../../shared/adapters/sqs-message-settler.ts';
import { createSqsSlowLane } from '../../shared/adapters/sqs-slow-lane.ts';
import type { Lane } from '../../shared/domain/lanes.ts';
import type { MessageSettler } from '../../shared/ports/message-settler.ts';
import { createEndpointHealthGuard } from '../../shared/use-cases/endpoint-health.ts';
import { METRIC } from '../../shared/observability/metrics.ts';

export type DeliverHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Bytes of a response body kept, redacted, in the outcome log. */
export const RESPONSE_SNIPPET_BYTES = 512;

/**
 * SQS → deliver, with partial batch responses: the messages of a batch are sent
 * concurrently; one that must come back (a retry, or an error we could not
 * settle) is reported as a batch item failure, the rest are deleted.
 *
 * A message leaves the queue when its own attempt ends: with a settler, the
 * messages done while others of the batch still run are deleted early (see
 * {@link createEarlySettle}), and the event source's final delete of them is a no-op.
 *
 * With a slow lane, the same function consumes both queues: a record's event source
 * ARN says which lane it came from, and its visibility changes and early deletes go to
 * that lane's queue.
 */
export function makeHandler(deps: DeliverDeps): DeliverHandler {
  const slow = deps.slowLane;
  const slowDeps: DeliverDeps | undefined = slow === undefined ? undefined : { ...deps, actions: slow.actions };
  return async (event) => {
    const receivedAtMs = deps.clock.now();
    const early = createEarlySettle(deps, event.Records.length);
    const fates = await Promise.all(
      event.Records.map(async (record) => {
        let fate: MessageFate;
        const lane = laneOf(record.eventSourceARN, slow);
        try {
          const deadLetteredAt = record.messageAttributes?.[DEAD_LETTERED_AT_ATTRIBUTE]?.stringValue;
          fate = await deliverMessage(
            {
              body: record.body,
              receiptHandle: record.receiptHandle,
              receivedAtMs,
              lane,
              ...(deadLetteredAt === undefined ? {} : { deadLetteredAt }),
            },
            lane === 'slow' && slowDeps !== undefined ? slowDeps : deps,
          );
        } catch (error) {
          // Unsettled (the store or the queue failed us): SQS brings it back after its
          // visibility timeout, and the redrive policy catches it if that never ends.
          deps.log.error('message not settled: it will be received again', { message_id: record.messageId, error });
          fate = 'keep';
        }
        early.settled(record.receiptHandle, fate, lane === 'slow' ? slow?.settler : deps.settler);
        return fate;
      }),
    );
    await early.end();
    deps.metrics.flush();
    return {
      batchItemFailures: event.Records.filter((_, i) => fates[i] === 'keep').map((r) => ({
        itemIdentifier: r.messageId,
      })),
    };
  };
}

/** The lane a record came from: the slow lane when its event source ARN names the slow lane's queue. */
export function laneOf(eventSourceArn: string | undefined, slow: Pick<SlowLaneDeps, 'queueName'> | undefined): Lane {
  if (slow === undefined || eventSourceArn === undefined) return 'main';
  return eventSourceArn.slice(eventSourceArn.lastIndexOf(':') + 1) === slow.queueName ? 'slow' : 'main';
}

/** A queue's name: the last path segment of its URL (SQS's and the emulator's alike). */
export function queueNameOf(queueUrl: string): string {
  return (
    new URL(queueUrl).pathname
      .split('/')
      .filter((s) => s !== '')
      .at(-1) ?? ''
  );
}

/**
 * Early deletes for one batch. When a message settles `delete` while others still
 * run, it waits `settleAfterMs` (so a batch that ends at once costs nothing extra),
 * then every such message not yet deleted goes in one DeleteMessageBatch per queue
 * (its lane's settler). The batch response still leaves them out of `batchItemFailures`:
 * the event source deletes them again in the request it sends anyway, which costs no
 * extra request. A failed early delete only leaves the message to that final delete.
 */
function createEarlySettle(deps: DeliverDeps, size: number) {
  const waitMs = deps.settleAfterMs ?? 1000;
  let running = size;
  let due = new Map<MessageSettler, string[]>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flushes: Promise<void>[] = [];
  const flush = () => {
    timer = undefined;
    if (running === 0) return;
    const settling = due;
    due = new Map();
    for (const [settler, handles] of settling) {
      flushes.push(
        settler.delete(handles).then(
          (left) => deps.metrics.count(METRIC.earlySettled, handles.length - left.length),
          (error: unknown) => deps.log.warn('early delete failed: left to the end of the batch', { error }),
        ),
      );
    }
  };
  return {
    settled(receiptHandle: string, fate: MessageFate, settler: MessageSettler | undefined) {
      running--;
      if (settler === undefined || fate !== 'delete' || running === 0) return;
      due.set(settler, [...(due.get(settler) ?? []), receiptHandle]);
      timer ??= setTimeout(flush, waitMs);
    },
    async end() {
      if (timer !== undefined) clearTimeout(timer);
      await Promise.all(flushes);
    },
  };
}

/** What differs between a Lambda and the local stack: the clients, the credential store, the address policy, the log sink. */
export interface DeliverPorts {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly credentials: CredentialStore;
  readonly policy: AddressPolicy;
  readonly log: Log;
  /** Where EMF metric lines go; default stdout, where Lambda hands them to CloudWatch. */
  readonly metricsSink?: LineSink;
}

/** Builds the deliver function's dependencies from its parsed config; the local stack calls this too. */
export function wireDeliverDeps(config: DeliverConfig, ports: DeliverPorts): DeliverDeps {
  const metrics = createMetrics({
    namespace: config[ENV.metricsNamespace],
    ...(ports.metricsSink === undefined ? {} : { sink: ports.metricsSink }),
  });
  return {
    store: createDynamoDeliveryStore({
      client: ports.dynamo,
      tableName: config[ENV.outcomeTableName],
      retentionDays: config[ENV.outcomeRetentionDays],
    }),
    credentials: ports.credentials,
    sender: createGuardedHttpSender({ policy: { ...ports.policy, allowPrivate: config[ENV.allowPrivateEndpoints] } }),
    actions: createSqsMessageActions({
      client: ports.sqs,
      queueUrl: config[ENV.deliveryQueueUrl],
      deadLetterQueueUrl: config[ENV.deadLetterQueueUrl],
    }),
    clock: systemClock,
    log: ports.log,
    metrics,
    random: Math.random,
    requestTimeoutMs: config[ENV.requestTimeoutMs],
    snippet: (body) => redactText(body, RESPONSE_SNIPPET_BYTES),
    ...isolationDeps(config, ports, metrics),
  };
}

/** Tenant isolation (issue 8): endpoint circuits, early settling and the slow lane, each switched by its config key. */
function isolationDeps(
  config: DeliverConfig,
  ports: DeliverPorts,
  metrics: Metrics,
): Pick<DeliverDeps, 'health' | 'settler' | 'settleAfterMs' | 'slowLane'> {
  const tableName = config[ENV.endpointHealthTableName];
  const slowLane = slowLaneDeps(config, ports);
  return {
    ...(config[ENV.settleEarly]
      ? { settler: createSqsMessageSettler({ client: ports.sqs, queueUrl: config[ENV.deliveryQueueUrl] }) }
      : {}),
    ...(slowLane === undefined ? {} : { slowLane }),
    ...(tableName === undefined || !config[ENV.circuitsEnabled]
      ? {}
      : {
          health: createEndpointHealthGuard({
            store: createDynamoEndpointHealthStore({
              client: ports.dynamo,
              tableName,
              retentionDays: config[ENV.outcomeRetentionDays],
            }),
            clock: systemClock,
            metrics,
            policy: {
              failureThreshold: config[ENV.circuitFailureThreshold],
              cooldownBaseMs: config[ENV.circuitCooldownMinSeconds] * 1000,
              cooldownCapMs: config[ENV.circuitCooldownMaxSeconds] * 1000,
            },
            cacheTtlMs: config[ENV.healthCacheTtlMs],
            random: Math.random,
            // Slow marks only send deliveries somewhere: without a slow lane they would cost writes for nothing.
            ...(slowLane === undefined ? {} : { slowAfterMs: config[ENV.slowEndpointMs] }),
          }),
        }),
  };
}

/** The slow lane's queue, its actions and its settler, when the config names one. */
function slowLaneDeps(config: DeliverConfig, ports: DeliverPorts): SlowLaneDeps | undefined {
  const queueUrl = config[ENV.slowDeliveryQueueUrl];
  if (queueUrl === undefined) return undefined;
  return {
    queue: createSqsSlowLane({ client: ports.sqs, queueUrl }),
    queueName: queueNameOf(queueUrl),
    actions: createSqsMessageActions({
      client: ports.sqs,
      queueUrl,
      deadLetterQueueUrl: config[ENV.deadLetterQueueUrl],
    }),
    ...(config[ENV.settleEarly] ? { settler: createSqsMessageSettler({ client: ports.sqs, queueUrl }) } : {}),
  };
}

/** Production wiring, built once per cold start: SDK clients and the HTTP agent are reused across invocations. */
export function depsFromEnv(env: Record<string, string | undefined>): DeliverDeps {
  const config = parseConfig(DeliverConfigSchema, env);
  return wireDeliverDeps(config, {
    sqs: new SQSClient({}),
    dynamo: new DynamoDBClient({}),
    credentials: createSecretsManagerCredentialStore({
      client: new SecretsManagerClient({}),
      prefix: config[ENV.secretsPrefix],
      ttlSeconds: config[ENV.credentialCacheTtlSeconds],
      clock: systemClock,
    }),
    policy: STRICT_ADDRESS_POLICY,
    log: createLogger({ level: config[ENV.logLevel], base: { function: 'deliver' } }),
  });
}

let production: DeliverHandler | undefined;

export const handler: DeliverHandler = (event) => {
  production ??= makeHandler(depsFromEnv(process.env));
  return production(event);
};
