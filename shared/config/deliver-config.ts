// The deliver function's environment (env.ts has the keys and defaults).
import * as z from 'zod/mini';
import { DEFAULT_SLOW_ENDPOINT_MS } from '../domain/lanes.ts';
import { DEFAULT_SECRETS_PREFIX } from '../schemas/credential.ts';
import {
  CIRCUIT_DEFAULTS,
  DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS,
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_OUTCOME_RETENTION_DAYS,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  ENV,
} from './env.ts';
import { bool, int, logLevel, text } from './env-fields.ts';

export const DeliverConfigSchema = z
  .object({
    [ENV.deliveryQueueUrl]: z.url(),
    [ENV.deadLetterQueueUrl]: z.url(),
    [ENV.outcomeTableName]: text(),
    [ENV.secretsPrefix]: z._default(text(), DEFAULT_SECRETS_PREFIX),
    [ENV.credentialCacheTtlSeconds]: z._default(int(0, 3600), DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS),
    [ENV.requestTimeoutMs]: z._default(int(100, 900_000), DEFAULT_REQUEST_TIMEOUT_SECONDS * 1000),
    [ENV.allowPrivateEndpoints]: z._default(bool(), false),
    [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
    [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
    [ENV.logLevel]: logLevel(),
    // Tenant isolation (issue 8): without a health table, no circuits.
    [ENV.endpointHealthTableName]: z.optional(text()),
    [ENV.circuitsEnabled]: z._default(bool(), true),
    [ENV.circuitFailureThreshold]: z._default(int(1, 1000), CIRCUIT_DEFAULTS.failureThreshold),
    [ENV.circuitCooldownMinSeconds]: z._default(int(1, 43_200), CIRCUIT_DEFAULTS.cooldownMinSeconds),
    [ENV.circuitCooldownMaxSeconds]: z._default(int(1, 43_200), CIRCUIT_DEFAULTS.cooldownMaxSeconds),
    [ENV.healthCacheTtlMs]: z._default(int(0, 600_000), CIRCUIT_DEFAULTS.healthCacheTtlMs),
    [ENV.settleEarly]: z._default(bool(), true),
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
