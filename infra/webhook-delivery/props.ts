import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';

import type { LogLevel } from '../../shared/observability/logger.ts';

/** Log level of the functions, as the config schemas accept it. */
export type { LogLevel };

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

  // --- Fairness (issue 8): the slow lane -------------------------------------------------------
  /**
   * Most concurrent deliver invocations on the slow lane (2–1000): the queue that takes an
   * organization's deliveries past its fair share and deliveries to slow or broken endpoints, so
   * they never hold more than this many of the deliver function's Lambdas.
   * @default 2
   */
  readonly slowLaneMaxConcurrency?: number;
  /**
   * An organization's fair share of the main delivery queue: this many deliveries per
   * `fairShareWindow`; render routes the rest of its deliveries in the window to the slow lane.
   * @default 100
   */
  readonly fairShareDeliveries?: number;
  /**
   * The window of `fairShareDeliveries` (1 s to 1 h).
   * @default Duration.seconds(10)
   */
  readonly fairShareWindow?: Duration;
  /**
   * A request still unanswered after this long marks its endpoint slow for a minute: its next
   * deliveries go to the slow lane, before any timeout or circuit (100 ms to the request timeout).
   * @default Duration.seconds(2)
   */
  readonly slowEndpointThreshold?: Duration;
}
