// The construct's three functions (render, deliver, reconcile): what each may do and what its
// environment holds. How a function is built (log group, role, bundling, the synth-time check of its
// environment) is in function-builder.ts.
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import {
  DEFAULT_RECONCILE_GRACE_SECONDS,
  DeliverConfigSchema,
  ENV,
  ReconcileConfigSchema,
  RenderConfigSchema,
} from '../../shared/config/config.ts';
import { createFunctions, type FunctionEnvironment } from './function-builder.ts';
import type { DeliverySettings } from './settings.ts';
import type { DeliveryQueues, DeliveryTables } from './storage.ts';

/** How far past its lease or due time a delivery counts as stuck. */
const RECONCILE_GRACE = Duration.seconds(DEFAULT_RECONCILE_GRACE_SECONDS);

/**
 * An on-failure destination that only names the queue. The render role is granted exactly
 * `sqs:SendMessage` on it; the stock `SqsDestination` would also grant `GetQueueAttributes` and
 * `GetQueueUrl`, which Lambda does not need to deliver a failure record.
 */
class QueueArnDestination implements lambda.IDestination {
  readonly queue: sqs.IQueue;

  constructor(queue: sqs.IQueue) {
    this.queue = queue;
  }

  bind(): lambda.DestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

/**
 * ARN pattern of the credential secrets. Built from pseudo parameters even when the stack's env is
 * known, so cdk-nag's finding (and its acknowledgement below) reads the same in every environment.
 */
function secretArnPattern(prefix: string): string {
  return `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${prefix}/*`;
}

/** The pattern as cdk-nag flattens it in its IAM5 finding id. */
function flatSecretArnPattern(prefix: string): string {
  return `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${prefix}/*`;
}

/** The render and deliver functions and the deliver function's SQS event source. */
export interface DeliveryFunctions {
  readonly renderFunction: nodejs.NodejsFunction;
  readonly deliverFunction: nodejs.NodejsFunction;
  readonly renderLogGroup: logs.LogGroup;
  readonly deliverLogGroup: logs.LogGroup;
  readonly deliverEventSource: lambda.EventSourceMapping;
  readonly slowLaneEventSource: lambda.EventSourceMapping;
}

/**
 * The render and deliver functions, in `scope`. Both environments are checked before anything
 * is built, so a bad prop fails naming every bad key at once.
 */
export function createDeliveryFunctions(
  scope: Construct,
  s: DeliverySettings,
  queues: DeliveryQueues,
  tables: DeliveryTables,
): DeliveryFunctions {
  const { deliveryQueue, slowDeliveryQueue, deadLetterQueue, renderDeadLetterQueue } = queues;
  const { table, healthTable } = tables;
  const circuitEnvironment = {
    [ENV.endpointHealthTableName]: healthTable.tableName,
    [ENV.circuitsEnabled]: 'true',
    [ENV.circuitFailureThreshold]: String(s.circuitFailureThreshold),
    [ENV.circuitCooldownMinSeconds]: String(s.circuitCooldownMin.toSeconds()),
    [ENV.circuitCooldownMaxSeconds]: String(s.circuitCooldownMax.toSeconds()),
    [ENV.healthCacheTtlMs]: String(s.endpointHealthCacheTtl.toMilliseconds()),
    [ENV.settleEarly]: 'true',
  };
  const {
    outcomeRetentionDays,
    maxPayloadBytes,
    logLevel,
    credentialCacheTtl,
    requestTimeout,
    allowPrivateEndpoints,
    logRetention,
  } = s;
  const { renderTimeout, deliverTimeout, batchSize, maxBatchingWindow, deliverMaxConcurrency } = s;

  // --- Environments, checked with the functions' own config schemas -------------------------
  const renderEnvironment = {
    [ENV.deliveryQueueUrl]: deliveryQueue.queueUrl,
    [ENV.outcomeTableName]: table.tableName,
    [ENV.eventSource]: s.eventSource,
    [ENV.eventDetailType]: s.detailType,
    [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
    [ENV.maxPayloadBytes]: String(maxPayloadBytes),
    [ENV.metricsNamespace]: s.metricsNamespace,
    [ENV.logLevel]: logLevel,
    [ENV.endpointHealthTableName]: healthTable.tableName,
    [ENV.slowDeliveryQueueUrl]: slowDeliveryQueue.queueUrl,
    [ENV.fairShareDeliveries]: String(s.fairShareDeliveries),
    [ENV.fairShareWindowSeconds]: String(s.fairShareWindow.toSeconds()),
  } satisfies FunctionEnvironment<typeof RenderConfigSchema>;
  const deliverEnvironment = {
    [ENV.deliveryQueueUrl]: deliveryQueue.queueUrl,
    [ENV.deadLetterQueueUrl]: deadLetterQueue.queueUrl,
    [ENV.outcomeTableName]: table.tableName,
    [ENV.secretsPrefix]: s.secretsPrefix,
    [ENV.credentialCacheTtlSeconds]: String(credentialCacheTtl.toSeconds()),
    [ENV.requestTimeoutMs]: String(requestTimeout.toMilliseconds()),
    [ENV.allowPrivateEndpoints]: String(allowPrivateEndpoints),
    [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
    [ENV.metricsNamespace]: s.metricsNamespace,
    [ENV.logLevel]: logLevel,
    ...circuitEnvironment,
    [ENV.slowDeliveryQueueUrl]: slowDeliveryQueue.queueUrl,
    [ENV.slowEndpointMs]: String(s.slowEndpointThreshold.toMilliseconds()),
  } satisfies FunctionEnvironment<typeof DeliverConfigSchema>;
  const secretsArnPattern = secretArnPattern(s.secretsPrefix);
  const deliverStatements = [
    // What the event source mapping polls with, plus the handler's own ChangeMessageVisibility
    // (retry backoff). DeleteMessage is the mapping's, for the successful items of a batch.
    new iam.PolicyStatement({
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
      resources: [deliveryQueue.queueArn, slowDeliveryQueue.queueArn],
    }),
    // The slow lane (issue 8): deliveries to a slow or broken endpoint move there from the main queue.
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [slowDeliveryQueue.queueArn] }),
    // Final failures are moved to the DLQ by the handler.
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }),
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [table.tableArn],
    }),
    new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretsArnPattern] }),
    // Endpoint circuits (issue 8): read through a cache, written on failures and state changes;
    // DeleteItem clears a gone mark when the node changed. (Early deletes of settled messages use
    // sqs:DeleteMessage, granted above.)
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      resources: [healthTable.tableArn],
    }),
  ];
  if (s.secretsEncryptionKey) {
    deliverStatements.push(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [s.secretsEncryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }

  const [render, deliver] = createFunctions(scope, logRetention, [
    {
      name: 'render',
      description: 'Dograh webhooks: renders the webhook nodes of a completed run and enqueues their deliveries',
      roleDescription: 'Dograh webhooks render function: writes its logs, enqueues deliveries, records bad nodes',
      statements: [
        // SendMessageBatch is authorised as sqs:SendMessage.
        // The slow lane takes an organization's deliveries past its fair share (issue 8).
        new iam.PolicyStatement({
          actions: ['sqs:SendMessage'],
          resources: [deliveryQueue.queueArn, slowDeliveryQueue.queueArn],
        }),
        // Each organization's delivery count per fair-share window, kept in the health table.
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [healthTable.tableArn] }),
        // The on-failure destination: Lambda sends the failure record with the function's role.
        new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [renderDeadLetterQueue.queueArn] }),
        // recordFinal of nodes that cannot be rendered.
        new iam.PolicyStatement({
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [table.tableArn],
        }),
      ],
      environment: renderEnvironment,
      schema: RenderConfigSchema,
      memorySize: s.renderMemorySize,
      timeout: renderTimeout,
      props: {
        // Render is idempotent: delivery ids are deterministic per run and node and each is claimed
        // once, so running an event again enqueues nothing twice. A malformed event fails the same
        // way every time, and its two retries only delay its arrival in the render DLQ by about three
        // minutes; a crash, a timeout or a throttled SQS/DynamoDB call may well pass on a retry. So
        // take Lambda's maximum of two retries, then keep the event, with its error, in the DLQ.
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
        onFailure: new QueueArnDestination(renderDeadLetterQueue),
      },
    },
    {
      name: 'deliver',
      description: 'Dograh webhooks: sends rendered deliveries to their endpoints, retries, records outcomes',
      roleDescription:
        'Dograh webhooks deliver function: consumes the delivery queue, reads credentials, records outcomes',
      statements: deliverStatements,
      environment: deliverEnvironment,
      schema: DeliverConfigSchema,
      memorySize: s.deliverMemorySize,
      timeout: deliverTimeout,
    },
  ]);
  Validations.of(deliver!.role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${flatSecretArnPattern(s.secretsPrefix)}]`,
    reason:
      'Credentials are created at run time, one secret per organization and credential (<prefix>/<organization_id>/<credential_uuid>), and Secrets Manager appends a random suffix to every secret ARN, so the names cannot be listed here; the wildcard is confined to the configured credentials prefix and to GetSecretValue.',
  });
  const renderFunction = render!.fn;
  const deliverFunction = deliver!.fn;

  // A plain mapping rather than SqsEventSource, whose grant adds sqs:GetQueueUrl; the role above
  // already holds what the mapping polls with.
  const deliverEventSource = new lambda.EventSourceMapping(scope, 'DeliverEventSource', {
    target: deliverFunction,
    eventSourceArn: deliveryQueue.queueArn,
    batchSize,
    maxBatchingWindow,
    maxConcurrency: deliverMaxConcurrency,
    // The handler reports the messages to retry; the others of the batch are deleted.
    reportBatchItemFailures: true,
  });
  // The slow lane: the same function, a small concurrency of its own (issue 8, shared/domain/lanes.ts).
  const slowLaneEventSource = new lambda.EventSourceMapping(scope, 'SlowLaneEventSource', {
    target: deliverFunction,
    eventSourceArn: slowDeliveryQueue.queueArn,
    batchSize,
    maxBatchingWindow,
    maxConcurrency: s.slowLaneMaxConcurrency,
    reportBatchItemFailures: true,
  });
  return {
    renderFunction,
    deliverFunction,
    renderLogGroup: render!.logGroup,
    deliverLogGroup: deliver!.logGroup,
    deliverEventSource,
    slowLaneEventSource,
  };
}

/** The reconciler and its log group. */
export interface ReconcileFunction {
  readonly reconcileFunction: nodejs.NodejsFunction;
  readonly reconcileLogGroup: logs.LogGroup;
}

/** The reconciler, in `scope`; its schedule is in `triggers.ts`, its alarms in `alarms.ts`. */
export function createReconcileFunction(
  scope: Construct,
  s: DeliverySettings,
  queues: DeliveryQueues,
  tables: DeliveryTables,
): ReconcileFunction {
  const { deliveryQueue, slowDeliveryQueue } = queues;
  const { table } = tables;
  const { outcomeRetentionDays, logLevel, logRetention } = s;
  // Stuck deliveries back on the queue: on its schedule, the reconciler reads the sparse pending
  // index (a Query per shard, never a Scan) for deliveries non-final past their lease or due time
  // plus the grace, and puts each back on the delivery queue from its kept request, or fails it
  // with its reason.
  const reconcileEnvironment = {
    [ENV.deliveryQueueUrl]: deliveryQueue.queueUrl,
    [ENV.outcomeTableName]: table.tableName,
    [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
    [ENV.reconcileGraceSeconds]: String(RECONCILE_GRACE.toSeconds()),
    [ENV.slowDeliveryQueueUrl]: slowDeliveryQueue.queueUrl,
    [ENV.metricsNamespace]: s.metricsNamespace,
    [ENV.logLevel]: logLevel,
  } satisfies FunctionEnvironment<typeof ReconcileConfigSchema>;
  const [reconcile] = createFunctions(scope, logRetention, [
    {
      name: 'reconcile',
      description:
        'Dograh webhooks: puts deliveries stuck with no queue message back on the queue, or fails them with the reason',
      roleDescription: 'Dograh webhooks reconciler: reads the pending index, re-enqueues or fails stuck deliveries',
      statements: [
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [`${table.tableArn}/index/${OUTCOME_TABLE.indexes.pending.name}`],
        }),
        new iam.PolicyStatement({
          actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
          resources: [table.tableArn],
        }),
        // GetQueueAttributes: a run pauses while the queue has a backlog (see reconcile.ts).
        new iam.PolicyStatement({
          actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
          resources: [deliveryQueue.queueArn],
        }),
        // The slow lane's backlog counts toward the pause; nothing is sent there.
        new iam.PolicyStatement({ actions: ['sqs:GetQueueAttributes'], resources: [slowDeliveryQueue.queueArn] }),
      ],
      environment: reconcileEnvironment,
      schema: ReconcileConfigSchema,
      memorySize: 256,
      timeout: Duration.minutes(2),
      props: {
        // One run at a time; a missed run is made up by the next one.
        reservedConcurrentExecutions: 1,
        retryAttempts: 0,
      },
    },
  ]);
  return { reconcileFunction: reconcile!.fn, reconcileLogGroup: reconcile!.logGroup };
}
