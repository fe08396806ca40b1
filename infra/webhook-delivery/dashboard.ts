import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DIMENSION, METRIC } from '../../shared/observability/metrics.ts';
import { fiveMinutes, sumOver5Minutes } from './alarms.ts';
import type { DeliveryFunctions } from './functions.ts';
import type { DeliverySettings } from './settings.ts';
import type { DeliveryQueues } from './storage.ts';

/** What the dashboard graphs: the alarms' failure rate and every alarm's state beside the metrics. */
export interface DashboardSources {
  readonly queues: DeliveryQueues;
  readonly functions: DeliveryFunctions;
  readonly failureRate: cloudwatch.IMetric;
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
}

/** The dashboard, in `scope`: outcomes and failure rate, latency, queue depths, dead letters, function health, alarms. */
export function createDashboard(
  scope: Construct,
  s: DeliverySettings,
  dashboardName: string | undefined,
  sources: DashboardSources,
): cloudwatch.Dashboard {
  const { queues, functions, failureRate, alarms } = sources;
  const ns = s.metricsNamespace.replaceAll('"', '\\"');
  const attemptDuration = (statistic: string): cloudwatch.Metric =>
    new cloudwatch.Metric({
      namespace: s.metricsNamespace,
      metricName: METRIC.attemptDuration,
      statistic,
      period: fiveMinutes,
      label: `${statistic} (ms)`,
    });
  const queueDepth = (queue: sqs.IQueue, label: string): cloudwatch.IMetric =>
    queue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM, label });
  return new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: dashboardName,
    defaultInterval: Duration.hours(24),
    widgets: [
      [
        new cloudwatch.GraphWidget({
          title: 'Deliveries by outcome',
          width: 12,
          // A search shows every outcome the functions emit, not only the ones known here.
          left: [
            new cloudwatch.MathExpression({
              expression: `SEARCH('{"${ns}","${DIMENSION.outcome}"} MetricName="${METRIC.deliveries}"', 'Sum', 300)`,
              label: '',
              period: fiveMinutes,
            }),
          ],
          right: [failureRate],
          rightYAxis: { min: 0, max: 100, label: '%', showUnits: false },
        }),
        new cloudwatch.GraphWidget({
          title: 'Attempt latency',
          width: 12,
          left: [attemptDuration('p50'), attemptDuration('p99')],
          leftYAxis: { min: 0, label: 'ms', showUnits: false },
        }),
      ],
      [
        new cloudwatch.GraphWidget({
          title: 'Delivery queue depth',
          width: 12,
          left: [
            queueDepth(queues.deliveryQueue, 'Ready'),
            queues.deliveryQueue.metricApproximateNumberOfMessagesNotVisible({
              period: fiveMinutes,
              statistic: cloudwatch.Stats.MAXIMUM,
              label: 'In flight or waiting to retry',
            }),
          ],
          right: [
            queues.deliveryQueue.metricApproximateAgeOfOldestMessage({
              period: fiveMinutes,
              statistic: cloudwatch.Stats.MAXIMUM,
              label: 'Oldest message (s)',
            }),
          ],
        }),
        new cloudwatch.GraphWidget({
          title: 'Dead letters',
          width: 12,
          left: [
            queueDepth(queues.deadLetterQueue, 'Deliveries'),
            queueDepth(queues.renderDeadLetterQueue, 'Render failures'),
            queueDepth(queues.eventDeadLetterQueue, 'Undeliverable events'),
          ],
        }),
      ],
      [
        new cloudwatch.GraphWidget({
          title: 'Functions: errors and throttles',
          width: 12,
          left: [
            functions.renderFunction.metricErrors({ ...sumOver5Minutes, label: 'Render errors' }),
            functions.renderFunction.metricThrottles({ ...sumOver5Minutes, label: 'Render throttles' }),
            functions.deliverFunction.metricErrors({ ...sumOver5Minutes, label: 'Deliver errors' }),
            functions.deliverFunction.metricThrottles({ ...sumOver5Minutes, label: 'Deliver throttles' }),
          ],
        }),
        new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 12, alarms: Object.values(alarms) }),
      ],
    ],
  });
}
