// zod/mini, not zod: see fields.ts.
import * as z from 'zod/mini';

import { HttpMethodSchema, intBetween, MAX_TIMEOUT_SECONDS, RetryConfigSchema, SAFE_ID } from './fields.ts';

export {
  SAFE_ID,
  HTTP_METHODS,
  HttpMethodSchema,
  type HttpMethod,
  MAX_ATTEMPTS_LIMIT,
  MAX_DELAY_SECONDS_LIMIT,
  DEFAULT_INITIAL_DELAY_SECONDS,
  MAX_TIMEOUT_SECONDS,
  intBetween,
  RetryConfigSchema,
  type RetryConfig,
  NO_RETRY,
} from './fields.ts';

/** `schema`, or `null` when null or left out. */
function orNull<T extends z.core.SomeType>(schema: T) {
  return z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? null),
  );
}

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
