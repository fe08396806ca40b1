// zod/mini, not zod, in every schema the deliver and render functions load: the same checks,
// issues and messages, without classic zod's chained methods, whose module and schemas cost
// those functions a third of their cold import (docs/performance.md).
import * as z from 'zod/mini';

/** Ids that become part of a secret name: no `/`, so one organization can never name another's secret. */
export const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const HttpMethodSchema = z.enum(HTTP_METHODS);
export type HttpMethod = z.infer<typeof HttpMethodSchema>;

/** Largest `max_attempts` a node may ask for; the queue's maxReceiveCount sits above it. */
export const MAX_ATTEMPTS_LIMIT = 25;
export const MAX_DELAY_SECONDS_LIMIT = 43_200;

export const DEFAULT_INITIAL_DELAY_SECONDS = 30;

/** Longest `timeout_seconds` a node may ask for: the contract's default request timeout. */
export const MAX_TIMEOUT_SECONDS = 30;

/** A whole number from `min` to `max` (inclusive). */
export function intBetween(min: number, max?: number) {
  return max === undefined
    ? z.number().check(z.int(), z.minimum(min))
    : z.number().check(z.int(), z.minimum(min), z.maximum(max));
}

/** `schema`, or `null` when null or left out. */
function orNull<T extends z.core.SomeType>(schema: T) {
  return z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? null),
  );
}

export const RetryConfigSchema = z.pipe(
  z
    .object({
      max_attempts: intBetween(1, MAX_ATTEMPTS_LIMIT),
      backoff: z._default(z.enum(['exponential', 'fixed']), 'exponential'),
      initial_delay_seconds: z.optional(intBetween(1)),
      max_delay_seconds: z._default(intBetween(1, MAX_DELAY_SECONDS_LIMIT), 3600),
    })
    .check(
      z.refine((r) => r.initial_delay_seconds === undefined || r.initial_delay_seconds <= r.max_delay_seconds, {
        message: 'initial_delay_seconds must not exceed max_delay_seconds',
        path: ['initial_delay_seconds'],
      }),
    ),
  // Left out, the first delay is 30 s, or max_delay_seconds when that is shorter: a node
  // that only writes `max_delay_seconds: 10` is valid, not an error about a field it never wrote.
  z.transform((r) => ({
    max_attempts: r.max_attempts,
    backoff: r.backoff,
    initial_delay_seconds: r.initial_delay_seconds ?? Math.min(DEFAULT_INITIAL_DELAY_SECONDS, r.max_delay_seconds),
    max_delay_seconds: r.max_delay_seconds,
  })),
);
export type RetryConfig = z.infer<typeof RetryConfigSchema>;

/** Without `retry_config` a delivery gets exactly one attempt, as in Dograh. */
export const NO_RETRY: RetryConfig = {
  max_attempts: 1,
  backoff: 'fixed',
  initial_delay_seconds: 30,
  max_delay_seconds: 3600,
};

export const CustomHeaderSchema = z.object({
  key: z.string().check(z.minLength(1, 'header name must not be empty')),
  value: z.string(),
});
export type CustomHeader = z.infer<typeof CustomHeaderSchema>;

/** A JSON value, as a payload template may hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export const JsonSchema: z.ZodMiniType<Json> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(JsonSchema), z.record(z.string(), JsonSchema)]),
);

export const WebhookNodeDataSchema = z.looseObject({
  name: z._default(z.string(), ''),
  enabled: z._default(z.boolean(), true),
  http_method: z._default(
    z.pipe(
      z.pipe(
        z.string(),
        z.transform((m) => m.toUpperCase()),
      ),
      HttpMethodSchema,
    ),
    'POST',
  ),
  endpoint_url: z.string().check(z.regex(/^https?:\/\//i, 'the URL must start with http:// or https://')),
  credential_uuid: orNull(
    z.string().check(z.regex(SAFE_ID, 'credential_uuid may hold only letters, digits, "-" and "_"')),
  ),
  /** The node's own Standard Webhooks signing secret; null: the organization's, if it has one. */
  signing_credential_uuid: orNull(
    z.string().check(z.regex(SAFE_ID, 'signing_credential_uuid may hold only letters, digits, "-" and "_"')),
  ),
  custom_headers: z.pipe(
    z.nullish(z.array(CustomHeaderSchema)),
    z.transform((h) => h ?? []),
  ),
  payload_template: orNull(JsonSchema),
  /** `dograh` (default): rendered as Dograh renders; `typed`: a lone placeholder keeps its JSON type (CONTRACT section 3). */
  template_mode: z.optional(z.enum(['dograh', 'typed'], { error: 'expected "dograh" or "typed"' })),
  retry_config: z.nullish(RetryConfigSchema),
  /** This node's request timeout (CONTRACT section 2); without it the stack's. */
  timeout_seconds: z.optional(intBetween(1, MAX_TIMEOUT_SECONDS)),
});

/**
 * Longest node id accepted. The id goes into every log line, metric-free record and delivery id
 * of its node; Dograh's are short (`webhook-1`, a UUID). A 48 KB id cost seconds of CPU in
 * redaction on every line before the limit.
 */
export const MAX_NODE_ID_LENGTH = 256;

export const WebhookNodeSchema = z.looseObject({
  id: z
    .string()
    .check(
      z.minLength(1, 'node id is required'),
      z.maxLength(MAX_NODE_ID_LENGTH, `node id must be at most ${MAX_NODE_ID_LENGTH} characters`),
    ),
  type: z.literal('webhook'),
  data: WebhookNodeDataSchema,
});
export type WebhookNode = z.infer<typeof WebhookNodeSchema>;
export type WebhookNodeData = WebhookNode['data'];

/** Any node of a workflow definition: only `type: "webhook"` nodes are read, the rest are ignored. */
export const AnyNodeSchema = z.looseObject({ id: z.optional(z.unknown()), type: z.optional(z.unknown()) });

export const WorkflowDefinitionSchema = z.looseObject({
  nodes: z.array(z.unknown()),
  edges: z._default(z.array(z.unknown()), []),
});
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;
