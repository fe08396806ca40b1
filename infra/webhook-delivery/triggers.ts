import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { DeliverySettings } from './settings.ts';

/** How often the reconciler runs. */
const RECONCILE_EVERY = Duration.minutes(5);

/** The rule that hands run-completed events on `bus` to the render function, in `scope`. */
export function createRunCompletedRule(
  scope: Construct,
  s: DeliverySettings,
  bus: events.IEventBus,
  renderFunction: lambda.IFunction,
  eventDeadLetterQueue: sqs.IQueue,
): events.Rule {
  return new events.Rule(scope, 'RunCompletedRule', {
    eventBus: bus,
    description: 'Dograh run-completed events to the webhook render function',
    eventPattern: { source: [s.eventSource], detailType: [s.detailType] },
    targets: [
      new targets.LambdaFunction(renderFunction, {
        // EventBridge retries only when Lambda refuses the invocation itself (throttling of the
        // async invoke API, an outage); give it EventBridge's maximum of a day before the DLQ.
        maxEventAge: Duration.hours(24),
        retryAttempts: 185,
        deadLetterQueue: eventDeadLetterQueue,
      }),
    ],
  });
}

/** The schedule that invokes the reconciler, in `scope`. */
export function createReconcileSchedule(scope: Construct, reconcileFunction: lambda.IFunction): events.Rule {
  return new events.Rule(scope, 'ReconcileSchedule', {
    description: 'Dograh webhooks: run the reconciler',
    schedule: events.Schedule.rate(RECONCILE_EVERY),
    targets: [new targets.LambdaFunction(reconcileFunction, { retryAttempts: 0 })],
  });
}
