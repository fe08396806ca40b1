import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DIMENSION, METRIC } from '../../shared/observability/metrics.ts';
import type { DeliveryOutcome, ReconcileAction } from '../../shared/observability/metrics.ts';
import type { DeliveryFunctions } from './functions.ts';
import type { DeliverySettings } from './settings.ts';
import type { DeliveryQueues } from './storage.ts';

/** The final outcomes the failure rate compares. */
const FINAL_OUTCOMES = { delivered: 'delivered', failed: 'failed' } as const satisfies Record<string, DeliveryOutcome>;

export const fiveMinutes = Duration.minutes(5);
export const sumOver5Minutes = { period: fiveMinutes, statistic: cloudwatch.Stats.SUM };

/** Every alarm, by name, each notifying one topic on ALARM and on OK. */
export class AlarmSet {
  readonly alarms: Record<string, cloudwatch.Alarm> = {};
  private readonly scope: Construct;
  private readonly action: cloudwatchActions.SnsAction;

  constructor(scope: Construct, topic: sns.ITopic) {
    this.scope = scope;
    this.action = new cloudwatchActions.SnsAction(topic);
  }

  /** An alarm `<name>Alarm` in the construct's scope (so its logical id is the construct's own). */
  add(name: string, props: cloudwatch.AlarmProps): void {
    const alarm = new cloudwatch.Alarm(this.scope, `${name}Alarm`, props);
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms[name] = alarm;
  }
}

const notEmpty = (queue: sqs.IQueue, description: string): cloudwatch.AlarmProps => ({
  metric: queue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
  threshold: 0,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  evaluationPeriods: 1,
  // SQS stops reporting on a queue idle for six hours; an idle DLQ is an empty one.
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  alarmDescription: description,
});

const anyOf = (metric: cloudwatch.IMetric, description: string): cloudwatch.AlarmProps => ({
  metric,
  threshold: 0,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  evaluationPeriods: 1,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  alarmDescription: description,
});

/**
 * The alarms on the delivery path (dead letters, backlog, function errors and throttles, the
 * failure rate). Returns the failure-rate expression, which the dashboard graphs too.
 */
export function addDeliveryAlarms(
  alarms: AlarmSet,
  s: DeliverySettings,
  queues: DeliveryQueues,
  functions: DeliveryFunctions,
): cloudwatch.MathExpression {
  alarms.add(
    'DeadLetters',
    notEmpty(
      queues.deadLetterQueue,
      'Deliveries failed for good (permanent error or attempts exhausted) or could not be settled. Find them with `webhooks` or the failures queries, fix the cause, then redrive the DLQ to the delivery queue or purge it.',
    ),
  );
  alarms.add(
    'RenderDeadLetters',
    notEmpty(
      queues.renderDeadLetterQueue,
      'Run-completed events the render function failed on after retries (malformed events, crashes). Each message holds the event and the error; fix the producer or the code, then re-emit the event.',
    ),
  );
  alarms.add(
    'EventDeadLetters',
    notEmpty(
      queues.eventDeadLetterQueue,
      'EventBridge could not invoke the render function for a day (permissions, function deleted, Lambda outage). Fix the target, then re-send the events held in the queue.',
    ),
  );
  alarms.add('DeliveryBacklog', {
    metric: queues.deliveryQueue.metricApproximateAgeOfOldestMessage({
      period: fiveMinutes,
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
    threshold: s.oldestMessageAgeThreshold.toSeconds(),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: `A delivery has waited over ${s.oldestMessageAgeThreshold.toHumanString()} on the delivery queue: the deliver function is failing, throttled or too slow for the load. Check its errors and throttles, then maxConcurrency.`,
  });
  alarms.add('SlowLaneBacklog', {
    metric: queues.slowDeliveryQueue.metricApproximateAgeOfOldestMessage({
      period: fiveMinutes,
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
    threshold: s.oldestMessageAgeThreshold.toSeconds(),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: `A delivery has waited over ${s.oldestMessageAgeThreshold.toHumanString()} on the slow lane: an organization past its fair share, or slow and broken endpoints, hold more than its ${s.slowLaneMaxConcurrency} concurrent batches can send. Find the organizations with \`webhooks endpoints\` and the SlowLaneRouted and SlowLaneDiverted metrics, then raise slowLaneMaxConcurrency or fairShareDeliveries.`,
  });
  alarms.add(
    'RenderErrors',
    anyOf(
      functions.renderFunction.metricErrors(sumOver5Minutes),
      'The render function failed (malformed event, crash, timeout). Lambda retries twice; what still fails lands in the render DLQ. Read the render log group.',
    ),
  );
  alarms.add(
    'DeliverErrors',
    anyOf(
      functions.deliverFunction.metricErrors(sumOver5Minutes),
      'The deliver function crashed or timed out (endpoint failures are not errors: they are recorded and retried). Its batch returns to the queue; read the deliver log group.',
    ),
  );
  alarms.add(
    'RenderThrottles',
    anyOf(
      functions.renderFunction.metricThrottles(sumOver5Minutes),
      'The render function was throttled: the account is out of Lambda concurrency. Lambda retries async events for up to 6 hours; raise the account limit or find the function that uses it up.',
    ),
  );
  alarms.add(
    'DeliverThrottles',
    anyOf(
      functions.deliverFunction.metricThrottles(sumOver5Minutes),
      'The deliver function was throttled: the account is out of Lambda concurrency (the event source caps its own). Messages wait on the queue; raise the account limit or lower other functions.',
    ),
  );
  const deliveries = (outcome: DeliveryOutcome): cloudwatch.Metric =>
    new cloudwatch.Metric({
      namespace: s.metricsNamespace,
      metricName: METRIC.deliveries,
      dimensionsMap: { [DIMENSION.outcome]: outcome },
      ...sumOver5Minutes,
    });
  const failureRate = new cloudwatch.MathExpression({
    label: 'Failed deliveries (% of final outcomes)',
    expression:
      'IF((FILL(failed, 0) + FILL(delivered, 0)) > 0, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(delivered, 0)), 0)',
    usingMetrics: {
      failed: deliveries(FINAL_OUTCOMES.failed),
      delivered: deliveries(FINAL_OUTCOMES.delivered),
    },
    period: fiveMinutes,
  });
  alarms.add('FailureRate', {
    metric: failureRate,
    threshold: s.failureRateThresholdPercent,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: `Over ${s.failureRateThresholdPercent}% of deliveries failed for good in 2 of the last 3 five-minute periods. One broken customer endpoint or a wide outage: run the "failures by endpoint host" query.`,
  });
  return failureRate;
}

/** The reconciler's alarms: deliveries it found stuck, and its own errors. */
export function addReconcileAlarms(alarms: AlarmSet, s: DeliverySettings, reconcileFunction: lambda.IFunction): void {
  const reconciled = (action: ReconcileAction): cloudwatch.Metric =>
    new cloudwatch.Metric({
      namespace: s.metricsNamespace,
      metricName: METRIC.reconciled,
      dimensionsMap: { [DIMENSION.action]: action },
      ...sumOver5Minutes,
    });
  alarms.add(
    'Reconciled',
    anyOf(
      new cloudwatch.MathExpression({
        label: 'Deliveries found stuck by the reconciler',
        expression: 'FILL(requeued, 0) + FILL(failed, 0)',
        usingMetrics: { requeued: reconciled('requeued'), failed: reconciled('failed') },
        period: fiveMinutes,
      }),
      'The reconciler found deliveries stuck with no queue message (a purged queue, a message past retention, an operator mistake) and put them back on the queue or failed them. `webhooks failures` lists the ones it failed; its log group says which it put back.',
    ),
  );
  alarms.add(
    'ReconcileErrors',
    anyOf(
      reconcileFunction.metricErrors(sumOver5Minutes),
      'The reconciler crashed or timed out: stuck deliveries are not being found. Read the reconcile log group.',
    ),
  );
}

/** The default alarm topic, in `scope`. */
export function createAlarmTopic(scope: Construct): sns.Topic {
  const topic = new sns.Topic(scope, 'AlarmTopic', { displayName: 'Dograh webhook delivery alarms', enforceSSL: true });
  // enforceSSL gives the topic a policy of its own, which replaces SNS's default one, and with it
  // CloudWatch's right to publish: grant it back, to alarms of this account only.
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
      },
    }),
  );
  return topic;
}
