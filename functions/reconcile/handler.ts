import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDynamoDeliveryQueries } from '../../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import { readQueueDepth } from '../../shared/adapters/sqs-queue-depth.ts';
import { ENV, parseConfig } from '../../shared/config/env.ts';
import { ReconcileConfigSchema, type ReconcileConfig } from '../../shared/config/reconcile-config.ts';
import { createLogger, type LineSink } from '../../shared/observability/logger.ts';
import { createMetrics } from '../../shared/observability/metrics.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import type { Log } from '../../shared/use-cases/observability.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from '../../shared/use-cases/reconcile.ts';

/** Invoked on a schedule (an EventBridge rule); the event carries nothing it needs. */
export type ReconcileHandler = (event?: unknown) => Promise<ReconcileReport>;

export function makeHandler(deps: ReconcileDeps): ReconcileHandler {
  return async () => {
    try {
      return await reconcile(deps);
    } finally {
      deps.metrics.flush();
    }
  };
}

/** What differs between a Lambda and the local stack. */
export interface ReconcilePorts {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly log: Log;
  readonly metricsSink?: LineSink;
}

/** Builds the reconciler's dependencies from its parsed config; `webhooks dev` calls this too. */
export function wireReconcileDeps(config: ReconcileConfig, ports: ReconcilePorts): ReconcileDeps {
  const queue = createSqsDeliveryQueue({ client: ports.sqs, queueUrl: config[ENV.deliveryQueueUrl] });
  return {
    store: createDynamoDeliveryStore({
      client: ports.dynamo,
      tableName: config[ENV.outcomeTableName],
      retentionDays: config[ENV.outcomeRetentionDays],
    }),
    queries: createDynamoDeliveryQueries({ client: ports.dynamo, tableName: config[ENV.outcomeTableName] }),
    enqueue: (message) => queue.enqueue([message]),
    clock: systemClock,
    log: ports.log,
    metrics: createMetrics({
      namespace: config[ENV.metricsNamespace],
      ...(ports.metricsSink === undefined ? {} : { sink: ports.metricsSink }),
    }),
    graceMs: config[ENV.reconcileGraceSeconds] * 1000,
    // Both lanes: an overdue delivery behind a slow-lane backlog is queued, not stuck.
    backlog: async () => {
      const slowUrl = config[ENV.slowDeliveryQueueUrl];
      const lanes = [config[ENV.deliveryQueueUrl], ...(slowUrl === undefined ? [] : [slowUrl])];
      const depths = await Promise.all(lanes.map((url) => readQueueDepth(ports.sqs, url)));
      return depths.reduce((sum, d) => sum + d.waiting, 0);
    },
  };
}

let production: ReconcileHandler | undefined;

export const handler: ReconcileHandler = (event) => {
  if (production === undefined) {
    const config = parseConfig(ReconcileConfigSchema, process.env);
    production = makeHandler(
      wireReconcileDeps(config, {
        sqs: new SQSClient({}),
        dynamo: new DynamoDBClient({}),
        log: createLogger({ level: config[ENV.logLevel], base: { function: 'reconcile' } }),
      }),
    );
  }
  return production(event);
};
