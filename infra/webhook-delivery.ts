import { CfnOutput, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { STACK_OUTPUTS } from './stack-outputs.ts';
import type { StackOutputKey } from './stack-outputs.ts';
import { AlarmSet, addDeliveryAlarms, addReconcileAlarms, createAlarmTopic } from './webhook-delivery/alarms.ts';
import { createDashboard } from './webhook-delivery/dashboard.ts';
import { createDeliveryFunctions, createReconcileFunction } from './webhook-delivery/functions.ts';
import type { WebhookDeliveryProps } from './webhook-delivery/props.ts';
import { createQueries } from './webhook-delivery/queries.ts';
import { checkProps, InvalidPropsError, resolveSettings } from './webhook-delivery/settings.ts';
import { createQueues, createTables } from './webhook-delivery/storage.ts';
import { createReconcileSchedule, createRunCompletedRule } from './webhook-delivery/triggers.ts';

export type { LogLevel, WebhookDeliveryProps } from './webhook-delivery/props.ts';
export { InvalidPropsError } from './webhook-delivery/settings.ts';

/**
 * Outbound webhook delivery for Dograh run-completed events, as one construct:
 * EventBridge rule → render Lambda → SQS delivery queue → deliver Lambda → customer endpoints,
 * with the outcome log in DynamoDB, dead-letter queues at every hop, alarms, a dashboard and
 * saved Logs Insights queries.
 *
 * Drop it into any stack; call {@link WebhookDelivery.addStackOutputs} once per stack if the
 * `webhooks` CLI should find it.
 */
export class WebhookDelivery extends Construct {
  /** The bus the rule listens on. */
  readonly bus: events.IEventBus;
  /** Matches run-completed events and invokes the render function. */
  readonly rule: events.Rule;
  /** One message per rendered delivery; the deliver function consumes it. */
  readonly deliveryQueue: sqs.Queue;
  /** The slow lane: deliveries past an organization's fair share, and to slow or broken endpoints. */
  readonly slowDeliveryQueue: sqs.Queue;
  /** Final failures (moved by the deliver function) and messages the redrive policy caught. */
  readonly deadLetterQueue: sqs.Queue;
  /** Render invocations that failed after Lambda's retries (malformed events, crashes), with their error. */
  readonly renderDeadLetterQueue: sqs.Queue;
  /** Events EventBridge could not hand to the render function. */
  readonly eventDeadLetterQueue: sqs.Queue;
  /** The outcome log: one item per delivery with its attempts. */
  readonly table: dynamodb.Table;
  readonly renderFunction: nodejs.NodejsFunction;
  readonly deliverFunction: nodejs.NodejsFunction;
  readonly renderLogGroup: logs.LogGroup;
  readonly deliverLogGroup: logs.LogGroup;
  /** The deliver function's SQS event source mapping. */
  readonly deliverEventSource: lambda.EventSourceMapping;
  /** The deliver function's event source mapping on the slow lane, with its own concurrency cap. */
  readonly slowLaneEventSource: lambda.EventSourceMapping;
  /** The reconciler: finds stuck deliveries on a schedule and puts them back on the queue. */
  readonly reconcileFunction: nodejs.NodejsFunction;
  readonly reconcileLogGroup: logs.LogGroup;
  /** The schedule that invokes the reconciler. */
  readonly reconcileSchedule: events.Rule;
  /** Where every alarm sends ALARM and OK notifications. */
  readonly alarmTopic: sns.ITopic;
  /** The alarms, by name. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  readonly dashboard: cloudwatch.Dashboard;
  /** Saved Logs Insights queries over both log groups, by name. */
  readonly queries: Readonly<Record<string, logs.QueryDefinition>>;
  /** The resolved configuration, for stack outputs and callers. */
  readonly eventSource: string;
  readonly detailType: string;
  readonly secretsPrefix: string;
  readonly metricsNamespace: string;
  /** Days a delivery record lives after its last write. */
  readonly outcomeRetentionDays: number;
  /** Endpoint health (circuits, gone marks), one item per organization and endpoint that ever failed. */
  readonly healthTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: WebhookDeliveryProps = {}) {
    super(scope, id);

    const settings = resolveSettings(props);
    this.eventSource = settings.eventSource;
    this.detailType = settings.detailType;
    this.secretsPrefix = settings.secretsPrefix;
    this.metricsNamespace = settings.metricsNamespace;
    this.outcomeRetentionDays = settings.outcomeRetentionDays;

    // Fail before anything is built (and bundled), naming every bad prop at once.
    const problems = checkProps(settings);
    if (problems.length > 0) throw new InvalidPropsError(this.node.path, 'props', problems);

    // Every part builds its resources in this construct's own scope, under the ids they always
    // had, and in the order they always were: the synthesized template (logical ids and resource
    // order included) is the one the single-constructor version produced.
    this.bus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    const queues = createQueues(this, settings);
    ({
      deliveryQueue: this.deliveryQueue,
      slowDeliveryQueue: this.slowDeliveryQueue,
      deadLetterQueue: this.deadLetterQueue,
      renderDeadLetterQueue: this.renderDeadLetterQueue,
      eventDeadLetterQueue: this.eventDeadLetterQueue,
    } = queues);
    const tables = createTables(this, settings);
    this.table = tables.table;
    this.healthTable = tables.healthTable;

    const functions = createDeliveryFunctions(this, settings, queues, tables);
    this.renderFunction = functions.renderFunction;
    this.deliverFunction = functions.deliverFunction;
    this.renderLogGroup = functions.renderLogGroup;
    this.deliverLogGroup = functions.deliverLogGroup;
    this.deliverEventSource = functions.deliverEventSource;
    this.slowLaneEventSource = functions.slowLaneEventSource;

    this.rule = createRunCompletedRule(this, settings, this.bus, this.renderFunction, this.eventDeadLetterQueue);

    this.alarmTopic = props.alarmTopic ?? createAlarmTopic(this);
    const alarms = new AlarmSet(this, this.alarmTopic);
    const failureRate = addDeliveryAlarms(alarms, settings, queues, functions);

    const reconciler = createReconcileFunction(this, settings, queues, tables);
    this.reconcileFunction = reconciler.reconcileFunction;
    this.reconcileLogGroup = reconciler.reconcileLogGroup;
    this.reconcileSchedule = createReconcileSchedule(this, this.reconcileFunction);
    addReconcileAlarms(alarms, settings, this.reconcileFunction);
    this.alarms = alarms.alarms;

    this.dashboard = createDashboard(this, settings, props.dashboardName, {
      queues,
      functions,
      failureRate,
      alarms: this.alarms,
    });
    this.queries = createQueries(this, props.queryFolder, this.renderLogGroup, this.deliverLogGroup);
  }

  /**
   * The producer's permission: `events:PutEvents` on this construct's bus only, and only for
   * events whose `source` is the one the rule matches (the `events:source` condition key), so a
   * producer's credentials cannot pose as another source on a shared bus. Give it Dograh's role.
   */
  grantPutEvents(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['events:PutEvents'],
      resourceArns: [this.bus.eventBusArn],
      conditions: this.putEventsConditions(),
    });
  }

  /** The same permission as an IAM policy document, for a producer outside this CDK app (the `ProducerPolicy` output). */
  producerPolicyDocument(): iam.PolicyDocument {
    return new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          actions: ['events:PutEvents'],
          resources: [this.bus.eventBusArn],
          conditions: this.putEventsConditions(),
        }),
      ],
    });
  }

  private putEventsConditions(): Record<string, Record<string, string>> {
    return { StringEquals: { 'events:source': this.eventSource } };
  }

  /**
   * Adds the outputs the `webhooks` CLI reads (keys in `stack-outputs.ts`) to the enclosing stack.
   * The keys are fixed, so call it at most once per stack.
   */
  addStackOutputs(): Record<StackOutputKey, CfnOutput> {
    const stack = Stack.of(this);
    const values: Record<keyof typeof STACK_OUTPUTS, string> = {
      eventBusName: this.bus.eventBusName,
      eventSource: this.eventSource,
      eventDetailType: this.detailType,
      deliveryQueueUrl: this.deliveryQueue.queueUrl,
      deliveryQueueArn: this.deliveryQueue.queueArn,
      deadLetterQueueUrl: this.deadLetterQueue.queueUrl,
      deadLetterQueueArn: this.deadLetterQueue.queueArn,
      renderDeadLetterQueueUrl: this.renderDeadLetterQueue.queueUrl,
      eventDeadLetterQueueUrl: this.eventDeadLetterQueue.queueUrl,
      outcomeTableName: this.table.tableName,
      outcomeRetentionDays: String(this.outcomeRetentionDays),
      endpointHealthTableName: this.healthTable.tableName,
      secretsPrefix: this.secretsPrefix,
      renderFunctionName: this.renderFunction.functionName,
      deliverFunctionName: this.deliverFunction.functionName,
      renderLogGroupName: this.renderLogGroup.logGroupName,
      deliverLogGroupName: this.deliverLogGroup.logGroupName,
      dashboardName: this.dashboard.dashboardName,
      alarmTopicArn: this.alarmTopic.topicArn,
      producerPolicy: stack.toJsonString(this.producerPolicyDocument()),
    };
    const outputs: Partial<Record<StackOutputKey, CfnOutput>> = {};
    for (const [name, key] of Object.entries(STACK_OUTPUTS) as [keyof typeof STACK_OUTPUTS, StackOutputKey][]) {
      // A direct child of the stack keeps its id as the output's logical id: the key the CLI looks up.
      outputs[key] = new CfnOutput(stack, key, { value: values[name] });
    }
    return outputs as Record<StackOutputKey, CfnOutput>;
  }
}
