import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../shared/config/config.ts';
import { WebhookDelivery } from '../../infra/webhook-delivery.ts';
import type { WebhookDeliveryProps } from '../../infra/webhook-delivery.ts';
import { settingsFromContext } from '../../infra/webhook-delivery-stack.ts';
import { allowedPairs, cdkJsonContext, logicalId } from './synth-helpers.ts';

// These tests skip asset bundling (CDK's `aws:cdk:bundling-stacks` context): they are about the
// construct's configuration, and the stack test already bundles both functions for real.
function build(props: WebhookDeliveryProps | ((stack: Stack) => WebhookDeliveryProps)) {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Team');
  const delivery = new WebhookDelivery(stack, 'Webhooks', typeof props === 'function' ? props(stack) : props);
  return { stack, delivery, template: Template.fromStack(stack) };
}

// The first synthesis in a process loads most of aws-cdk-lib and cdk-nag: on a busy shared
// 2-core machine it took 35 s, past the default 30 s. The others take a second or two.
describe('WebhookDelivery props', { timeout: 120_000 }, () => {
  it('wires a team’s own bus, topic, prefix and private-endpoint switch through to the resources', () => {
    const { stack, delivery, template } = build((stack) => ({
      eventBus: new events.EventBus(stack, 'Bus', { eventBusName: 'team-bus' }),
      alarmTopic: new sns.Topic(stack, 'Pager', { enforceSSL: true }),
      eventSource: 'team.voice',
      detailType: 'Run Done',
      secretsPrefix: 'team/hooks',
      secretsEncryptionKey: new kms.Key(stack, 'SecretsKey', { enableKeyRotation: true }),
      allowPrivateEndpoints: true,
      deliverMaxConcurrency: 50,
      deliverTimeout: Duration.seconds(120),
      requestTimeout: Duration.seconds(10),
      batchSize: 5,
      maxBatchingWindow: Duration.seconds(2),
      outcomeRetentionDays: 90,
      removalPolicy: RemovalPolicy.DESTROY,
      tableDeletionProtection: false,
    }));
    const resources = template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, any>; DeletionPolicy?: string }
    >;
    const props = (c: Parameters<typeof logicalId>[0]) => resources[logicalId(c)]!.Properties;

    expect(props(delivery.rule)).toMatchObject({
      EventBusName: { Ref: logicalId(delivery.bus) },
      EventPattern: { source: ['team.voice'], 'detail-type': ['Run Done'] },
    });
    // The team's topic receives the alarms; no second topic is made.
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(props(delivery.alarms.DeadLetters!).AlarmActions).toEqual([{ Ref: logicalId(delivery.alarmTopic) }]);

    const deliverEnv = props(delivery.deliverFunction).Environment.Variables;
    expect(deliverEnv).toMatchObject({
      [ENV.allowPrivateEndpoints]: 'true',
      [ENV.secretsPrefix]: 'team/hooks',
      [ENV.requestTimeoutMs]: '10000',
      [ENV.outcomeRetentionDays]: '90',
    });
    expect(props(delivery.renderFunction).Environment.Variables).toMatchObject({
      [ENV.eventSource]: 'team.voice',
      [ENV.eventDetailType]: 'Run Done',
    });
    expect(props(delivery.deliverEventSource)).toMatchObject({
      BatchSize: 5,
      MaximumBatchingWindowInSeconds: 2,
      ScalingConfig: { MaximumConcurrency: 50 },
    });
    expect(props(delivery.deliveryQueue).VisibilityTimeout).toBe(6 * 120 + 2);

    const pairs = allowedPairs(resources[logicalId(delivery.deliverFunction.role!)]!);
    expect(pairs).toContain(
      'secretsmanager:GetSecretValue arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:team/hooks/*',
    );
    expect(pairs).toContain(`kms:Decrypt <${logicalId(stack.node.findChild('SecretsKey'))}.Arn>`);

    const table = resources[logicalId(delivery.table)]!;
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);

    // The acknowledgement follows the prefix, so a team's stack stays clean under cdk-nag too.
    const report = new AwsSolutionsChecks().validateScope(delivery);
    expect(
      report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
    ).toEqual([]);
  });

  it('refuses a deliver timeout that leaves no room after the request timeout', () => {
    expect(() => build({ deliverTimeout: Duration.seconds(35), requestTimeout: Duration.seconds(30) })).toThrow(
      /deliverTimeout \(35 seconds\) must exceed requestTimeout \(30 seconds\) by at least 10 seconds/,
    );
  });

  it('names every bad prop at once', () => {
    let message = '';
    try {
      build({ secretsPrefix: 'webhooks/*', deliverMaxConcurrency: 1, batchSize: 50, eventSource: ' ' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('secretsPrefix "webhooks/*"');
    expect(message).toContain('deliverMaxConcurrency must be an integer from 2 to 1000');
    expect(message).toContain(
      'batchSize must be an integer from 1 to 10 (the deliver function sends a whole batch concurrently), got 50',
    );
    expect(message).toContain('eventSource must not be empty');
  });

  it('refuses a batch size above 10 even with a batching window, and below 1 or fractional', () => {
    for (const batchSize of [11, 0, 2.5]) {
      expect(() => build({ batchSize, maxBatchingWindow: Duration.seconds(5) }), String(batchSize)).toThrow(
        new RegExp(
          `batchSize must be an integer from 1 to 10 \\(the deliver function sends a whole batch concurrently\\), got ${batchSize}`,
        ),
      );
    }
  });

  it('accepts batch sizes from 1 to 10', () => {
    for (const batchSize of [1, 10]) {
      const { delivery, template } = build({ batchSize });
      const resources = template.toJSON().Resources as Record<string, { Properties: Record<string, unknown> }>;
      expect(resources[logicalId(delivery.deliverEventSource)]!.Properties['BatchSize']).toBe(batchSize);
    }
  });

  it('puts its own outcome retention in the stack outputs', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Team');
    new WebhookDelivery(stack, 'Webhooks', { outcomeRetentionDays: 90 }).addStackOutputs();
    expect(Template.fromStack(stack).toJSON().Outputs.OutcomeRetentionDays.Value).toBe('90');
  });

  it('refuses values the functions’ config schemas would refuse at cold start', () => {
    expect(() => build({ outcomeRetentionDays: 0 })).toThrow(
      /invalid function environment:[\s\S]*render: OUTCOME_RETENTION_DAYS[\s\S]*deliver: OUTCOME_RETENTION_DAYS/,
    );
    expect(() => build({ maxPayloadBytes: 300 * 1024 })).toThrow(/render: MAX_PAYLOAD_BYTES/);
  });

  it('passes the circuit props to deliver, and refuses a cool-down range that is upside down', () => {
    const { delivery } = build({
      circuitFailureThreshold: 3,
      circuitCooldownMin: Duration.seconds(10),
      circuitCooldownMax: Duration.minutes(2),
      endpointHealthCacheTtl: Duration.seconds(2),
    });
    const variables = Template.fromStack(Stack.of(delivery)).findResources('AWS::Lambda::Function');
    const deliverEnv = Object.values(variables)
      .map(
        (f) =>
          (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment
            ?.Variables ?? {},
      )
      .find((v) => v[ENV.deadLetterQueueUrl] !== undefined);
    expect(deliverEnv).toMatchObject({
      [ENV.circuitsEnabled]: 'true',
      [ENV.circuitFailureThreshold]: '3',
      [ENV.circuitCooldownMinSeconds]: '10',
      [ENV.circuitCooldownMaxSeconds]: '120',
      [ENV.healthCacheTtlMs]: '2000',
      [ENV.settleEarly]: 'true',
    });
    expect(() => build({ circuitCooldownMin: Duration.minutes(20), circuitCooldownMax: Duration.minutes(10) })).toThrow(
      /deliver: CIRCUIT_COOLDOWN_MIN_SECONDS: must not be longer than CIRCUIT_COOLDOWN_MAX_SECONDS/,
    );
    expect(() => build({ circuitFailureThreshold: 0 })).toThrow(/deliver: CIRCUIT_FAILURE_THRESHOLD/);
  });
});

describe('slow lane props (issue 8)', () => {
  const environments = (delivery: ReturnType<typeof build>['delivery']) => {
    const resources = Template.fromStack(Stack.of(delivery)).toJSON().Resources as Record<
      string,
      { Properties: Record<string, any> }
    >;
    const props = (c: Parameters<typeof logicalId>[0]) => resources[logicalId(c)]!.Properties;
    return {
      render: props(delivery.renderFunction).Environment.Variables,
      deliver: props(delivery.deliverFunction).Environment.Variables,
      slowMapping: props(delivery.slowLaneEventSource),
    };
  };

  it('passes the fair share, the slow-endpoint threshold and the slow lane concurrency through', () => {
    const { delivery } = build({
      slowLaneMaxConcurrency: 4,
      fairShareDeliveries: 250,
      fairShareWindow: Duration.seconds(30),
      slowEndpointThreshold: Duration.millis(1500),
    });
    const env = environments(delivery);
    expect(env.render).toMatchObject({ [ENV.fairShareDeliveries]: '250', [ENV.fairShareWindowSeconds]: '30' });
    expect(env.deliver).toMatchObject({ [ENV.slowEndpointMs]: '1500' });
    expect(env.slowMapping.ScalingConfig).toEqual({ MaximumConcurrency: 4 });
  });

  it('refuses a slow lane concurrency, a fair share or a threshold that cannot work, every one named', () => {
    expect(() =>
      build({
        slowLaneMaxConcurrency: 1,
        fairShareDeliveries: 0,
        fairShareWindow: Duration.millis(1500),
        slowEndpointThreshold: Duration.seconds(40),
      }),
    ).toThrow(
      /slowLaneMaxConcurrency must be an integer from 2 to 1000[\s\S]*fairShareDeliveries must be an integer from 1[\s\S]*fairShareWindow must be whole seconds[\s\S]*slowEndpointThreshold must be from 100 ms to requestTimeout/,
    );
  });
});

describe('settingsFromContext', () => {
  const reader = (context: Record<string, unknown>) => (key: string) => context[key];

  it('reads `-c key=value` strings into typed props', () => {
    const settings = settingsFromContext(
      reader({
        allowPrivateEndpoints: 'true',
        deliverMaxConcurrency: '25',
        slowLaneMaxConcurrency: '3',
        fairShareDeliveries: '500',
        eventBusName: 'voice',
        alarmEmail: 'ops@example.com',
        logRetentionDays: '90',
        requestTimeoutSeconds: '20',
        nag: 'false',
        stackName: 'Staging',
      }),
      'DograhWebhooks',
    );
    expect(settings.stackName).toBe('Staging');
    expect(settings.nag).toBe(false);
    expect(settings.stackProps.eventBusName).toBe('voice');
    expect(settings.stackProps.alarmEmail).toBe('ops@example.com');
    expect(settings.stackProps.delivery).toMatchObject({
      allowPrivateEndpoints: true,
      deliverMaxConcurrency: 25,
      slowLaneMaxConcurrency: 3,
      fairShareDeliveries: 500,
      logRetention: 90,
    });
    expect(settings.stackProps.delivery?.requestTimeout?.toSeconds()).toBe(20);
  });

  it('defaults to the default stack name with cdk-nag on and no overrides', () => {
    expect(settingsFromContext(reader({}), 'DograhWebhooks')).toEqual({
      stackName: 'DograhWebhooks',
      nag: true,
      stackProps: { delivery: {} },
    });
  });

  it('names every bad context value at once', () => {
    let message = '';
    try {
      settingsFromContext(
        reader({ allowPrivateEndpoints: 'yes', deliverMaxConcurrency: 'ten', logRetentionDays: '31' }),
        'X',
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('allowPrivateEndpoints must be true or false, got "yes"');
    expect(message).toContain('deliverMaxConcurrency must be a whole number, got "ten"');
    expect(message).toContain('logRetentionDays must be one of');
  });

  it('takes an event bus ARN, and refuses emails and bus names that cannot work', () => {
    const arn = 'arn:aws:events:eu-west-1:123456789012:event-bus/voice';
    expect(settingsFromContext(reader({ eventBusName: arn }), 'X').stackProps.eventBusName).toBe(arn);
    for (const alarmEmail of [
      'notanemail',
      'a@b',
      '@example.com',
      'a@@example.com',
      'a b@example.com',
      'a@example..com',
    ]) {
      expect(() => settingsFromContext(reader({ alarmEmail }), 'X'), alarmEmail).toThrow(
        /alarmEmail must be an email address/,
      );
    }
    for (const eventBusName of ['my bus', 'arn:aws:events:eu-west-1:123:event-bus/voice', 'x'.repeat(257)]) {
      expect(() => settingsFromContext(reader({ eventBusName }), 'X'), eventBusName).toThrow(
        /eventBusName must be an event bus name/,
      );
    }
  });
});
