// zod/mini, as in every schema the functions load (shared/schemas/fields.ts says why).
import * as z from 'zod/mini';
import { DEFAULT_HEALTH_POLICY } from '../domain/endpoint-health.ts';
import { DEFAULT_FAIR_SHARE, DEFAULT_SLOW_ENDPOINT_MS } from '../domain/lanes.ts';
import { ValidationError } from '../errors.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../schemas/event-source.ts';
import { DEFAULT_SECRETS_PREFIX } from '../schemas/credential.ts';
import { MAX_ATTEMPTS_LIMIT } from '../schemas/fields.ts';
import { problemsFrom, safeParse } from '../schemas/issues.ts';
import { DEFAULT_LOG_LEVEL, LOG_LEVELS } from '../observability/logger.ts';

/**
 * Environment keys of the functions. `infra/` builds each function's environment
 * from these names, and a test parses what the stack sets with the schemas below,
 * so the stack and the code cannot drift.
 */
export const ENV = {
  deliveryQueueUrl: 'DELIVERY_QUEUE_URL',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  outcomeTableName: 'OUTCOME_TABLE_NAME',
  eventSource: 'EVENT_SOURCE',
  eventDetailType: 'EVENT_DETAIL_TYPE',
  secretsPrefix: 'SECRETS_PREFIX',
  credentialCacheTtlSeconds: 'CREDENTIAL_CACHE_TTL_SECONDS',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
  allowPrivateEndpoints: 'ALLOW_PRIVATE_ENDPOINTS',
  outcomeRetentionDays: 'OUTCOME_RETENTION_DAYS',
  maxPayloadBytes: 'MAX_PAYLOAD_BYTES',
  metricsNamespace: 'METRICS_NAMESPACE',
  logLevel: 'LOG_LEVEL',
  reconcileGraceSeconds: 'RECONCILE_GRACE_SECONDS',
  // Tenant isolation (issue 8)
  endpointHealthTableName: 'ENDPOINT_HEALTH_TABLE_NAME',
  circuitsEnabled: 'CIRCUITS_ENABLED',
  circuitFailureThreshold: 'CIRCUIT_FAILURE_THRESHOLD',
  circuitCooldownMinSeconds: 'CIRCUIT_COOLDOWN_MIN_SECONDS',
  circuitCooldownMaxSeconds: 'CIRCUIT_COOLDOWN_MAX_SECONDS',
  healthCacheTtlMs: 'ENDPOINT_HEALTH_CACHE_TTL_MS',
  settleEarly: 'SETTLE_EARLY',
  // Fairness (issue 8): the slow lane, see shared/domain/lanes.ts
  slowDeliveryQueueUrl: 'SLOW_DELIVERY_QUEUE_URL',
  fairShareDeliveries: 'FAIR_SHARE_DELIVERIES',
  fairShareWindowSeconds: 'FAIR_SHARE_WINDOW_SECONDS',
  slowEndpointMs: 'SLOW_ENDPOINT_MS',
} as const;

/**
 * Receives of one delivery message before SQS itself moves it to the dead-letter
 * queue: four per attempt of the largest `max_attempts`. The deliver function
 * settles every outcome itself (retries by visibility, final failures moved to the
 * DLQ), so this redrive is only the safety net for what it could not settle
 * (crashes, timeouts, poison messages). Many receives are not attempts: SQS caps
 * a visibility change at 12 h from the receive, so a long backoff waits across
 * several receives; a copy redelivered while another worker holds the lease is a
 * receive too. A tighter count would dead-letter healthy deliveries mid-backoff.
 * Shared by the stack and the local stack; this module does not load aws-cdk-lib.
 */
export const DELIVERY_QUEUE_MAX_RECEIVE_COUNT = 4 * MAX_ATTEMPTS_LIMIT;

/**
 * The deliver event source's defaults (the construct's `deliverMaxConcurrency` and
 * `batchSize`), here so the local stack and the isolation bench poll exactly as the stack does.
 */
export const DELIVER_EVENT_SOURCE_DEFAULTS = { maxConcurrency: 10, batchSize: 10 } as const;

/**
 * The slow lane's event source (the construct's `slowLaneMaxConcurrency`): two
 * concurrent batches, so what waits there (a campaign past its fair share, a slow or
 * broken endpoint) never takes more than a sixth of the deliver function's Lambdas.
 */
export const SLOW_LANE_EVENT_SOURCE_DEFAULTS = { maxConcurrency: 2, batchSize: 10 } as const;

/**
 * Defaults the config schemas fall back to and the construct (`infra/`) writes into each
 * function's environment: one place, so the stack and the code cannot disagree.
 */
export const DEFAULT_METRICS_NAMESPACE = 'DograhWebhooks';
/** Days a delivery record lives after its last write (DynamoDB TTL). */
export const DEFAULT_OUTCOME_RETENTION_DAYS = 30;
/** Past its lease or due time by this much, a non-final delivery counts as stuck. */
export const DEFAULT_RECONCILE_GRACE_SECONDS = 900;
/** Endpoint circuits (issue 8): the circuit's own defaults are the domain's policy, in the units of the environment. */
export const CIRCUIT_DEFAULTS = {
  failureThreshold: DEFAULT_HEALTH_POLICY.failureThreshold,
  cooldownMinSeconds: DEFAULT_HEALTH_POLICY.cooldownBaseMs / 1000,
  cooldownMaxSeconds: DEFAULT_HEALTH_POLICY.cooldownCapMs / 1000,
  healthCacheTtlMs: 5_000,
} as const;

const bool = z.pipe(
  z.enum(['true', 'false']),
  z.transform((v) => v === 'true'),
);
const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const text = () => z.string().check(z.minLength(1));
const logLevel = z._default(z.enum(LOG_LEVELS), DEFAULT_LOG_LEVEL);

/** SQS takes messages up to 256 KiB; a rendered delivery larger than this fails as oversized. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 200 * 1024;

export const RenderConfigSchema = z.object({
  [ENV.deliveryQueueUrl]: z.url(),
  [ENV.outcomeTableName]: text(),
  [ENV.eventSource]: z._default(text(), DEFAULT_EVENT_SOURCE),
  [ENV.eventDetailType]: z._default(text(), DEFAULT_DETAIL_TYPE),
  [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
  [ENV.maxPayloadBytes]: z._default(int(1024, 250 * 1024), DEFAULT_MAX_PAYLOAD_BYTES),
  [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
  [ENV.logLevel]: logLevel,
  // Fairness (issue 8): without a slow lane (or the health table, which keeps the counts), one lane.
  [ENV.slowDeliveryQueueUrl]: z.optional(z.url()),
  [ENV.endpointHealthTableName]: z.optional(text()),
  [ENV.fairShareDeliveries]: z._default(int(1, 1_000_000), DEFAULT_FAIR_SHARE.deliveries),
  [ENV.fairShareWindowSeconds]: z._default(int(1, 3600), DEFAULT_FAIR_SHARE.windowSeconds),
});
export type RenderConfig = z.infer<typeof RenderConfigSchema>;

/**
 * How long a credential and a signing secret are reused in memory (15 min): Secrets Manager calls
 * then grow with instances and credentials, not deliveries. The trade-off: a revoked or rotated
 * secret is still used for up to this long, unless the endpoint refuses it (401/403 reads it again).
 */
export const DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS = 900;

/** How long one request to an endpoint may take unless its node asks for less (CONTRACT section 5: 30 s). */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

export const DeliverConfigSchema = z
  .object({
    [ENV.deliveryQueueUrl]: z.url(),
    [ENV.deadLetterQueueUrl]: z.url(),
    [ENV.outcomeTableName]: text(),
    [ENV.secretsPrefix]: z._default(text(), DEFAULT_SECRETS_PREFIX),
    [ENV.credentialCacheTtlSeconds]: z._default(int(0, 3600), DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS),
    [ENV.requestTimeoutMs]: z._default(int(100, 900_000), DEFAULT_REQUEST_TIMEOUT_SECONDS * 1000),
    [ENV.allowPrivateEndpoints]: z._default(bool, false),
    [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
    [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
    [ENV.logLevel]: logLevel,
    // Tenant isolation (issue 8): without a health table, no circuits.
    [ENV.endpointHealthTableName]: z.optional(text()),
    [ENV.circuitsEnabled]: z._default(bool, true),
    [ENV.circuitFailureThreshold]: z._default(int(1, 1000), CIRCUIT_DEFAULTS.failureThreshold),
    [ENV.circuitCooldownMinSeconds]: z._default(int(1, 43_200), CIRCUIT_DEFAULTS.cooldownMinSeconds),
    [ENV.circuitCooldownMaxSeconds]: z._default(int(1, 43_200), CIRCUIT_DEFAULTS.cooldownMaxSeconds),
    [ENV.healthCacheTtlMs]: z._default(int(0, 600_000), CIRCUIT_DEFAULTS.healthCacheTtlMs),
    [ENV.settleEarly]: z._default(bool, true),
    // Fairness (issue 8): without a slow lane, slow and broken endpoints stay on the main queue.
    [ENV.slowDeliveryQueueUrl]: z.optional(z.url()),
    [ENV.slowEndpointMs]: z._default(int(100, 900_000), DEFAULT_SLOW_ENDPOINT_MS),
  })
  .check(
    z.refine((c) => c[ENV.circuitCooldownMinSeconds] <= c[ENV.circuitCooldownMaxSeconds], {
      message: `must not be longer than ${ENV.circuitCooldownMaxSeconds}`,
      path: [ENV.circuitCooldownMinSeconds],
    }),
  );
export type DeliverConfig = z.infer<typeof DeliverConfigSchema>;

export const ReconcileConfigSchema = z.object({
  [ENV.deliveryQueueUrl]: z.url(),
  [ENV.outcomeTableName]: text(),
  [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
  [ENV.reconcileGraceSeconds]: z._default(int(60, 86_400), DEFAULT_RECONCILE_GRACE_SECONDS),
  // Its backlog counts toward the pause too: a delivery waiting there is not stuck.
  [ENV.slowDeliveryQueueUrl]: z.optional(z.url()),
  [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
  [ENV.logLevel]: logLevel,
});
export type ReconcileConfig = z.infer<typeof ReconcileConfigSchema>;

/** Parses an environment at cold start; fails naming every bad key at once. */
export function parseConfig<S extends z.core.$ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.output<S> {
  const parsed = safeParse(schema, env);
  if (!parsed.success) throw new ValidationError(problemsFrom(parsed.error, 'environment'));
  return parsed.data;
}
