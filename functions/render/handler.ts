import type { EventBridgeEvent } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import { ENV, parseConfig } from '../../shared/config/env.ts';
import { RenderConfigSchema, type RenderConfig } from '../../shared/config/render-config.ts';
import type { Log } from '../../shared/use-cases/observability.ts';
import { createLogger, type LineSink } from '../../shared/observability/logger.ts';
import { createMetrics, METRIC, type Metrics } from '../../shared/observability/metrics.ts';
import { createDynamoTrafficCounter } from '../../shared/adapters/dynamo-traffic-counter.ts';
import { createLaneRoutingQueue } from '../../shared/adapters/lane-routing-queue.ts';
import type { DeliveryQueue } from '../../shared/ports/delivery-queue.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import { renderRun, type RenderedDelivery, type RenderRunDeps } from '../../shared/use-cases/render-run.ts';

export type RenderHandler = (event: EventBridgeEvent<string, unknown>) => Promise<RenderedDelivery[]>;

/**
 * EventBridge → render. A malformed event throws: Lambda's asynchronous retries
 * and on-failure destination keep it, with its reason, in a dead-letter queue.
 */
export function makeHandler(deps: RenderRunDeps): RenderHandler {
  return async (event) => {
    try {
      return await renderRun(event, deps);
    } finally {
      deps.metrics.flush();
    }
  };
}

/** What differs between a Lambda and the local stack: the clients and the log sink. */
export interface RenderPorts {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly log: Log;
  /** Where EMF metric lines go; default stdout, where Lambda hands them to CloudWatch. */
  readonly metricsSink?: LineSink;
}

/** Builds the render function's dependencies from its parsed config; the local stack calls this too. */
export function wireRenderDeps(config: RenderConfig, ports: RenderPorts): RenderRunDeps {
  const metrics = createMetrics({
    namespace: config[ENV.metricsNamespace],
    ...(ports.metricsSink === undefined ? {} : { sink: ports.metricsSink }),
  });
  return {
    queue: deliveryQueueOf(config, ports, metrics),
    store: createDynamoDeliveryStore({
      client: ports.dynamo,
      tableName: config[ENV.outcomeTableName],
      retentionDays: config[ENV.outcomeRetentionDays],
    }),
    clock: systemClock,
    log: ports.log,
    metrics,
    eventSource: config[ENV.eventSource],
    detailType: config[ENV.eventDetailType],
    maxMessageBytes: config[ENV.maxPayloadBytes],
  };
}

/**
 * The main delivery queue, or, with a slow lane and the health table to count in, the two lanes
 * with each organization's fair share (issue 8, shared/domain/lanes.ts).
 */
function deliveryQueueOf(config: RenderConfig, ports: RenderPorts, metrics: Metrics): DeliveryQueue {
  const main = createSqsDeliveryQueue({ client: ports.sqs, queueUrl: config[ENV.deliveryQueueUrl] });
  const slowUrl = config[ENV.slowDeliveryQueueUrl];
  const tableName = config[ENV.endpointHealthTableName];
  if (slowUrl === undefined || tableName === undefined) return main;
  const policy = {
    deliveries: config[ENV.fairShareDeliveries],
    windowSeconds: config[ENV.fairShareWindowSeconds],
  };
  return createLaneRoutingQueue({
    main,
    slow: createSqsDeliveryQueue({ client: ports.sqs, queueUrl: slowUrl }),
    counter: createDynamoTrafficCounter({ client: ports.dynamo, tableName, policy, log: ports.log }),
    policy,
    clock: systemClock,
    onRouted: (organizationId, lane, deliveries) => {
      if (lane !== 'slow') return;
      metrics.count(METRIC.slowLaneRouted, deliveries);
      ports.log.debug('past its fair share: deliveries routed to the slow lane', {
        organization_id: organizationId,
        deliveries,
        fair_share: policy.deliveries,
        window_seconds: policy.windowSeconds,
      });
    },
  });
}

/** Production wiring, built once per cold start from the validated environment. */
export function depsFromEnv(env: Record<string, string | undefined>): RenderRunDeps {
  const config = parseConfig(RenderConfigSchema, env);
  return wireRenderDeps(config, {
    sqs: new SQSClient({}),
    dynamo: new DynamoDBClient({}),
    log: createLogger({ level: config[ENV.logLevel], base: { function: 'render' } }),
  });
}

let production: RenderHandler | undefined;

export const handler: RenderHandler = (event) => {
  production ??= makeHandler(depsFromEnv(process.env));
  return production(event);
};
