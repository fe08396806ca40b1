// The functions' environment: its keys, the defaults the stack writes, and parseConfig. No schema
// is built here: each function's is in its own module (render-config.ts, deliver-config.ts,
// reconcile-config.ts), so a function builds its own at cold start and not the others'.
// config.ts gathers them all for the stack, the local stack and tests.
import { DEFAULT_HEALTH_POLICY } from '../domain/endpoint-health.ts';
import type * as z from 'zod/mini';
import { ValidationError } from '../errors.ts';
import { MAX_ATTEMPTS_LIMIT } from '../schemas/fields.ts';
import { problemsFrom, safeParse } from '../schemas/issues.ts';

/**
 * Environment keys of the functions. `infra/` builds each function's environment
 * from these names, and a test parses what the stack sets with the functions' schemas,
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

/** SQS takes messages up to 256 KiB; a rendered delivery larger than this fails as oversized. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 200 * 1024;

/**
 * How long a credential and a signing secret are reused in memory (15 min): Secrets Manager calls
 * then grow with instances and credentials, not deliveries. The trade-off: a revoked or rotated
 * secret is still used for up to this long, unless the endpoint refuses it (401/403 reads it again).
 */
export const DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS = 900;

/** How long one request to an endpoint may take unless its node asks for less (CONTRACT section 5: 30 s). */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/** Parses an environment at cold start; fails naming every bad key at once. */
export function parseConfig<S extends z.core.$ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.output<S> {
  const parsed = safeParse(schema, env);
  if (!parsed.success) throw new ValidationError(problemsFrom(parsed.error, 'environment'));
  return parsed.data;
}
