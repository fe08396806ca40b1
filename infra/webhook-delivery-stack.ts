import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { StackProps, Stage } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { isLogLevel, LOG_LEVELS } from '../shared/observability/logger.ts';
import type { Construct } from 'constructs';
import { WebhookDelivery } from './webhook-delivery.ts';
import type { WebhookDeliveryProps } from './webhook-delivery.ts';

/** Props of {@link WebhookDeliveryStack}. */
export interface WebhookDeliveryStackProps extends StackProps {
  /** Passed to the {@link WebhookDelivery} construct; see its props for the defaults. */
  readonly delivery?: WebhookDeliveryProps;
  /**
   * Name or ARN of an existing event bus to listen on, when `delivery.eventBus` is not given.
   * @default the account's default bus
   */
  readonly eventBusName?: string;
  /**
   * An email address subscribed to the alarm topic (the owner confirms it once).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
}

/** The deployable stack: one {@link WebhookDelivery} and the outputs the `webhooks` CLI reads. */
export class WebhookDeliveryStack extends Stack {
  readonly delivery: WebhookDelivery;

  constructor(scope: Construct, id: string, props: WebhookDeliveryStackProps = {}) {
    super(scope, id, {
      description: 'Dograh outbound webhook delivery (EventBridge, Lambda, SQS, DynamoDB)',
      ...props,
    });
    const eventBus =
      props.delivery?.eventBus ??
      (props.eventBusName === undefined || props.eventBusName === ''
        ? undefined
        : props.eventBusName.startsWith('arn:')
          ? events.EventBus.fromEventBusArn(this, 'EventBus', props.eventBusName)
          : events.EventBus.fromEventBusName(this, 'EventBus', props.eventBusName));
    this.delivery = new WebhookDelivery(this, 'WebhookDelivery', {
      dashboardName: this.stackName,
      queryFolder: this.stackName,
      ...props.delivery,
      eventBus,
    });
    this.delivery.addStackOutputs();
    if (props.alarmEmail)
      this.delivery.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
  }
}

/**
 * Registers cdk-nag's AwsSolutions pack on an app or stage (cdk-nag 3 is a policy-validation
 * plugin, which CDK accepts only there): synthesis then fails on any finding, error or warning,
 * that is not acknowledged with a reason.
 */
export function addNagChecks(scope: Stage): AwsSolutionsChecks {
  const checks = new AwsSolutionsChecks(scope, { verbose: true });
  Validations.of(scope).addPlugins(checks);
  return checks;
}

/** Reads context values (`cdk.json` or `-c key=value`), which arrive as JSON values or as strings. */
export type ContextReader = (key: string) => unknown;

/** What `infra/app.ts` builds from the CDK context. */
export interface AppSettings {
  readonly stackName: string;
  readonly nag: boolean;
  readonly stackProps: WebhookDeliveryStackProps;
}

/**
 * The stack's settings from CDK context, e.g. `npx cdk deploy -c allowPrivateEndpoints=true`.
 * Keys: stackName, nag, eventBusName, alarmEmail, eventSource, detailType, secretsPrefix,
 * allowPrivateEndpoints, deliverMaxConcurrency, slowLaneMaxConcurrency, fairShareDeliveries, logRetentionDays, outcomeRetentionDays, logLevel,
 * requestTimeoutSeconds, deliverTimeoutSeconds. Fails naming every bad value at once.
 */
export function settingsFromContext(read: ContextReader, defaultStackName: string): AppSettings {
  const problems: string[] = [];
  const str = (key: string): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') {
      problems.push(`context ${key} must be a string`);
      return undefined;
    }
    return value;
  };
  const bool = (key: string): boolean | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    problems.push(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
    return undefined;
  };
  const int = (key: string): number | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    const n =
      typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n)) {
      problems.push(`context ${key} must be a whole number, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return n;
  };
  const seconds = (key: string): Duration | undefined => {
    const n = int(key);
    return n === undefined ? undefined : Duration.seconds(n);
  };

  const logRetentionDays = int('logRetentionDays');
  if (logRetentionDays !== undefined && !(Object.values(logs.RetentionDays) as number[]).includes(logRetentionDays)) {
    problems.push(
      `context logRetentionDays must be one of CloudWatch's retention periods (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${logRetentionDays}`,
    );
  }
  const logLevel = str('logLevel');
  if (logLevel !== undefined && !isLogLevel(logLevel)) {
    problems.push(
      `context logLevel must be ${LOG_LEVELS.slice(0, -1).join(', ')} or ${LOG_LEVELS.at(-1)}, got "${logLevel}"`,
    );
  }

  const delivery: WebhookDeliveryProps = dropUndefined({
    eventSource: str('eventSource'),
    detailType: str('detailType'),
    secretsPrefix: str('secretsPrefix'),
    allowPrivateEndpoints: bool('allowPrivateEndpoints'),
    deliverMaxConcurrency: int('deliverMaxConcurrency'),
    slowLaneMaxConcurrency: int('slowLaneMaxConcurrency'),
    fairShareDeliveries: int('fairShareDeliveries'),
    logRetention: logRetentionDays as logs.RetentionDays | undefined,
    outcomeRetentionDays: int('outcomeRetentionDays'),
    logLevel: logLevel !== undefined && isLogLevel(logLevel) ? logLevel : undefined,
    requestTimeout: seconds('requestTimeoutSeconds'),
    deliverTimeout: seconds('deliverTimeoutSeconds'),
  });
  const settings: AppSettings = {
    stackName: str('stackName') ?? defaultStackName,
    nag: bool('nag') ?? true,
    stackProps: dropUndefined({
      delivery,
      eventBusName: eventBusName(str('eventBusName'), problems),
      alarmEmail: email(str('alarmEmail'), problems),
    }),
  };
  if (problems.length > 0) throw new ContextError(problems);
  return settings;
}

/** Bad CDK context values, every one named; `infra/app.ts` prints them without a stack trace. */
export class ContextError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid CDK context:\n- ${problems.join('\n- ')}`);
    this.problems = problems;
  }
}

/** An address SNS can send to: one `@`, a dotted domain, no spaces. Checked by hand, not by a backtracking pattern. */
function email(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  const at = value.indexOf('@');
  const domain = value.slice(at + 1);
  const ok =
    at > 0 &&
    at === value.lastIndexOf('@') &&
    !/\s/.test(value) &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !domain.includes('..');
  if (!ok)
    problems.push(
      `context alarmEmail must be an email address such as oncall@example.com, got ${JSON.stringify(value)}`,
    );
  return ok ? value : undefined;
}

// EventBridge's rule for a bus name; an ARN names a bus of another account (its last part is the name).
const BUS_NAME = /^[A-Za-z0-9._\-/]{1,256}$/;
const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/([A-Za-z0-9._\-/]{1,256})$/;

function eventBusName(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  if (BUS_NAME.test(value) || BUS_ARN.test(value)) return value;
  problems.push(
    `context eventBusName must be an event bus name (letters, digits, . _ - /) or its ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME), got ${JSON.stringify(value)}`,
  );
  return undefined;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
