import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { StackProps, Stage } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { WebhookDelivery } from './webhook-delivery.ts';
import type { LogLevel, WebhookDeliveryProps } from './webhook-delivery.ts';

/** Props of {@link WebhookDeliveryStack}. */
export interface WebhookDeliveryStackProps extends StackProps {
  /** Passed to the {@link WebhookDelivery} construct; see its props for the defaults. */
  readonly delivery?: WebhookDeliveryProps;
  /**
   * Name of an existing event bus to listen on, when `delivery.eventBus` is not given.
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
    super(scope, id, { description: 'Dograh outbound webhook delivery (EventBridge, Lambda, SQS, DynamoDB)', ...props });
    const eventBus =
      props.delivery?.eventBus ?? (props.eventBusName ? events.EventBus.fromEventBusName(this, 'EventBus', props.eventBusName) : undefined);
    this.delivery = new WebhookDelivery(this, 'WebhookDelivery', {
      dashboardName: this.stackName,
      queryFolder: this.stackName,
      ...props.delivery,
      eventBus,
    });
    this.delivery.addStackOutputs();
    if (props.alarmEmail) this.delivery.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
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
 * allowPrivateEndpoints, deliverMaxConcurrency, logRetentionDays, outcomeRetentionDays, logLevel,
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
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
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
    problems.push(`context logRetentionDays must be one of CloudWatch's retention periods (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${logRetentionDays}`);
  }
  const logLevel = str('logLevel');
  if (logLevel !== undefined && !['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    problems.push(`context logLevel must be debug, info, warn or error, got "${logLevel}"`);
  }

  const delivery: WebhookDeliveryProps = dropUndefined({
    eventSource: str('eventSource'),
    detailType: str('detailType'),
    secretsPrefix: str('secretsPrefix'),
    allowPrivateEndpoints: bool('allowPrivateEndpoints'),
    deliverMaxConcurrency: int('deliverMaxConcurrency'),
    logRetention: logRetentionDays as logs.RetentionDays | undefined,
    outcomeRetentionDays: int('outcomeRetentionDays'),
    logLevel: logLevel as LogLevel | undefined,
    requestTimeout: seconds('requestTimeoutSeconds'),
    deliverTimeout: seconds('deliverTimeoutSeconds'),
  });
  const settings: AppSettings = {
    stackName: str('stackName') ?? defaultStackName,
    nag: bool('nag') ?? true,
    stackProps: dropUndefined({ delivery, eventBusName: str('eventBusName'), alarmEmail: str('alarmEmail') }),
  };
  if (problems.length > 0) throw new Error(`invalid CDK context:\n- ${problems.join('\n- ')}`);
  return settings;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
