import { Duration, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENDPOINT_HEALTH_TABLE } from '../../shared/adapters/endpoint-health-table-layout.ts';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import { DELIVERY_QUEUE_MAX_RECEIVE_COUNT } from '../../shared/config/config.ts';
import type { DeliverySettings } from './settings.ts';

/** The queues of every hop: the delivery queue and the three dead-letter queues. */
export interface DeliveryQueues {
  readonly deadLetterQueue: sqs.Queue;
  readonly deliveryQueue: sqs.Queue;
  /** The slow lane (shared/domain/lanes.ts): same settings as the delivery queue, the same dead-letter queue. */
  readonly slowDeliveryQueue: sqs.Queue;
  readonly renderDeadLetterQueue: sqs.Queue;
  readonly eventDeadLetterQueue: sqs.Queue;
}

/** The outcome log and the endpoint health table. */
export interface DeliveryTables {
  readonly table: dynamodb.Table;
  readonly healthTable: dynamodb.Table;
}

/** The queues, in `scope` (the construct itself, so their logical ids stay as they were). */
export function createQueues(scope: Construct, s: DeliverySettings): DeliveryQueues {
  const { deliverTimeout, maxBatchingWindow } = s;
  const fourteenDays = Duration.days(14);
  const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
    retentionPeriod: fourteenDays,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  // AWS's guidance for SQS event sources: at least six times the function timeout (plus the
  // batching window), so a message is not received again while a throttled or retried
  // invocation still holds it.
  const visibilityTimeout = Duration.seconds(6 * deliverTimeout.toSeconds() + maxBatchingWindow.toSeconds());
  const laneProps: sqs.QueueProps = {
    retentionPeriod: fourteenDays,
    visibilityTimeout,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // Well above the receives of any healthy delivery: see DELIVERY_QUEUE_MAX_RECEIVE_COUNT.
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: DELIVERY_QUEUE_MAX_RECEIVE_COUNT },
  };
  const deliveryQueue = new sqs.Queue(scope, 'DeliveryQueue', laneProps);
  const slowDeliveryQueue = new sqs.Queue(scope, 'SlowDeliveryQueue', laneProps);
  const renderDeadLetterQueue = new sqs.Queue(scope, 'RenderDeadLetterQueue', {
    retentionPeriod: fourteenDays,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  // SSE-SQS rather than the AWS-managed KMS key: EventBridge cannot write to a dead-letter queue
  // encrypted with `alias/aws/sqs`.
  const eventDeadLetterQueue = new sqs.Queue(scope, 'EventDeadLetterQueue', {
    retentionPeriod: fourteenDays,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  for (const dlq of [renderDeadLetterQueue, eventDeadLetterQueue]) {
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (a Lambda on-failure destination or an EventBridge target DLQ); a DLQ of a DLQ only moves the problem.',
    });
  }
  return { deadLetterQueue, deliveryQueue, slowDeliveryQueue, renderDeadLetterQueue, eventDeadLetterQueue };
}

/** The outcome table (the log of record) and the endpoint health table, in `scope`. */
export function createTables(scope: Construct, s: DeliverySettings): DeliveryTables {
  const table = new dynamodb.Table(scope, 'OutcomeTable', {
    partitionKey: { name: OUTCOME_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: OUTCOME_TABLE.ttlAttribute,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    deletionProtection: s.tableDeletionProtection,
    removalPolicy: s.removalPolicy,
  });
  for (const index of Object.values(OUTCOME_TABLE.indexes)) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType[index.projection],
      ...(index.nonKeyAttributes === undefined ? {} : { nonKeyAttributes: [...index.nonKeyAttributes] }),
    });
  }

  // --- Tenant isolation (issue 8): the endpoint health table ---------------------------------
  // Its own small table beside the outcome log, so `webhooks endpoints` lists it with a Scan.
  // Derived data: losing it only forgets open circuits and gone marks, so it is not protected
  // against deletion like the log of record, but follows the same removal policy.
  const healthTable = new dynamodb.Table(scope, 'EndpointHealthTable', {
    partitionKey: { name: ENDPOINT_HEALTH_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: ENDPOINT_HEALTH_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: ENDPOINT_HEALTH_TABLE.ttlAttribute,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy: s.removalPolicy,
  });
  return { table, healthTable };
}
