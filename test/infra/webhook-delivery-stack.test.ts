// Over 400 lines on purpose: one synthesis with real esbuild bundling serves every assertion below;
// a file per part of the stack would bundle the functions once per file.
import { ENDPOINT_HEALTH_TABLE } from '../../shared/adapters/endpoint-health-table-layout.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DependencyGroup } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import {
  DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
  DeliverConfigSchema,
  ENV,
  ReconcileConfigSchema,
  RenderConfigSchema,
} from '../../shared/config/config.ts';
import { METRIC } from '../../shared/observability/metrics.ts';
import { MAX_ATTEMPTS_LIMIT } from '../../shared/schemas/node.ts';
import { DEFAULT_STACK_NAME, STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { WebhookDeliveryStack, addNagChecks } from '../../infra/webhook-delivery-stack.ts';
import type { WebhookDelivery } from '../../infra/webhook-delivery.ts';
import {
  allowedPairs,
  cdkJsonContext,
  flatten,
  getAtt,
  logicalId,
  ref,
  withPlaceholders,
  expectResource,
} from './synth-helpers.ts';

// One synthesis for the whole file, with real esbuild bundling of both functions: bundling is
// the slow part, and every assertion below reads the same template.
let outdir: string;
let stack: WebhookDeliveryStack;
let delivery: WebhookDelivery;
let template: Template;
type Resource = {
  Type: string;
  Properties: Record<string, any>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
let resources: Record<string, Resource>;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'webhooks-synth-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  stack = new WebhookDeliveryStack(app, DEFAULT_STACK_NAME);
  delivery = stack.delivery;
  // As infra/app.ts does: the synthesis below fails on any unacknowledged cdk-nag finding.
  addNagChecks(app);
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const resourceOf = (construct: Parameters<typeof logicalId>[0]): Resource => {
  const resource = resources[logicalId(construct)];
  if (!resource) throw new Error(`no resource for ${construct.node.path}`);
  return resource;
};

describe('functions', () => {
  it('run nodejs24.x on arm64 from an ES module bundle, without source maps (stacks are logged only at debug)', () => {
    for (const fn of [delivery.renderFunction, delivery.deliverFunction]) {
      const props = resourceOf(fn).Properties;
      expect(props.Runtime).toBe('nodejs24.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Handler).toBe('index.handler');
      expect(props.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      const bundle = assetDirOf(props);
      expect(existsSync(join(bundle, 'index.mjs'))).toBe(true);
      expect(existsSync(join(bundle, 'index.mjs.map'))).toBe(false);
      // The bundle is minified ESM and defines require() for CommonJS dependencies.
      expect(
        readFileSync(join(bundle, 'index.mjs'), 'utf8').startsWith(
          "import { createRequire as __createRequire } from 'node:module';",
        ),
      ).toBe(true);
    }
  });

  it('log to their own log groups, kept for a month', () => {
    for (const [fn, logGroup] of [
      [delivery.renderFunction, delivery.renderLogGroup],
      [delivery.deliverFunction, delivery.deliverLogGroup],
    ] as const) {
      expect(resourceOf(fn).Properties.LoggingConfig).toEqual({ LogGroup: ref(logGroup) });
      expect(resourceOf(logGroup).Properties.RetentionInDays).toBe(30);
    }
  });

  it('give deliver a timeout above the 30 s request timeout with room to settle', () => {
    const env = resourceOf(delivery.deliverFunction).Properties.Environment.Variables;
    const timeout = resourceOf(delivery.deliverFunction).Properties.Timeout as number;
    expect(timeout).toBe(60);
    expect(timeout * 1000).toBeGreaterThanOrEqual(Number(env[ENV.requestTimeoutMs]) + 10_000);
  });

  it('prints the bundle sizes; the deliver bundle is under 1 MB', () => {
    const sizes: Record<string, { code: number }> = {};
    for (const [name, fn] of [
      ['render', delivery.renderFunction],
      ['deliver', delivery.deliverFunction],
    ] as const) {
      const dir = assetDirOf(resourceOf(fn).Properties);
      sizes[name] = { code: statSync(join(dir, 'index.mjs')).size };
      console.log(`bundle ${name}: index.mjs ${kb(sizes[name].code)}, no source map`);
    }
    expect(sizes.deliver!.code).toBeLessThan(1_000_000);
  });
});

describe('function environments', () => {
  const variablesOf = (fn: Parameters<typeof logicalId>[0]): Record<string, unknown> =>
    resourceOf(fn).Properties.Environment.Variables as Record<string, unknown>;

  it('render: parses with RenderConfigSchema, every key set by the stack', () => {
    const variables = variablesOf(delivery.renderFunction);
    for (const key of Object.keys(RenderConfigSchema.shape)) expect(variables, key).toHaveProperty(key);
    const config = RenderConfigSchema.parse(withPlaceholders(variables));
    expect(config).toMatchObject({
      [ENV.eventSource]: 'dograh.workflows',
      [ENV.eventDetailType]: 'Workflow Run Completed',
      [ENV.outcomeRetentionDays]: 30,
      [ENV.metricsNamespace]: 'DograhWebhooks',
    });
    expect(variables[ENV.deliveryQueueUrl]).toEqual(ref(delivery.deliveryQueue));
    expect(variables[ENV.outcomeTableName]).toEqual(ref(delivery.table));
  });

  it('deliver: parses with DeliverConfigSchema, every key set by the stack', () => {
    const variables = variablesOf(delivery.deliverFunction);
    for (const key of Object.keys(DeliverConfigSchema.shape)) expect(variables, key).toHaveProperty(key);
    const config = DeliverConfigSchema.parse(withPlaceholders(variables));
    expect(config).toMatchObject({
      [ENV.secretsPrefix]: 'webhooks/credentials',
      [ENV.requestTimeoutMs]: 30_000,
      [ENV.allowPrivateEndpoints]: false,
      [ENV.outcomeRetentionDays]: 30,
      [ENV.metricsNamespace]: 'DograhWebhooks',
    });
    expect(variables[ENV.deliveryQueueUrl]).toEqual(ref(delivery.deliveryQueue));
    expect(variables[ENV.deadLetterQueueUrl]).toEqual(ref(delivery.deadLetterQueue));
    expect(variables[ENV.outcomeTableName]).toEqual(ref(delivery.table));
  });
});

describe('event intake', () => {
  it('matches run-completed events on the default bus and invokes render with a retry policy and a DLQ', () => {
    expect(resourceOf(delivery.rule).Properties).toMatchObject({
      EventBusName: 'default',
      EventPattern: { source: ['dograh.workflows'], 'detail-type': ['Workflow Run Completed'] },
      State: 'ENABLED',
      Targets: [
        {
          Arn: getAtt(delivery.renderFunction, 'Arn'),
          DeadLetterConfig: { Arn: getAtt(delivery.eventDeadLetterQueue, 'Arn') },
          RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
        },
      ],
    });
  });

  it('lets only this rule write to the event DLQ', () => {
    expectResource(template, 'AWS::SQS::QueuePolicy', {
      Queues: [ref(delivery.eventDeadLetterQueue)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: { ArnEquals: { 'aws:SourceArn': getAtt(delivery.rule, 'Arn') } },
          }),
        ]),
      },
    });
  });

  it('retries failed render invocations twice, then sends them with their error to the render DLQ', () => {
    expectResource(template, 'AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(delivery.renderFunction),
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21_600,
      DestinationConfig: { OnFailure: { Destination: getAtt(delivery.renderDeadLetterQueue, 'Arn') } },
    });
  });
});

describe('queues', () => {
  const FOURTEEN_DAYS = 14 * 24 * 3600;

  it('delivery queue: encrypted, 14 days, visibility at least 6x the deliver timeout', () => {
    const props = resourceOf(delivery.deliveryQueue).Properties;
    const deliverTimeout = resourceOf(delivery.deliverFunction).Properties.Timeout as number;
    expect(props.SqsManagedSseEnabled).toBe(true);
    expect(props.MessageRetentionPeriod).toBe(FOURTEEN_DAYS);
    expect(props.VisibilityTimeout).toBeGreaterThanOrEqual(6 * deliverTimeout);
  });

  it('delivery queue: redrives to its DLQ only after four receives per attempt any node may ask for', () => {
    const { RedrivePolicy } = resourceOf(delivery.deliveryQueue).Properties;
    expect(RedrivePolicy.deadLetterTargetArn).toEqual(getAtt(delivery.deadLetterQueue, 'Arn'));
    // Long backoffs wait across several receives (SQS caps a visibility change at 12 h).
    expect(RedrivePolicy.maxReceiveCount).toBe(4 * MAX_ATTEMPTS_LIMIT);
    expect(RedrivePolicy.maxReceiveCount).toBe(DELIVERY_QUEUE_MAX_RECEIVE_COUNT);
  });

  it('dead-letter queues: encrypted and kept 14 days', () => {
    for (const queue of [delivery.deadLetterQueue, delivery.renderDeadLetterQueue, delivery.eventDeadLetterQueue]) {
      const props = resourceOf(queue).Properties;
      expect(props.SqsManagedSseEnabled, queue.node.id).toBe(true);
      expect(props.MessageRetentionPeriod, queue.node.id).toBe(FOURTEEN_DAYS);
    }
  });

  it('every queue refuses requests without TLS', () => {
    for (const queue of [
      delivery.deliveryQueue,
      delivery.deadLetterQueue,
      delivery.renderDeadLetterQueue,
      delivery.eventDeadLetterQueue,
    ]) {
      expectResource(template, 'AWS::SQS::QueuePolicy', {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('deliver consumes the delivery queue with partial batch responses, batching and a concurrency cap', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    expect(resourceOf(delivery.deliverEventSource).Properties).toEqual({
      EventSourceArn: getAtt(delivery.deliveryQueue, 'Arn'),
      FunctionName: ref(delivery.deliverFunction),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('deliver consumes the slow lane too, with a concurrency of its own (issue 8)', () => {
    expect(resourceOf(delivery.slowLaneEventSource).Properties).toEqual({
      EventSourceArn: getAtt(delivery.slowDeliveryQueue, 'Arn'),
      FunctionName: ref(delivery.deliverFunction),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    const slow = resourceOf(delivery.slowDeliveryQueue).Properties;
    const main = resourceOf(delivery.deliveryQueue).Properties;
    // The same visibility, retention, encryption and dead-letter queue as the main lane.
    expect(slow).toEqual(main);
    const slowUrl = ref(delivery.slowDeliveryQueue);
    for (const fn of [delivery.deliverFunction, delivery.renderFunction]) {
      expect(resourceOf(fn).Properties.Environment.Variables[ENV.slowDeliveryQueueUrl]).toEqual(slowUrl);
    }
  });
});

describe('outcome table', () => {
  it('is on demand with point-in-time recovery, TTL and AWS-managed encryption', () => {
    // The outcome log and, beside it, the endpoint health table (issue 8).
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    expect(resourceOf(delivery.healthTable).Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: ENDPOINT_HEALTH_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: ENDPOINT_HEALTH_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: ENDPOINT_HEALTH_TABLE.ttlAttribute, Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(resourceOf(delivery.table).Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: OUTCOME_TABLE.partitionKey, KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: OUTCOME_TABLE.ttlAttribute, Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('is protected from deletion and retained when removed from the stack', () => {
    const table = resourceOf(delivery.table);
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  it('has exactly the indexes of OUTCOME_TABLE, with their projections', () => {
    const props = resourceOf(delivery.table).Properties;
    const expected = Object.values(OUTCOME_TABLE.indexes).map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: index.projection,
        ...(index.nonKeyAttributes === undefined ? {} : { NonKeyAttributes: [...index.nonKeyAttributes] }),
      },
    }));
    expect(props.GlobalSecondaryIndexes).toEqual(expected);
    const keyNames = new Set([
      OUTCOME_TABLE.partitionKey,
      ...Object.values(OUTCOME_TABLE.indexes).flatMap((i) => [i.partitionKey, i.sortKey]),
    ]);
    expect(props.AttributeDefinitions).toEqual(
      expect.arrayContaining([...keyNames].map((name) => ({ AttributeName: name, AttributeType: 'S' }))),
    );
    expect(props.AttributeDefinitions).toHaveLength(keyNames.size);
  });
});

describe('least privilege', () => {
  it('uses no managed policies and no policy resources beside the roles', () => {
    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('render may write its logs, enqueue deliveries, fail to its DLQ and record bad nodes', () => {
    const role = resourceOf(delivery.renderFunction.role!);
    const id = logicalId;
    expect(allowedPairs(role)).toEqual(
      [
        `logs:CreateLogStream <${id(delivery.renderLogGroup)}.Arn>`,
        `logs:PutLogEvents <${id(delivery.renderLogGroup)}.Arn>`,
        `sqs:SendMessage <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:SendMessage <${id(delivery.renderDeadLetterQueue)}.Arn>`,
        `dynamodb:PutItem <${id(delivery.table)}.Arn>`,
        `dynamodb:UpdateItem <${id(delivery.table)}.Arn>`,
        // Fairness (issue 8): past its fair share an organization's deliveries take the slow
        // lane; the counts per window are kept in the health table.
        `sqs:SendMessage <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `dynamodb:UpdateItem <${id(delivery.healthTable)}.Arn>`,
      ].sort(),
    );
  });

  it('deliver may consume its queue, dead-letter, record outcomes and read secrets under the prefix only', () => {
    const role = resourceOf(delivery.deliverFunction.role!);
    const id = logicalId;
    expect(allowedPairs(role)).toEqual(
      [
        `logs:CreateLogStream <${id(delivery.deliverLogGroup)}.Arn>`,
        `logs:PutLogEvents <${id(delivery.deliverLogGroup)}.Arn>`,
        `sqs:ReceiveMessage <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:DeleteMessage <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:GetQueueAttributes <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:ChangeMessageVisibility <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:SendMessage <${id(delivery.deadLetterQueue)}.Arn>`,
        // The slow lane: consumed like the main queue; deliveries to slow or broken endpoints move there.
        `sqs:ReceiveMessage <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `sqs:DeleteMessage <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `sqs:GetQueueAttributes <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `sqs:ChangeMessageVisibility <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `sqs:SendMessage <${id(delivery.slowDeliveryQueue)}.Arn>`,
        `dynamodb:GetItem <${id(delivery.table)}.Arn>`,
        `dynamodb:PutItem <${id(delivery.table)}.Arn>`,
        `dynamodb:UpdateItem <${id(delivery.table)}.Arn>`,
        `dynamodb:GetItem <${id(delivery.healthTable)}.Arn>`,
        `dynamodb:PutItem <${id(delivery.healthTable)}.Arn>`,
        `dynamodb:DeleteItem <${id(delivery.healthTable)}.Arn>`,
        'secretsmanager:GetSecretValue arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:webhooks/credentials/*',
      ].sort(),
    );
  });

  it('only EventBridge, through this rule, may invoke render', () => {
    // The other permission is the reconciler's schedule (see "reconciler").
    template.resourceCountIs('AWS::Lambda::Permission', 2);
    expectResource(template, 'AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(delivery.renderFunction, 'Arn'),
      Principal: 'events.amazonaws.com',
      SourceArn: getAtt(delivery.rule, 'Arn'),
    });
  });
});

describe('reconciler', () => {
  it('runs every 5 minutes from a schedule rule that alone may invoke it', () => {
    const rule = resourceOf(delivery.reconcileSchedule).Properties;
    expect(rule.ScheduleExpression).toBe('rate(5 minutes)');
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: getAtt(delivery.reconcileFunction, 'Arn'),
        RetryPolicy: { MaximumRetryAttempts: 0 },
      }),
    ]);
    expectResource(template, 'AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(delivery.reconcileFunction, 'Arn'),
      Principal: 'events.amazonaws.com',
      SourceArn: getAtt(delivery.reconcileSchedule, 'Arn'),
    });
  });

  it('is one run at a time on nodejs24.x, logging to its own group, with an environment ReconcileConfigSchema parses', () => {
    const props = resourceOf(delivery.reconcileFunction).Properties;
    expect(props.Runtime).toBe('nodejs24.x');
    expect(props.ReservedConcurrentExecutions).toBe(1);
    expect(props.LoggingConfig).toEqual({ LogGroup: ref(delivery.reconcileLogGroup) });
    const env = withPlaceholders(props.Environment.Variables) as Record<string, string>;
    const parsed = ReconcileConfigSchema.parse(env);
    expect(parsed[ENV.reconcileGraceSeconds]).toBe(900);
    expect(Object.keys(env).sort()).toEqual([...Object.keys(ReconcileConfigSchema.shape), 'NODE_OPTIONS'].sort());
  });

  it('may query only the pending index, read and update records, enqueue deliveries and read the queue depth', () => {
    const id = logicalId;
    expect(allowedPairs(resourceOf(delivery.reconcileFunction.role!))).toEqual(
      [
        `logs:CreateLogStream <${id(delivery.reconcileLogGroup)}.Arn>`,
        `logs:PutLogEvents <${id(delivery.reconcileLogGroup)}.Arn>`,
        `dynamodb:Query <${id(delivery.table)}.Arn>/index/${OUTCOME_TABLE.indexes.pending.name}`,
        `dynamodb:GetItem <${id(delivery.table)}.Arn>`,
        `dynamodb:UpdateItem <${id(delivery.table)}.Arn>`,
        `sqs:SendMessage <${id(delivery.deliveryQueue)}.Arn>`,
        `sqs:GetQueueAttributes <${id(delivery.deliveryQueue)}.Arn>`,
        // Its pause counts the slow lane's backlog too.
        `sqs:GetQueueAttributes <${id(delivery.slowDeliveryQueue)}.Arn>`,
      ].sort(),
    );
  });

  it('alarms on any delivery it finds stuck (the Reconciled metric, both actions) and on its own errors', () => {
    const props = resourceOf(delivery.alarms.Reconciled!).Properties;
    const metrics = (
      props.Metrics as {
        MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] } };
      }[]
    ).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
    expect(metrics.map((m) => [m.MetricName, m.Dimensions.map((d) => `${d.Name}=${d.Value}`).join()]).sort()).toEqual([
      [METRIC.reconciled, 'Action=failed'],
      [METRIC.reconciled, 'Action=requeued'],
    ]);
    expect(props.Threshold).toBe(0);
    expect(resourceOf(delivery.alarms.ReconcileErrors!).Properties.MetricName).toBe('Errors');
  });
});

describe('alarms', () => {
  const alarm = (name: string): Record<string, any> => {
    const a = delivery.alarms[name];
    if (!a) throw new Error(`no alarm ${name}`);
    return resourceOf(a).Properties;
  };

  it('all notify the alarm topic on ALARM and on OK', () => {
    expect(Object.keys(delivery.alarms).sort()).toEqual(
      [
        'DeadLetters',
        'RenderDeadLetters',
        'EventDeadLetters',
        'DeliveryBacklog',
        'SlowLaneBacklog',
        'RenderErrors',
        'DeliverErrors',
        'RenderThrottles',
        'DeliverThrottles',
        'FailureRate',
        'Reconciled',
        'ReconcileErrors',
      ].sort(),
    );
    template.resourceCountIs('AWS::CloudWatch::Alarm', 12);
    for (const name of Object.keys(delivery.alarms)) {
      expect(alarm(name).AlarmActions, name).toEqual([ref(delivery.alarmTopic)]);
      expect(alarm(name).OKActions, name).toEqual([ref(delivery.alarmTopic)]);
      expect(alarm(name).AlarmDescription, name).toEqual(expect.any(String));
    }
  });

  it('fire when any dead-letter queue holds a message', () => {
    for (const [name, queue] of [
      ['DeadLetters', delivery.deadLetterQueue],
      ['RenderDeadLetters', delivery.renderDeadLetterQueue],
      ['EventDeadLetters', delivery.eventDeadLetterQueue],
    ] as const) {
      expect(alarm(name), name).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(queue, 'QueueName') }],
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('fires when the oldest delivery has waited over an hour', () => {
    expect(alarm('DeliveryBacklog')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(delivery.deliveryQueue, 'QueueName') }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 3600,
    });
  });

  it('fire on errors and throttles of both functions', () => {
    for (const [name, fn, metric] of [
      ['RenderErrors', delivery.renderFunction, 'Errors'],
      ['DeliverErrors', delivery.deliverFunction, 'Errors'],
      ['RenderThrottles', delivery.renderFunction, 'Throttles'],
      ['DeliverThrottles', delivery.deliverFunction, 'Throttles'],
    ] as const) {
      expect(alarm(name), name).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: ref(fn) }],
        Statistic: 'Sum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
      });
    }
  });

  it('fires when failed deliveries exceed a share of final outcomes (EMF metric math)', () => {
    const props = alarm('FailureRate');
    expect(props).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 20,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
    const metrics = props.Metrics as { Id: string; Expression?: string; ReturnData?: boolean; MetricStat?: any }[];
    const expression = metrics.find((m) => m.Expression);
    expect(expression?.Expression).toContain('100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(delivered, 0))');
    for (const outcome of ['failed', 'delivered']) {
      expect(metrics.find((m) => m.Id === outcome)?.MetricStat).toEqual({
        Metric: {
          Namespace: 'DograhWebhooks',
          MetricName: METRIC.deliveries,
          Dimensions: [{ Name: 'Outcome', Value: outcome }],
        },
        Period: 300,
        Stat: 'Sum',
      });
    }
  });

  it('go to a topic that takes only TLS publishes, from CloudWatch alarms of this account', () => {
    expectResource(template, 'AWS::SNS::TopicPolicy', {
      Topics: [ref(delivery.alarmTopic)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
  });
});

describe('dashboard and saved queries', () => {
  it('shows deliveries by outcome, attempt latency p50/p99, queue depth and dead letters', () => {
    const body = flatten(resourceOf(delivery.dashboard).Properties.DashboardBody);
    for (const title of ['Deliveries by outcome', 'Attempt latency', 'Delivery queue depth', 'Dead letters'])
      expect(body).toContain(title);
    expect(body).toContain(`MetricName=\\"${METRIC.deliveries}\\"`);
    expect(body).toMatch(new RegExp(`"DograhWebhooks","${METRIC.attemptDuration}",\\{[^}]*"stat":"p50"`));
    expect(body).toMatch(new RegExp(`"DograhWebhooks","${METRIC.attemptDuration}",\\{[^}]*"stat":"p99"`));
    expect(body).toContain('ApproximateNumberOfMessagesVisible');
    expect(body).toContain('ApproximateAgeOfOldestMessage');
    for (const queue of [delivery.deadLetterQueue, delivery.renderDeadLetterQueue, delivery.eventDeadLetterQueue]) {
      expect(body).toContain(`<${logicalId(queue)}.QueueName>`);
    }
  });

  it('saves Logs Insights queries over both log groups: failures by workflow, by endpoint host, one delivery', () => {
    template.resourceCountIs('AWS::Logs::QueryDefinition', 3);
    const logGroupNames = [ref(delivery.renderLogGroup), ref(delivery.deliverLogGroup)];
    const query = (key: string) => resourceOf(delivery.queries[key]!).Properties;
    expect(query('failuresByWorkflow')).toMatchObject({
      Name: `${DEFAULT_STACK_NAME}/failures-by-workflow`,
      LogGroupNames: logGroupNames,
    });
    expect(query('failuresByWorkflow').QueryString).toMatch(
      /stats count_distinct\(delivery_id\).* by organization_id, workflow_id/,
    );
    expect(query('failuresByEndpointHost')).toMatchObject({
      Name: `${DEFAULT_STACK_NAME}/failures-by-endpoint-host`,
      LogGroupNames: logGroupNames,
    });
    expect(query('failuresByEndpointHost').QueryString).toMatch(/by endpoint_host, error_class, status_code/);
    // The outcome word every final failure logs, and no other (a word no line carries would hide a typo).
    for (const key of ['failuresByWorkflow', 'failuresByEndpointHost']) {
      expect(query(key).QueryString).toMatch(/^filter outcome = "failed"\n/);
    }
    expect(query('deliveryStory')).toMatchObject({
      Name: `${DEFAULT_STACK_NAME}/delivery-story`,
      LogGroupNames: logGroupNames,
    });
    expect(query('deliveryStory').QueryString).toMatch(/filter delivery_id = ".+"\n\| sort @timestamp asc/);
  });
});

describe('producer permission (grantPutEvents, the ProducerPolicy output)', () => {
  const busArn = 'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default';
  const expected = {
    Effect: 'Allow',
    Action: 'events:PutEvents',
    Resource: busArn,
    Condition: { StringEquals: { 'events:source': 'dograh.workflows' } },
  };

  it("grants events:PutEvents on the bus only, for the rule's source only", () => {
    // A grantee that keeps what it is given: the grant adds no resource to the shared stack.
    const statements: iam.PolicyStatement[] = [];
    const principal = new (class extends iam.PrincipalBase {
      readonly policyFragment = new iam.ArnPrincipal('arn:aws:iam::123456789012:role/dograh-worker').policyFragment;
      override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
        statements.push(statement);
        return { statementAdded: true, policyDependable: new DependencyGroup() };
      }
      override dedupeString(): string | undefined {
        return 'producer-test';
      }
    })();
    const grant = delivery.grantPutEvents(principal);
    expect(grant.success).toBe(true);
    expect(
      statements.map((st) => JSON.parse(flatten(stack.resolve(stack.toJsonString(st.toStatementJson()))))),
    ).toEqual([expected]);
  });

  it("is a stack output as a policy document Dograh's role can take as it is", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const document = JSON.parse(flatten(outputs[STACK_OUTPUTS.producerPolicy]!.Value));
    expect(document).toEqual({ Version: '2012-10-17', Statement: [expected] });
  });
});

describe('stack outputs', () => {
  it('are exactly the keys the CLI reads', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(Object.values(STACK_OUTPUTS).sort());
  });

  it('point at the resources', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs[STACK_OUTPUTS.eventBusName]!.Value).toBe('default');
    expect(outputs[STACK_OUTPUTS.eventSource]!.Value).toBe('dograh.workflows');
    expect(outputs[STACK_OUTPUTS.eventDetailType]!.Value).toBe('Workflow Run Completed');
    expect(outputs[STACK_OUTPUTS.deliveryQueueUrl]!.Value).toEqual(ref(delivery.deliveryQueue));
    expect(outputs[STACK_OUTPUTS.deliveryQueueArn]!.Value).toEqual(getAtt(delivery.deliveryQueue, 'Arn'));
    expect(outputs[STACK_OUTPUTS.deadLetterQueueUrl]!.Value).toEqual(ref(delivery.deadLetterQueue));
    expect(outputs[STACK_OUTPUTS.deadLetterQueueArn]!.Value).toEqual(getAtt(delivery.deadLetterQueue, 'Arn'));
    expect(outputs[STACK_OUTPUTS.renderDeadLetterQueueUrl]!.Value).toEqual(ref(delivery.renderDeadLetterQueue));
    expect(outputs[STACK_OUTPUTS.eventDeadLetterQueueUrl]!.Value).toEqual(ref(delivery.eventDeadLetterQueue));
    expect(outputs[STACK_OUTPUTS.outcomeTableName]!.Value).toEqual(ref(delivery.table));
    expect(outputs[STACK_OUTPUTS.outcomeRetentionDays]!.Value).toBe('30');
    expect(outputs[STACK_OUTPUTS.secretsPrefix]!.Value).toBe('webhooks/credentials');
    expect(outputs[STACK_OUTPUTS.dashboardName]!.Value).toEqual(ref(delivery.dashboard));
    expect(outputs[STACK_OUTPUTS.alarmTopicArn]!.Value).toEqual(ref(delivery.alarmTopic));
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    // cdk-nag 3 reports through CDK's validation plugins, not annotations; check those stay clean too.
    expect(Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  it('acknowledges only the inherent findings, each with its reason', () => {
    const acknowledged: string[] = [];
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          expect(reason.length, id).toBeGreaterThan(40);
          acknowledged.push(`${construct.node.path} ${id.replace(/^annotation::/i, '')}`);
        }
      }
    }
    expect(acknowledged.sort()).toEqual(
      [
        `${delivery.node.path}/DeliverRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:webhooks/credentials/*]`,
        `${delivery.node.path}/EventDeadLetterQueue AwsSolutions-SQS3`,
        `${delivery.node.path}/RenderDeadLetterQueue AwsSolutions-SQS3`,
      ].sort(),
    );
  });

  it('leaves no CDK warning or error on the stack', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });
});

/** The staged asset directory of a function: `asset.<hash>` in the cloud assembly, named by its S3 key. */
function assetDirOf(functionProps: Record<string, any>): string {
  const key = functionProps.Code.S3Key as string;
  return join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB (${bytes} bytes)`;
}
