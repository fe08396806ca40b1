import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { OUTCOME_TABLE } from '../shared/adapters/outcome-table-layout.ts';
import { ENDPOINT_HEALTH_TABLE } from '../shared/adapters/endpoint-health-table-layout.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, DELIVER_EVENT_SOURCE_DEFAULTS, DELIVERY_QUEUE_MAX_RECEIVE_COUNT, DeliverConfigSchema, ENV, ReconcileConfigSchema, RenderConfigSchema } from '../shared/config/config.ts';
import { DEFAULT_SECRETS_PREFIX } from '../shared/schemas/credential.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';
import { METRIC } from '../shared/observability/metrics.ts';
import type { DeliveryOutcome } from '../shared/observability/metrics.ts';
import { STACK_OUTPUTS } from './stack-outputs.ts';
import type { StackOutputKey } from './stack-outputs.ts';

/** Log level of both functions, as the config schemas accept it. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Configuration of {@link WebhookDelivery}. Every prop has a default that suits a production deployment. */
export interface WebhookDeliveryProps {
  /**
   * The bus producers put run-completed events on.
   * @default the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
  /**
   * `source` of run-completed events; the rule matches it and the render function checks it.
   * @default 'dograh.workflows'
   */
  readonly eventSource?: string;
  /**
   * `detail-type` of run-completed events.
   * @default 'Workflow Run Completed'
   */
  readonly detailType?: string;
  /**
   * Secrets Manager name prefix of credentials (`<prefix>/<organization_id>/<credential_uuid>`).
   * The deliver function may read only secrets under `<prefix>/`.
   * @default 'webhooks/credentials'
   */
  readonly secretsPrefix?: string;
  /**
   * The customer-managed KMS key the credential secrets are encrypted with, if any: the deliver
   * function gets `kms:Decrypt` on it, through Secrets Manager only.
   * @default - secrets use the AWS-managed key `aws/secretsmanager`, which needs no grant
   */
  readonly secretsEncryptionKey?: kms.IKey;
  /**
   * How long the functions' log groups keep logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Log level of both functions.
   * @default 'info'
   */
  readonly logLevel?: LogLevel;
  /**
   * Days a delivery's record stays in the outcome table before DynamoDB's TTL deletes it (1–3650).
   * @default 30
   */
  readonly outcomeRetentionDays?: number;
  /**
   * The SNS topic every alarm notifies (on ALARM and on OK). If you pass your own, its policy must
   * let `cloudwatch.amazonaws.com` publish.
   * @default - a new topic that accepts only TLS publishes and allows CloudWatch alarms of this account
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Whether endpoints on private, unique-local and similar addresses may be called. Only for
   * deployments that deliver inside a private network; the public internet never needs it.
   * @default false
   */
  readonly allowPrivateEndpoints?: boolean;
  /**
   * Most concurrent deliver invocations the SQS event source starts (2–1000): protects the
   * account's Lambda concurrency and the customers' endpoints during a burst.
   * @default 10
   */
  readonly deliverMaxConcurrency?: number;
  /**
   * Timeout of the deliver function. Must leave room after the request timeout to record the
   * outcome and settle the message: at least `requestTimeout` + 10 s.
   * @default Duration.seconds(60)
   */
  readonly deliverTimeout?: Duration;
  /**
   * Timeout of one HTTP request to an endpoint (the contract's default is 30 s).
   * @default Duration.seconds(30)
   */
  readonly requestTimeout?: Duration;
  /**
   * Timeout of the render function (one invocation renders and enqueues one run's webhook nodes).
   * @default Duration.seconds(30)
   */
  readonly renderTimeout?: Duration;
  /**
   * Memory of the render function, in MB.
   * @default 256
   */
  readonly renderMemorySize?: number;
  /**
   * Memory of the deliver function, in MB. Lambda's CPU share grows with memory, and TLS handshakes
   * of a whole batch in parallel are CPU-bound.
   * @default 512
   */
  readonly deliverMemorySize?: number;
  /**
   * Messages per deliver invocation (1–10). The deliver function sends a whole batch concurrently,
   * within one invocation's timeout and memory; more than 10 at once is not what it is sized for.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * How long the event source waits to fill a batch (0–300 s). Zero keeps delivery latency lowest.
   * @default Duration.seconds(0)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * How long the deliver function caches a credential in memory; a rotated secret is picked up
   * within this time.
   * @default Duration.minutes(15)
   */
  readonly credentialCacheTtl?: Duration;
  /**
   * Largest rendered delivery (bytes) the render function enqueues; larger ones fail as oversized.
   * @default 204800 (200 KiB, under SQS's 256 KiB message limit)
   */
  readonly maxPayloadBytes?: number;
  /**
   * CloudWatch namespace of the functions' EMF metrics; alarms and dashboard read from it.
   * @default 'DograhWebhooks'
   */
  readonly metricsNamespace?: string;
  /**
   * What happens to the outcome table when it leaves the stack. It is the log of record of every
   * delivery, so it is kept unless you say otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * DynamoDB deletion protection on the outcome table.
   * @default true
   */
  readonly tableDeletionProtection?: boolean;
  /**
   * The age of the oldest message on the delivery queue above which the backlog alarm fires.
   * SQS stops counting a message in this metric after its third receive, so only nodes whose
   * retry_config waits longer than half this time between its first attempts can trip it on their own.
   * @default Duration.hours(1)
   */
  readonly oldestMessageAgeThreshold?: Duration;
  /**
   * Share of final outcomes that are failures (percent, over 5 minutes, 2 of 3 periods) above which
   * the failure-rate alarm fires.
   * @default 20
   */
  readonly failureRateThresholdPercent?: number;
  /**
   * Name of the CloudWatch dashboard.
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;
  /**
   * Folder of the saved Logs Insights queries in the console.
   * @default '<stack name>/<construct id>'
   */
  readonly queryFolder?: string;

  // --- Tenant isolation (issue 8): endpoint circuits ------------------------------------------
  /**
   * Consecutive transient failures (408, 425, 429, 5xx, timeouts, connection errors) of one
   * organization's endpoint after which its circuit opens: its deliveries are deferred, without an
   * attempt, until the cool-down ends and a probe succeeds (1–1000).
   * @default 5
   */
  readonly circuitFailureThreshold?: number;
  /**
   * The first cool-down of an opened circuit; each opening in a row doubles it, up to `circuitCooldownMax`.
   * @default Duration.seconds(30)
   */
  readonly circuitCooldownMin?: Duration;
  /**
   * The longest cool-down of an opened circuit (at most 12 h).
   * @default Duration.minutes(10)
   */
  readonly circuitCooldownMax?: Duration;
  /**
   * How long a warm deliver container trusts the endpoint health it read: a circuit opened by
   * another container takes effect here within this time; a shorter one costs more GetItem requests.
   * @default Duration.seconds(5)
   */
  readonly endpointHealthCacheTtl?: Duration;
}

/** A deliver attempt's duration can reach the request timeout; what follows it (record, settle) needs this much more. */
const SETTLE_MARGIN = Duration.seconds(10);

/** Most messages per deliver invocation: the handler sends a whole batch concurrently. */
const MAX_DELIVER_BATCH_SIZE = 10;

/** Stands in for an unresolved token (a queue URL, a table name) when the environment is parsed at synth time. */
const TOKEN_PLACEHOLDER = 'https://sqs.us-east-1.amazonaws.com/123456789012/placeholder';

/** The config schemas' default for `METRICS_NAMESPACE`. */
const DEFAULT_METRICS_NAMESPACE = 'DograhWebhooks';

/** The dimension of `Deliveries` the functions emit, and the final outcomes the failure rate compares. */
const OUTCOME_DIMENSION = 'Outcome';
const FINAL_OUTCOMES = { delivered: 'delivered', failed: 'failed' } as const satisfies Record<string, DeliveryOutcome>;

type FunctionEnvironment<S extends z.ZodType> = Record<keyof z.input<S>, string>;

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

    this.eventSource = props.eventSource ?? DEFAULT_EVENT_SOURCE;
    this.detailType = props.detailType ?? DEFAULT_DETAIL_TYPE;
    this.secretsPrefix = props.secretsPrefix ?? DEFAULT_SECRETS_PREFIX;
    this.metricsNamespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const logLevel = props.logLevel ?? 'info';
    const outcomeRetentionDays = props.outcomeRetentionDays ?? 30;
    this.outcomeRetentionDays = outcomeRetentionDays;
    const allowPrivateEndpoints = props.allowPrivateEndpoints ?? false;
    const deliverMaxConcurrency = props.deliverMaxConcurrency ?? DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency;
    const requestTimeout = props.requestTimeout ?? Duration.seconds(30);
    const deliverTimeout = props.deliverTimeout ?? Duration.seconds(60);
    const renderTimeout = props.renderTimeout ?? Duration.seconds(30);
    const batchSize = props.batchSize ?? DELIVER_EVENT_SOURCE_DEFAULTS.batchSize;
    const maxBatchingWindow = props.maxBatchingWindow ?? Duration.seconds(0);
    const credentialCacheTtl = props.credentialCacheTtl ?? Duration.minutes(15);
    const maxPayloadBytes = props.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const oldestMessageAgeThreshold = props.oldestMessageAgeThreshold ?? Duration.hours(1);
    const failureRateThresholdPercent = props.failureRateThresholdPercent ?? 20;

    // Fail before anything is built (and bundled), naming every bad prop at once.
    const problems = checkProps({
      eventSource: this.eventSource,
      detailType: this.detailType,
      secretsPrefix: this.secretsPrefix,
      deliverMaxConcurrency,
      requestTimeout,
      deliverTimeout,
      batchSize,
      maxBatchingWindow,
      failureRateThresholdPercent,
    });
    if (problems.length > 0) throw new Error(`WebhookDelivery ${this.node.path}: invalid props:\n- ${problems.join('\n- ')}`);

    this.bus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    // --- Queues -----------------------------------------------------------------------------
    const fourteenDays = Duration.days(14);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: fourteenDays,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // AWS's guidance for SQS event sources: at least six times the function timeout (plus the
    // batching window), so a message is not received again while a throttled or retried
    // invocation still holds it.
    const visibilityTimeout = Duration.seconds(6 * deliverTimeout.toSeconds() + maxBatchingWindow.toSeconds());
    this.deliveryQueue = new sqs.Queue(this, 'DeliveryQueue', {
      retentionPeriod: fourteenDays,
      visibilityTimeout,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Well above the receives of any healthy delivery: see DELIVERY_QUEUE_MAX_RECEIVE_COUNT.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: DELIVERY_QUEUE_MAX_RECEIVE_COUNT },
    });
    this.renderDeadLetterQueue = new sqs.Queue(this, 'RenderDeadLetterQueue', {
      retentionPeriod: fourteenDays,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // SSE-SQS rather than the AWS-managed KMS key: EventBridge cannot write to a dead-letter queue
    // encrypted with `alias/aws/sqs`.
    this.eventDeadLetterQueue = new sqs.Queue(this, 'EventDeadLetterQueue', {
      retentionPeriod: fourteenDays,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    for (const dlq of [this.renderDeadLetterQueue, this.eventDeadLetterQueue]) {
      Validations.of(dlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (a Lambda on-failure destination or an EventBridge target DLQ); a DLQ of a DLQ only moves the problem.',
      });
    }

    // --- Outcome table ------------------------------------------------------------------------
    this.table = new dynamodb.Table(this, 'OutcomeTable', {
      partitionKey: { name: OUTCOME_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: OUTCOME_TABLE.ttlAttribute,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.tableDeletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const index of Object.values(OUTCOME_TABLE.indexes)) {
      this.table.addGlobalSecondaryIndex({
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
    this.healthTable = new dynamodb.Table(this, 'EndpointHealthTable', {
      partitionKey: { name: ENDPOINT_HEALTH_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: ENDPOINT_HEALTH_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ENDPOINT_HEALTH_TABLE.ttlAttribute,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const circuitEnvironment = {
      [ENV.endpointHealthTableName]: this.healthTable.tableName,
      [ENV.circuitsEnabled]: 'true',
      [ENV.circuitFailureThreshold]: String(props.circuitFailureThreshold ?? 5),
      [ENV.circuitCooldownMinSeconds]: String((props.circuitCooldownMin ?? Duration.seconds(30)).toSeconds()),
      [ENV.circuitCooldownMaxSeconds]: String((props.circuitCooldownMax ?? Duration.minutes(10)).toSeconds()),
      [ENV.healthCacheTtlMs]: String((props.endpointHealthCacheTtl ?? Duration.seconds(5)).toMilliseconds()),
      [ENV.settleEarly]: 'true',
    };

    // --- Environments, checked with the functions' own config schemas -------------------------
    const renderEnvironment = {
      [ENV.deliveryQueueUrl]: this.deliveryQueue.queueUrl,
      [ENV.outcomeTableName]: this.table.tableName,
      [ENV.eventSource]: this.eventSource,
      [ENV.eventDetailType]: this.detailType,
      [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
      [ENV.maxPayloadBytes]: String(maxPayloadBytes),
      [ENV.metricsNamespace]: this.metricsNamespace,
      [ENV.logLevel]: logLevel,
    } satisfies FunctionEnvironment<typeof RenderConfigSchema>;
    const deliverEnvironment = {
      [ENV.deliveryQueueUrl]: this.deliveryQueue.queueUrl,
      [ENV.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      [ENV.outcomeTableName]: this.table.tableName,
      [ENV.secretsPrefix]: this.secretsPrefix,
      [ENV.credentialCacheTtlSeconds]: String(credentialCacheTtl.toSeconds()),
      [ENV.requestTimeoutMs]: String(requestTimeout.toMilliseconds()),
      [ENV.allowPrivateEndpoints]: String(allowPrivateEndpoints),
      [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
      [ENV.metricsNamespace]: this.metricsNamespace,
      [ENV.logLevel]: logLevel,
      ...circuitEnvironment,
    } satisfies FunctionEnvironment<typeof DeliverConfigSchema>;
    const envProblems = [
      ...checkEnvironment('render', RenderConfigSchema, renderEnvironment),
      ...checkEnvironment('deliver', DeliverConfigSchema, deliverEnvironment),
    ];
    if (envProblems.length > 0) {
      throw new Error(`WebhookDelivery ${this.node.path}: invalid function environment:\n- ${envProblems.join('\n- ')}`);
    }

    // --- Log groups and roles: each function may do exactly what its code does ----------------
    this.renderLogGroup = new logs.LogGroup(this, 'RenderLogGroup', { retention: logRetention });
    this.deliverLogGroup = new logs.LogGroup(this, 'DeliverLogGroup', { retention: logRetention });

    // Own roles with inline policies instead of AWSLambdaBasicExecutionRole (which may write to
    // any log group) and grant* helpers (which add actions the code never calls).
    const renderRole = new iam.Role(this, 'RenderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Dograh webhooks render function: writes its logs, enqueues deliveries, records bad nodes',
      inlinePolicies: {
        render: new iam.PolicyDocument({
          statements: [
            writeLogs(this.renderLogGroup),
            // SendMessageBatch is authorised as sqs:SendMessage.
            new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deliveryQueue.queueArn] }),
            // The on-failure destination: Lambda sends the failure record with the function's role.
            new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.renderDeadLetterQueue.queueArn] }),
            // recordFinal of nodes that cannot be rendered.
            new iam.PolicyStatement({ actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [this.table.tableArn] }),
          ],
        }),
      },
    });

    const secretsArnPattern = secretArnPattern(this.secretsPrefix);
    const deliverStatements = [
      writeLogs(this.deliverLogGroup),
      // What the event source mapping polls with, plus the handler's own ChangeMessageVisibility
      // (retry backoff). DeleteMessage is the mapping's, for the successful items of a batch.
      new iam.PolicyStatement({
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
        resources: [this.deliveryQueue.queueArn],
      }),
      // Final failures are moved to the DLQ by the handler.
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretsArnPattern] }),
      // Endpoint circuits (issue 8): read through a cache, written on failures and state changes;
      // DeleteItem clears a gone mark when the node changed. (Early deletes of settled messages use
      // sqs:DeleteMessage, granted above.)
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'], resources: [this.healthTable.tableArn] }),
    ];
    if (props.secretsEncryptionKey) {
      deliverStatements.push(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.secretsEncryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
    const deliverRole = new iam.Role(this, 'DeliverRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Dograh webhooks deliver function: consumes the delivery queue, reads credentials, records outcomes',
      inlinePolicies: { deliver: new iam.PolicyDocument({ statements: deliverStatements }) },
    });
    Validations.of(deliverRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${flatSecretArnPattern(this.secretsPrefix)}]`,
      reason:
        'Credentials are created at run time, one secret per organization and credential (<prefix>/<organization_id>/<credential_uuid>), and Secrets Manager appends a random suffix to every secret ARN, so the names cannot be listed here; the wildcard is confined to the configured credentials prefix and to GetSecretValue.',
    });

    // --- Functions ----------------------------------------------------------------------------
    const common = {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
      bundling: BUNDLING,
    } satisfies Partial<nodejs.NodejsFunctionProps>;

    this.renderFunction = new nodejs.NodejsFunction(this, 'RenderFunction', {
      ...common,
      description: 'Dograh webhooks: renders the webhook nodes of a completed run and enqueues their deliveries',
      entry: fileURLToPath(new URL('../functions/render/handler.ts', import.meta.url)),
      memorySize: props.renderMemorySize ?? 256,
      timeout: renderTimeout,
      role: renderRole,
      logGroup: this.renderLogGroup,
      environment: { ...renderEnvironment, NODE_OPTIONS: '--enable-source-maps' },
      // Render is idempotent: delivery ids are deterministic per run and node and each is claimed
      // once, so running an event again enqueues nothing twice. A malformed event fails the same
      // way every time, and its two retries only delay its arrival in the render DLQ by about three
      // minutes; a crash, a timeout or a throttled SQS/DynamoDB call may well pass on a retry. So
      // take Lambda's maximum of two retries, then keep the event, with its error, in the DLQ.
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new QueueArnDestination(this.renderDeadLetterQueue),
    });

    this.deliverFunction = new nodejs.NodejsFunction(this, 'DeliverFunction', {
      ...common,
      description: 'Dograh webhooks: sends rendered deliveries to their endpoints, retries, records outcomes',
      entry: fileURLToPath(new URL('../functions/deliver/handler.ts', import.meta.url)),
      memorySize: props.deliverMemorySize ?? 512,
      timeout: deliverTimeout,
      role: deliverRole,
      logGroup: this.deliverLogGroup,
      environment: { ...deliverEnvironment, NODE_OPTIONS: '--enable-source-maps' },
    });

    // A plain mapping rather than SqsEventSource, whose grant adds sqs:GetQueueUrl; the role above
    // already holds what the mapping polls with.
    this.deliverEventSource = new lambda.EventSourceMapping(this, 'DeliverEventSource', {
      target: this.deliverFunction,
      eventSourceArn: this.deliveryQueue.queueArn,
      batchSize,
      maxBatchingWindow,
      maxConcurrency: deliverMaxConcurrency,
      // The handler reports the messages to retry; the others of the batch are deleted.
      reportBatchItemFailures: true,
    });

    // --- Rule ---------------------------------------------------------------------------------
    this.rule = new events.Rule(this, 'RunCompletedRule', {
      eventBus: this.bus,
      description: 'Dograh run-completed events to the webhook render function',
      eventPattern: { source: [this.eventSource], detailType: [this.detailType] },
      targets: [
        new targets.LambdaFunction(this.renderFunction, {
          // EventBridge retries only when Lambda refuses the invocation itself (throttling of the
          // async invoke API, an outage); give it EventBridge's maximum of a day before the DLQ.
          maxEventAge: Duration.hours(24),
          retryAttempts: 185,
          deadLetterQueue: this.eventDeadLetterQueue,
        }),
      ],
    });

    // --- Alarms -------------------------------------------------------------------------------
    this.alarmTopic = props.alarmTopic ?? this.createAlarmTopic();
    const alarmAction = new cloudwatchActions.SnsAction(this.alarmTopic);
    const fiveMinutes = Duration.minutes(5);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const addAlarm = (name: string, props: cloudwatch.AlarmProps): void => {
      const alarm = new cloudwatch.Alarm(this, `${name}Alarm`, props);
      alarm.addAlarmAction(alarmAction);
      alarm.addOkAction(alarmAction);
      alarms[name] = alarm;
    };
    const notEmpty = (queue: sqs.IQueue, description: string): cloudwatch.AlarmProps => ({
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS stops reporting on a queue idle for six hours; an idle DLQ is an empty one.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    const sumOver5Minutes = { period: fiveMinutes, statistic: cloudwatch.Stats.SUM };
    const anyOf = (metric: cloudwatch.IMetric, description: string): cloudwatch.AlarmProps => ({
      metric,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });

    addAlarm(
      'DeadLetters',
      notEmpty(
        this.deadLetterQueue,
        'Deliveries failed for good (permanent error or attempts exhausted) or could not be settled. Find them with `webhooks` or the failures queries, fix the cause, then redrive the DLQ to the delivery queue or purge it.',
      ),
    );
    addAlarm(
      'RenderDeadLetters',
      notEmpty(
        this.renderDeadLetterQueue,
        'Run-completed events the render function failed on after retries (malformed events, crashes). Each message holds the event and the error; fix the producer or the code, then re-emit the event.',
      ),
    );
    addAlarm(
      'EventDeadLetters',
      notEmpty(
        this.eventDeadLetterQueue,
        'EventBridge could not invoke the render function for a day (permissions, function deleted, Lambda outage). Fix the target, then re-send the events held in the queue.',
      ),
    );
    addAlarm('DeliveryBacklog', {
      metric: this.deliveryQueue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: oldestMessageAgeThreshold.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `A delivery has waited over ${oldestMessageAgeThreshold.toHumanString()} on the delivery queue: the deliver function is failing, throttled or too slow for the load. Check its errors and throttles, then maxConcurrency.`,
    });
    addAlarm(
      'RenderErrors',
      anyOf(
        this.renderFunction.metricErrors(sumOver5Minutes),
        'The render function failed (malformed event, crash, timeout). Lambda retries twice; what still fails lands in the render DLQ. Read the render log group.',
      ),
    );
    addAlarm(
      'DeliverErrors',
      anyOf(
        this.deliverFunction.metricErrors(sumOver5Minutes),
        'The deliver function crashed or timed out (endpoint failures are not errors: they are recorded and retried). Its batch returns to the queue; read the deliver log group.',
      ),
    );
    addAlarm(
      'RenderThrottles',
      anyOf(
        this.renderFunction.metricThrottles(sumOver5Minutes),
        'The render function was throttled: the account is out of Lambda concurrency. Lambda retries async events for up to 6 hours; raise the account limit or find the function that uses it up.',
      ),
    );
    addAlarm(
      'DeliverThrottles',
      anyOf(
        this.deliverFunction.metricThrottles(sumOver5Minutes),
        'The deliver function was throttled: the account is out of Lambda concurrency (the event source caps its own). Messages wait on the queue; raise the account limit or lower other functions.',
      ),
    );
    const deliveries = (outcome: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: this.metricsNamespace,
        metricName: METRIC.deliveries,
        dimensionsMap: { [OUTCOME_DIMENSION]: outcome },
        ...sumOver5Minutes,
      });
    const failureRate = new cloudwatch.MathExpression({
      label: 'Failed deliveries (% of final outcomes)',
      expression: 'IF((FILL(failed, 0) + FILL(delivered, 0)) > 0, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(delivered, 0)), 0)',
      usingMetrics: {
        failed: deliveries(FINAL_OUTCOMES.failed),
        delivered: deliveries(FINAL_OUTCOMES.delivered),
      },
      period: fiveMinutes,
    });
    addAlarm('FailureRate', {
      metric: failureRate,
      threshold: failureRateThresholdPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Over ${failureRateThresholdPercent}% of deliveries failed for good in 2 of the last 3 five-minute periods. One broken customer endpoint or a wide outage: run the "failures by endpoint host" query.`,
    });
    // --- Reconciler: stuck deliveries back on the queue ---------------------------------------
    // Every RECONCILE_EVERY, a scheduled function reads the sparse pending index (a Query per
    // shard, never a Scan) for deliveries non-final past their lease or due time plus the
    // grace, and puts each back on the delivery queue from its kept request, or fails it
    // with its reason. Its own block: log group, role, function, schedule, alarms.
    const reconcileEnvironment = {
      [ENV.deliveryQueueUrl]: this.deliveryQueue.queueUrl,
      [ENV.outcomeTableName]: this.table.tableName,
      [ENV.outcomeRetentionDays]: String(outcomeRetentionDays),
      [ENV.reconcileGraceSeconds]: String(RECONCILE_GRACE.toSeconds()),
      [ENV.metricsNamespace]: this.metricsNamespace,
      [ENV.logLevel]: logLevel,
    } satisfies FunctionEnvironment<typeof ReconcileConfigSchema>;
    const reconcileProblems = checkEnvironment('reconcile', ReconcileConfigSchema, reconcileEnvironment);
    if (reconcileProblems.length > 0) {
      throw new Error(`WebhookDelivery ${this.node.path}: invalid function environment:\n- ${reconcileProblems.join('\n- ')}`);
    }
    this.reconcileLogGroup = new logs.LogGroup(this, 'ReconcileLogGroup', { retention: logRetention });
    const reconcileRole = new iam.Role(this, 'ReconcileRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Dograh webhooks reconciler: reads the pending index, re-enqueues or fails stuck deliveries',
      inlinePolicies: {
        reconcile: new iam.PolicyDocument({
          statements: [
            writeLogs(this.reconcileLogGroup),
            new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.table.tableArn}/index/${OUTCOME_TABLE.indexes.pending.name}`] }),
            new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [this.table.tableArn] }),
            new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deliveryQueue.queueArn] }),
          ],
        }),
      },
    });
    this.reconcileFunction = new nodejs.NodejsFunction(this, 'ReconcileFunction', {
      ...common,
      description: 'Dograh webhooks: puts deliveries stuck with no queue message back on the queue, or fails them with the reason',
      entry: fileURLToPath(new URL('../functions/reconcile/handler.ts', import.meta.url)),
      memorySize: 256,
      timeout: Duration.minutes(2),
      role: reconcileRole,
      logGroup: this.reconcileLogGroup,
      environment: { ...reconcileEnvironment, NODE_OPTIONS: '--enable-source-maps' },
      // One run at a time; a missed run is made up by the next one.
      reservedConcurrentExecutions: 1,
      retryAttempts: 0,
    });
    this.reconcileSchedule = new events.Rule(this, 'ReconcileSchedule', {
      description: 'Dograh webhooks: run the reconciler',
      schedule: events.Schedule.rate(RECONCILE_EVERY),
      targets: [new targets.LambdaFunction(this.reconcileFunction, { retryAttempts: 0 })],
    });
    const reconciled = (action: string): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: this.metricsNamespace, metricName: METRIC.reconciled, dimensionsMap: { Action: action }, ...sumOver5Minutes });
    addAlarm(
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
    addAlarm(
      'ReconcileErrors',
      anyOf(
        this.reconcileFunction.metricErrors(sumOver5Minutes),
        'The reconciler crashed or timed out: stuck deliveries are not being found. Read the reconcile log group.',
      ),
    );

    this.alarms = alarms;

    // --- Dashboard ----------------------------------------------------------------------------
    const ns = this.metricsNamespace.replaceAll('"', '\\"');
    const attemptDuration = (statistic: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: this.metricsNamespace,
        metricName: METRIC.attemptDuration,
        statistic,
        period: fiveMinutes,
        label: `${statistic} (ms)`,
      });
    const queueDepth = (queue: sqs.IQueue, label: string): cloudwatch.IMetric =>
      queue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM, label });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Deliveries by outcome',
            width: 12,
            // A search shows every outcome the functions emit, not only the ones known here.
            left: [
              new cloudwatch.MathExpression({
                expression: `SEARCH('{"${ns}","${OUTCOME_DIMENSION}"} MetricName="${METRIC.deliveries}"', 'Sum', 300)`,
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
              queueDepth(this.deliveryQueue, 'Ready'),
              this.deliveryQueue.metricApproximateNumberOfMessagesNotVisible({
                period: fiveMinutes,
                statistic: cloudwatch.Stats.MAXIMUM,
                label: 'In flight or waiting to retry',
              }),
            ],
            right: [
              this.deliveryQueue.metricApproximateAgeOfOldestMessage({
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
              queueDepth(this.deadLetterQueue, 'Deliveries'),
              queueDepth(this.renderDeadLetterQueue, 'Render failures'),
              queueDepth(this.eventDeadLetterQueue, 'Undeliverable events'),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Functions: errors and throttles',
            width: 12,
            left: [
              this.renderFunction.metricErrors({ ...sumOver5Minutes, label: 'Render errors' }),
              this.renderFunction.metricThrottles({ ...sumOver5Minutes, label: 'Render throttles' }),
              this.deliverFunction.metricErrors({ ...sumOver5Minutes, label: 'Deliver errors' }),
              this.deliverFunction.metricThrottles({ ...sumOver5Minutes, label: 'Deliver throttles' }),
            ],
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 12, alarms: Object.values(alarms) }),
        ],
      ],
    });

    // --- Saved Logs Insights queries ----------------------------------------------------------
    const folder = props.queryFolder ?? `${Stack.of(this).stackName}/${this.node.id}`;
    const logGroups = [this.renderLogGroup, this.deliverLogGroup];
    // A final failure may log more than one line (the failed attempt, the move to the DLQ), so
    // deliveries are counted by distinct id. "fail" is accepted beside "failed" because the failed
    // attempt's line carries the retry decision's name.
    const finalFailure = 'outcome in ["failed", "fail"]';
    this.queries = {
      failuresByWorkflow: new logs.QueryDefinition(this, 'FailuresByWorkflowQuery', {
        queryDefinitionName: `${folder}/failures-by-workflow`,
        logGroups,
        queryString: new logs.QueryString({
          filterStatements: [finalFailure],
          statsStatements: ['count_distinct(delivery_id) as failed_deliveries, max(@timestamp) as last_failure by organization_id, workflow_id'],
          sort: 'failed_deliveries desc',
          limit: 100,
        }),
      }),
      failuresByEndpointHost: new logs.QueryDefinition(this, 'FailuresByEndpointHostQuery', {
        queryDefinitionName: `${folder}/failures-by-endpoint-host`,
        logGroups,
        queryString: new logs.QueryString({
          filterStatements: [finalFailure, 'ispresent(endpoint_host)'],
          statsStatements: [
            'count_distinct(delivery_id) as failed_deliveries, max(@timestamp) as last_failure by endpoint_host, error_class, status_code',
          ],
          sort: 'failed_deliveries desc',
          limit: 100,
        }),
      }),
      deliveryStory: new logs.QueryDefinition(this, 'DeliveryStoryQuery', {
        queryDefinitionName: `${folder}/delivery-story`,
        logGroups,
        queryString: new logs.QueryString({
          fields: [
            '@timestamp',
            '@log',
            'level',
            'message',
            'attempt',
            'outcome',
            'status_code',
            'error_class',
            'endpoint_host',
            'workflow_run_id',
            'node_id',
          ],
          // Replace the id with the delivery's (the X-Dograh-Delivery-Id header of its requests).
          filterStatements: ['delivery_id = "REPLACE-WITH-DELIVERY-ID"'],
          sort: '@timestamp asc',
          limit: 1000,
        }),
      }),
    };
  }

  /**
   * The producer's permission: `events:PutEvents` on this construct's bus only, and only for
   * events whose `source` is the one the rule matches (the `events:source` condition key), so a
   * producer's credentials cannot pose as another source on a shared bus. Give it Dograh's role.
   */
  grantPutEvents(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['events:PutEvents'], resourceArns: [this.bus.eventBusArn], conditions: this.putEventsConditions() });
  }

  /** The same permission as an IAM policy document, for a producer outside this CDK app (the `ProducerPolicy` output). */
  producerPolicyDocument(): iam.PolicyDocument {
    return new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [this.bus.eventBusArn], conditions: this.putEventsConditions() })],
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

  private createAlarmTopic(): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Dograh webhook delivery alarms', enforceSSL: true });
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
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * esbuild, locally (no Docker). The AWS SDK v3 clients are bundled, not taken from the runtime:
 * the functions then run the exact versions the lockfile pins and the integration tests exercise,
 * a runtime SDK update cannot change their behaviour, and tree-shaking keeps only the clients used.
 */
/** How often the reconciler runs, and how far past its lease or due time a delivery counts as stuck. */
const RECONCILE_EVERY = Duration.minutes(5);
const RECONCILE_GRACE = Duration.minutes(15);

const BUNDLING = {
  format: nodejs.OutputFormat.ESM,
  target: 'node24',
  platform: 'node',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: false,
  // Stack traces need names and lines, not the sources: keeps the .map small.
  sourcesContent: false,
  externalModules: [],
  bundleAwsSDK: true,
  // Some CommonJS dependencies call require() for Node built-ins, which an ES module lacks.
  banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  logLevel: nodejs.LogLevel.WARNING,
} satisfies nodejs.BundlingOptions;

/** Log writing to one log group, instead of the any-log-group AWSLambdaBasicExecutionRole. */
function writeLogs(logGroup: logs.ILogGroup): iam.PolicyStatement {
  // The LogGroup's Arn attribute ends in ":*", which covers its log streams.
  return new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] });
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

interface CheckedProps {
  eventSource: string;
  detailType: string;
  secretsPrefix: string;
  deliverMaxConcurrency: number;
  requestTimeout: Duration;
  deliverTimeout: Duration;
  batchSize: number;
  maxBatchingWindow: Duration;
  failureRateThresholdPercent: number;
}

/** The props the services or the pipeline would refuse later, as one list of problems. */
function checkProps(p: CheckedProps): string[] {
  const problems: string[] = [];
  if (p.eventSource.trim() === '') problems.push('eventSource must not be empty');
  if (p.detailType.trim() === '') problems.push('detailType must not be empty');
  if (!Token.isUnresolved(p.secretsPrefix) && !/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/.test(p.secretsPrefix)) {
    problems.push(
      `secretsPrefix "${p.secretsPrefix}" must be a secret name path without leading or trailing "/" or wildcards (e.g. "webhooks/credentials")`,
    );
  }
  if (!Number.isInteger(p.deliverMaxConcurrency) || p.deliverMaxConcurrency < 2 || p.deliverMaxConcurrency > 1000) {
    problems.push(`deliverMaxConcurrency must be an integer from 2 to 1000 (SQS event source limits), got ${p.deliverMaxConcurrency}`);
  }
  const requestMs = p.requestTimeout.toMilliseconds();
  const deliverMs = p.deliverTimeout.toMilliseconds();
  if (deliverMs < requestMs + SETTLE_MARGIN.toMilliseconds()) {
    problems.push(
      `deliverTimeout (${p.deliverTimeout.toHumanString()}) must exceed requestTimeout (${p.requestTimeout.toHumanString()}) by at least ${SETTLE_MARGIN.toHumanString()}: after a request times out the function still records the outcome and settles the message`,
    );
  }
  if (deliverMs > 15 * 60 * 1000) problems.push('deliverTimeout must be at most 15 minutes (Lambda limit)');
  // The deliver handler sends every message of a batch concurrently, within one
  // invocation's timeout: more than 10 at once is not what it is sized for.
  if (!Number.isInteger(p.batchSize) || p.batchSize < 1 || p.batchSize > MAX_DELIVER_BATCH_SIZE) {
    problems.push(`batchSize must be an integer from 1 to ${MAX_DELIVER_BATCH_SIZE} (the deliver function sends a whole batch concurrently), got ${p.batchSize}`);
  }
  if (p.maxBatchingWindow.toSeconds() > 300) problems.push('maxBatchingWindow must be at most 300 seconds');
  if (!(p.failureRateThresholdPercent > 0 && p.failureRateThresholdPercent <= 100)) {
    problems.push(`failureRateThresholdPercent must be above 0 and at most 100, got ${p.failureRateThresholdPercent}`);
  }
  return problems;
}

/**
 * Parses a function's environment with the schema its code parses at cold start. Tokens (queue
 * URLs, the table name) are unknown until deployment: they are replaced by a placeholder URL,
 * and problems on those keys are left to the deployed function; everything else must parse.
 */
function checkEnvironment(functionName: string, schema: z.ZodType, environment: Record<string, string>): string[] {
  const tokenKeys = new Set(Object.keys(environment).filter((key) => Token.isUnresolved(environment[key])));
  const probe = Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, tokenKeys.has(key) ? TOKEN_PLACEHOLDER : value]));
  const parsed = schema.safeParse(probe);
  if (parsed.success) return [];
  return parsed.error.issues
    .filter((issue) => !tokenKeys.has(String(issue.path[0])))
    .map((issue) => `${functionName}: ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
}
