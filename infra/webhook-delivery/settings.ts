import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import {
  CIRCUIT_DEFAULTS,
  SLOW_LANE_EVENT_SOURCE_DEFAULTS,
  DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_OUTCOME_RETENTION_DAYS,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  DELIVER_EVENT_SOURCE_DEFAULTS,
} from '../../shared/config/config.ts';
import { DEFAULT_FAIR_SHARE, DEFAULT_SLOW_ENDPOINT_MS } from '../../shared/domain/lanes.ts';
import { DEFAULT_LOG_LEVEL } from '../../shared/observability/logger.ts';
import { DEFAULT_SECRETS_PREFIX } from '../../shared/schemas/credential.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../../shared/schemas/event.ts';
import type { LogLevel, WebhookDeliveryProps } from './props.ts';

/** A deliver attempt's duration can reach the request timeout; what follows it (record, settle) needs this much more. */
const SETTLE_MARGIN = Duration.seconds(10);

/** Most messages per deliver invocation: the handler sends a whole batch concurrently. */
const MAX_DELIVER_BATCH_SIZE = 10;

/** {@link WebhookDeliveryProps} with every default applied: what the parts of the construct build from. */
export interface DeliverySettings {
  readonly eventSource: string;
  readonly detailType: string;
  readonly secretsPrefix: string;
  readonly secretsEncryptionKey?: kms.IKey;
  readonly metricsNamespace: string;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel: LogLevel;
  readonly outcomeRetentionDays: number;
  readonly allowPrivateEndpoints: boolean;
  readonly deliverMaxConcurrency: number;
  readonly requestTimeout: Duration;
  readonly deliverTimeout: Duration;
  readonly renderTimeout: Duration;
  readonly renderMemorySize: number;
  readonly deliverMemorySize: number;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly credentialCacheTtl: Duration;
  readonly maxPayloadBytes: number;
  readonly removalPolicy: RemovalPolicy;
  readonly tableDeletionProtection: boolean;
  readonly oldestMessageAgeThreshold: Duration;
  readonly failureRateThresholdPercent: number;
  readonly circuitFailureThreshold: number;
  readonly circuitCooldownMin: Duration;
  readonly circuitCooldownMax: Duration;
  readonly endpointHealthCacheTtl: Duration;
  readonly slowLaneMaxConcurrency: number;
  readonly fairShareDeliveries: number;
  readonly fairShareWindow: Duration;
  readonly slowEndpointThreshold: Duration;
}

/** Applies the defaults of {@link WebhookDeliveryProps}; names and config defaults come from `shared/config`. */
export function resolveSettings(props: WebhookDeliveryProps): DeliverySettings {
  return {
    eventSource: props.eventSource ?? DEFAULT_EVENT_SOURCE,
    detailType: props.detailType ?? DEFAULT_DETAIL_TYPE,
    secretsPrefix: props.secretsPrefix ?? DEFAULT_SECRETS_PREFIX,
    secretsEncryptionKey: props.secretsEncryptionKey,
    metricsNamespace: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? DEFAULT_LOG_LEVEL,
    outcomeRetentionDays: props.outcomeRetentionDays ?? DEFAULT_OUTCOME_RETENTION_DAYS,
    allowPrivateEndpoints: props.allowPrivateEndpoints ?? false,
    deliverMaxConcurrency: props.deliverMaxConcurrency ?? DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency,
    requestTimeout: props.requestTimeout ?? Duration.seconds(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    deliverTimeout: props.deliverTimeout ?? Duration.seconds(60),
    renderTimeout: props.renderTimeout ?? Duration.seconds(30),
    renderMemorySize: props.renderMemorySize ?? 256,
    deliverMemorySize: props.deliverMemorySize ?? 512,
    batchSize: props.batchSize ?? DELIVER_EVENT_SOURCE_DEFAULTS.batchSize,
    maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(0),
    credentialCacheTtl: props.credentialCacheTtl ?? Duration.seconds(DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS),
    maxPayloadBytes: props.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    tableDeletionProtection: props.tableDeletionProtection ?? true,
    oldestMessageAgeThreshold: props.oldestMessageAgeThreshold ?? Duration.hours(1),
    failureRateThresholdPercent: props.failureRateThresholdPercent ?? 20,
    circuitFailureThreshold: props.circuitFailureThreshold ?? CIRCUIT_DEFAULTS.failureThreshold,
    circuitCooldownMin: props.circuitCooldownMin ?? Duration.seconds(CIRCUIT_DEFAULTS.cooldownMinSeconds),
    circuitCooldownMax: props.circuitCooldownMax ?? Duration.seconds(CIRCUIT_DEFAULTS.cooldownMaxSeconds),
    endpointHealthCacheTtl: props.endpointHealthCacheTtl ?? Duration.millis(CIRCUIT_DEFAULTS.healthCacheTtlMs),
    slowLaneMaxConcurrency: props.slowLaneMaxConcurrency ?? SLOW_LANE_EVENT_SOURCE_DEFAULTS.maxConcurrency,
    fairShareDeliveries: props.fairShareDeliveries ?? DEFAULT_FAIR_SHARE.deliveries,
    fairShareWindow: props.fairShareWindow ?? Duration.seconds(DEFAULT_FAIR_SHARE.windowSeconds),
    slowEndpointThreshold: props.slowEndpointThreshold ?? Duration.millis(DEFAULT_SLOW_ENDPOINT_MS),
  };
}

/** The props the services or the pipeline would refuse later, as one list of problems. */
/**
 * Props (or the function environments made from them) that cannot deploy, every one named:
 * `infra/app.ts` prints them as `error:` lines, without a stack trace.
 */
export class InvalidPropsError extends Error {
  readonly problems: readonly string[];
  constructor(path: string, what: string, problems: readonly string[]) {
    super(`WebhookDelivery ${path}: invalid ${what}:\n- ${problems.join('\n- ')}`);
    this.name = 'InvalidPropsError';
    this.problems = problems;
  }
}

export function checkProps(p: DeliverySettings): string[] {
  const problems: string[] = [];
  if (p.eventSource.trim() === '') problems.push('eventSource must not be empty');
  if (p.detailType.trim() === '') problems.push('detailType must not be empty');
  if (!Token.isUnresolved(p.secretsPrefix) && !/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/.test(p.secretsPrefix)) {
    problems.push(
      `secretsPrefix "${p.secretsPrefix}" must be a secret name path without leading or trailing "/" or wildcards (e.g. "webhooks/credentials")`,
    );
  }
  if (!Number.isInteger(p.deliverMaxConcurrency) || p.deliverMaxConcurrency < 2 || p.deliverMaxConcurrency > 1000) {
    problems.push(
      `deliverMaxConcurrency must be an integer from 2 to 1000 (SQS event source limits), got ${p.deliverMaxConcurrency}`,
    );
  }
  if (!Number.isInteger(p.slowLaneMaxConcurrency) || p.slowLaneMaxConcurrency < 2 || p.slowLaneMaxConcurrency > 1000) {
    problems.push(
      `slowLaneMaxConcurrency must be an integer from 2 to 1000 (SQS event source limits), got ${p.slowLaneMaxConcurrency}`,
    );
  }
  if (!Number.isInteger(p.fairShareDeliveries) || p.fairShareDeliveries < 1 || p.fairShareDeliveries > 1_000_000) {
    problems.push(`fairShareDeliveries must be an integer from 1 to 1000000, got ${p.fairShareDeliveries}`);
  }
  const windowSeconds = p.fairShareWindow.toMilliseconds() / 1000;
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 3600) {
    problems.push(`fairShareWindow must be whole seconds from 1 s to 1 hour, got ${p.fairShareWindow.toHumanString()}`);
  }
  const slowMs = p.slowEndpointThreshold.toMilliseconds();
  if (slowMs < 100 || slowMs > p.requestTimeout.toMilliseconds()) {
    problems.push(
      `slowEndpointThreshold must be from 100 ms to requestTimeout (${p.requestTimeout.toHumanString()}), got ${p.slowEndpointThreshold.toHumanString()}`,
    );
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
    problems.push(
      `batchSize must be an integer from 1 to ${MAX_DELIVER_BATCH_SIZE} (the deliver function sends a whole batch concurrently), got ${p.batchSize}`,
    );
  }
  if (p.maxBatchingWindow.toSeconds() > 300) problems.push('maxBatchingWindow must be at most 300 seconds');
  if (!(p.failureRateThresholdPercent > 0 && p.failureRateThresholdPercent <= 100)) {
    problems.push(`failureRateThresholdPercent must be above 0 and at most 100, got ${p.failureRateThresholdPercent}`);
  }
  return problems;
}
