/**
 * The names of the stack's CloudFormation outputs: the contract between the
 * deployed stack and the `webhooks` CLI, which finds the bus, queues and table
 * of a deployment with `DescribeStacks` instead of asking the user for them.
 *
 * This module holds constants only (no aws-cdk-lib import), so the CLI can read
 * it without loading the CDK.
 */
export const STACK_OUTPUTS = {
  /** Name of the event bus the run-completed rule listens on (`default` unless configured). */
  eventBusName: 'EventBusName',
  /** The `source` the rule matches; `webhooks emit` must send exactly this. */
  eventSource: 'EventSource',
  /** The `detail-type` the rule matches. */
  eventDetailType: 'EventDetailType',
  deliveryQueueUrl: 'DeliveryQueueUrl',
  deliveryQueueArn: 'DeliveryQueueArn',
  /** Final failures and messages the deliver function could not settle; redrive from here. */
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  deadLetterQueueArn: 'DeadLetterQueueArn',
  /** Events the render function failed on (malformed events, crashes), with their error. */
  renderDeadLetterQueueUrl: 'RenderDeadLetterQueueUrl',
  /** Events EventBridge could not hand to the render function at all. */
  eventDeadLetterQueueUrl: 'EventDeadLetterQueueUrl',
  outcomeTableName: 'OutcomeTableName',
  /** Days a delivery record lives after its last write (the table's TTL); the CLI's writes (replay) keep to it. */
  outcomeRetentionDays: 'OutcomeRetentionDays',
  /** Endpoint health: open circuits and gone endpoints (`webhooks endpoints`). */
  endpointHealthTableName: 'EndpointHealthTableName',
  /** Secrets Manager name prefix of credentials: `<prefix>/<organization_id>/<credential_uuid>`. */
  secretsPrefix: 'SecretsPrefix',
  renderFunctionName: 'RenderFunctionName',
  deliverFunctionName: 'DeliverFunctionName',
  renderLogGroupName: 'RenderLogGroupName',
  deliverLogGroupName: 'DeliverLogGroupName',
  dashboardName: 'DashboardName',
  alarmTopicArn: 'AlarmTopicArn',
  /** The producer's IAM policy (events:PutEvents on the bus, for the rule's source only) as JSON: put it on Dograh's role. */
  producerPolicy: 'ProducerPolicy',
} as const;

/** One of the output keys above. */
export type StackOutputKey = (typeof STACK_OUTPUTS)[keyof typeof STACK_OUTPUTS];

/** The stack name `cdk deploy` uses unless `-c stackName=...` says otherwise; the CLI's default too. */
export const DEFAULT_STACK_NAME = 'DograhWebhooks';
