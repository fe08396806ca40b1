// The construct's three functions (render, deliver, reconcile), each with its log group, its own
// role and an environment checked at synth time with the config schema its code parses at cold start.
import { fileURLToPath } from 'node:url';
import { Aws, Duration, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { z } from 'zod';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import { safeParse } from '../../shared/schemas/issues.ts';
import {
  DEFAULT_RECONCILE_GRACE_SECONDS,
  DeliverConfigSchema,
  ENV,
  ReconcileConfigSchema,
  RenderConfigSchema,
} from '../../shared/config/config.ts';
import type { DeliverySettings } from './settings.ts';
import type { DeliveryQueues, DeliveryTables } from './storage.ts';

/** Stands in for an unresolved token (a queue URL, a table name) when the environment is parsed at synth time. */
const TOKEN_PLACEHOLDER = 'https://sqs.us-east-1.amazonaws.com/123456789012/placeholder';

/** How far past its lease or due time a delivery counts as stuck. */
const RECONCILE_GRACE = Duration.seconds(DEFAULT_RECONCILE_GRACE_SECONDS);

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

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * esbuild, locally (no Docker). The AWS SDK v3 clients are bundled, not taken from the runtime:
 * the functions then run the exact versions the lockfile pins and the integration tests exercise,
 * a runtime SDK update cannot change their behaviour, and tree-shaking keeps only the clients used.
 */
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
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  logLevel: nodejs.LogLevel.WARNING,
} satisfies nodejs.BundlingOptions;

/** Log writing to one log group, instead of the any-log-group AWSLambdaBasicExecutionRole. */
function writeLogs(logGroup: logs.ILogGroup): iam.PolicyStatement {
  // The LogGroup's Arn attribute ends in ":*", which covers its log streams.
  return new iam.PolicyStatement({
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  });
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

/**
 * Parses a function's environment with the schema its code parses at cold start. Tokens (queue
 * URLs, the table name) are unknown until deployment: they are replaced by a placeholder URL,
 * and problems on those keys are left to the deployed function; everything else must parse.
 */
function checkEnvironment(functionName: string, schema: z.ZodType, environment: Record<string, string>): string[] {
  const tokenKeys = new Set(Object.keys(environment).filter((key) => Token.isUnresolved(environment[key])));
  const probe = Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [key, tokenKeys.has(key) ? TOKEN_PLACEHOLDER : value]),
  );
  const parsed = safeParse(schema, probe);
  if (parsed.success) return [];
  return parsed.error.issues
    .filter((issue) => !tokenKeys.has(String(issue.path[0])))
    .map((issue) => `${functionName}: ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
}

/** Shared by every function. */
const COMMON = {
  runtime: lambda.Runtime.NODEJS_24_X,
  architecture: lambda.Architecture.ARM_64,
  handler: 'handler',
  projectRoot: PROJECT_ROOT,
  depsLockFilePath: fileURLToPath(new URL('../../package-lock.json', import.meta.url)),
  bundling: BUNDLING,
} satisfies Partial<nodejs.NodejsFunctionProps>;

function throwOnProblems(scope: Construct, problems: string[]): void {
  if (problems.length > 0)
    throw new Error(`WebhookDelivery ${scope.node.path}: invalid function environment:\n- ${problems.join('\n- ')}`);
}

/** The render and deliver functions and the deliver function's SQS event source. */
export interface DeliveryFunctions {
  readonly renderFunction: nodejs.NodejsFunction;
  readonly deliverFunction: nodejs.NodejsFunction;
  readonly renderLogGroup: logs.LogGroup;
  readonly deliverLogGroup: logs.LogGroup;
  readonly deliverEventSource: lambda.EventSourceMapping;
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
  const { deliveryQueue, deadLetterQueue, renderDeadLetterQueue } = queues;
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
  } satisfies FunctionEnvironment<typeof DeliverConfigSchema>;
  const envProblems = [
    ...checkEnvironment('render', RenderConfigSchema, renderEnvironment),
    ...checkEnvironment('deliver', DeliverConfigSchema, deliverEnvironment),
  ];
  throwOnProblems(scope, envProblems);

  // --- Log groups and roles: each function may do exactly what its code does ----------------
  const renderLogGroup = new logs.LogGroup(scope, 'RenderLogGroup', { retention: logRetention });
  const deliverLogGroup = new logs.LogGroup(scope, 'DeliverLogGroup', { retention: logRetention });

  // Own roles with inline policies instead of AWSLambdaBasicExecutionRole (which may write to
  // any log group) and grant* helpers (which add actions the code never calls).
  const renderRole = new iam.Role(scope, 'RenderRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Dograh webhooks render function: writes its logs, enqueues deliveries, records bad nodes',
    inlinePolicies: {
      render: new iam.PolicyDocument({
        statements: [
          writeLogs(renderLogGroup),
          // SendMessageBatch is authorised as sqs:SendMessage.
          new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deliveryQueue.queueArn] }),
          // The on-failure destination: Lambda sends the failure record with the function's role.
          new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [renderDeadLetterQueue.queueArn] }),
          // recordFinal of nodes that cannot be rendered.
          new iam.PolicyStatement({
            actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
            resources: [table.tableArn],
          }),
        ],
      }),
    },
  });

  const secretsArnPattern = secretArnPattern(s.secretsPrefix);
  const deliverStatements = [
    writeLogs(deliverLogGroup),
    // What the event source mapping polls with, plus the handler's own ChangeMessageVisibility
    // (retry backoff). DeleteMessage is the mapping's, for the successful items of a batch.
    new iam.PolicyStatement({
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
      resources: [deliveryQueue.queueArn],
    }),
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
  const deliverRole = new iam.Role(scope, 'DeliverRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Dograh webhooks deliver function: consumes the delivery queue, reads credentials, records outcomes',
    inlinePolicies: { deliver: new iam.PolicyDocument({ statements: deliverStatements }) },
  });
  Validations.of(deliverRole).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${flatSecretArnPattern(s.secretsPrefix)}]`,
    reason:
      'Credentials are created at run time, one secret per organization and credential (<prefix>/<organization_id>/<credential_uuid>), and Secrets Manager appends a random suffix to every secret ARN, so the names cannot be listed here; the wildcard is confined to the configured credentials prefix and to GetSecretValue.',
  });

  // --- Functions ----------------------------------------------------------------------------
  const renderFunction = new nodejs.NodejsFunction(scope, 'RenderFunction', {
    ...COMMON,
    description: 'Dograh webhooks: renders the webhook nodes of a completed run and enqueues their deliveries',
    entry: fileURLToPath(new URL('../../functions/render/handler.ts', import.meta.url)),
    memorySize: s.renderMemorySize,
    timeout: renderTimeout,
    role: renderRole,
    logGroup: renderLogGroup,
    environment: { ...renderEnvironment, NODE_OPTIONS: '--enable-source-maps' },
    // Render is idempotent: delivery ids are deterministic per run and node and each is claimed
    // once, so running an event again enqueues nothing twice. A malformed event fails the same
    // way every time, and its two retries only delay its arrival in the render DLQ by about three
    // minutes; a crash, a timeout or a throttled SQS/DynamoDB call may well pass on a retry. So
    // take Lambda's maximum of two retries, then keep the event, with its error, in the DLQ.
    retryAttempts: 2,
    maxEventAge: Duration.hours(6),
    onFailure: new QueueArnDestination(renderDeadLetterQueue),
  });

  const deliverFunction = new nodejs.NodejsFunction(scope, 'DeliverFunction', {
    ...COMMON,
    description: 'Dograh webhooks: sends rendered deliveries to their endpoints, retries, records outcomes',
    entry: fileURLToPath(new URL('../../functions/deliver/handler.ts', import.meta.url)),
    memorySize: s.deliverMemorySize,
    timeout: deliverTimeout,
    role: deliverRole,
    logGroup: deliverLogGroup,
    environment: { ...deliverEnvironment, NODE_OPTIONS: '--enable-source-maps' },
  });

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
  return { renderFunction, deliverFunction, renderLogGroup, deliverLogGroup, deliverEventSource };
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
  const { deliveryQueue } = queues;
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
    [ENV.metricsNamespace]: s.metricsNamespace,
    [ENV.logLevel]: logLevel,
  } satisfies FunctionEnvironment<typeof ReconcileConfigSchema>;
  throwOnProblems(scope, checkEnvironment('reconcile', ReconcileConfigSchema, reconcileEnvironment));
  const reconcileLogGroup = new logs.LogGroup(scope, 'ReconcileLogGroup', { retention: logRetention });
  const reconcileRole = new iam.Role(scope, 'ReconcileRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Dograh webhooks reconciler: reads the pending index, re-enqueues or fails stuck deliveries',
    inlinePolicies: {
      reconcile: new iam.PolicyDocument({
        statements: [
          writeLogs(reconcileLogGroup),
          new iam.PolicyStatement({
            actions: ['dynamodb:Query'],
            resources: [`${table.tableArn}/index/${OUTCOME_TABLE.indexes.pending.name}`],
          }),
          new iam.PolicyStatement({
            actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
            resources: [table.tableArn],
          }),
          new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deliveryQueue.queueArn] }),
        ],
      }),
    },
  });
  const reconcileFunction = new nodejs.NodejsFunction(scope, 'ReconcileFunction', {
    ...COMMON,
    description:
      'Dograh webhooks: puts deliveries stuck with no queue message back on the queue, or fails them with the reason',
    entry: fileURLToPath(new URL('../../functions/reconcile/handler.ts', import.meta.url)),
    memorySize: 256,
    timeout: Duration.minutes(2),
    role: reconcileRole,
    logGroup: reconcileLogGroup,
    environment: { ...reconcileEnvironment, NODE_OPTIONS: '--enable-source-maps' },
    // One run at a time; a missed run is made up by the next one.
    reservedConcurrentExecutions: 1,
    retryAttempts: 0,
  });
  return { reconcileFunction, reconcileLogGroup };
}
