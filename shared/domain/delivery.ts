import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { HttpMethodSchema, intBetween, MAX_TIMEOUT_SECONDS, RetryConfigSchema } from '../schemas/fields.ts';

/**
 * One rendered webhook node of one run, as it travels on the delivery queue.
 * Rendered once by the render function: retries resend exactly this. It holds
 * no secret: the credential is fetched by name at send time.
 */
export const DeliveryMessageSchema = z.object({
  v: z.literal(1),
  delivery_id: z.string().check(z.minLength(1)),
  organization_id: z.string().check(z.minLength(1)),
  workflow_id: z.number().check(z.int()),
  workflow_run_id: z.number().check(z.int()),
  node_id: z.string().check(z.minLength(1)),
  node_name: z.string(),
  method: HttpMethodSchema,
  url: z.string(),
  /** Custom headers after rendering and filtering; auth and X-Dograh-* are added at send time. */
  headers: z.record(z.string(), z.string()),
  /** JSON text of the rendered payload; null for GET and DELETE. */
  body: z.nullable(z.string()),
  credential_uuid: z.nullable(z.string()),
  /** The node's signing secret; null (or absent, in messages from before signing): the organization's, if any. */
  signing_credential_uuid: z.nullish(z.string()),
  /** Placeholders that rendered empty, and why; bounded by the renderer. Absent in older messages. */
  empty_placeholders: z.optional(
    z.array(z.object({ field: z.string(), placeholder: z.string(), reason: z.enum(['missing', 'null']) })),
  ),
  retry: RetryConfigSchema,
  /** The node's `timeout_seconds`; absent: the stack's request timeout. */
  timeout_seconds: z.optional(intBetween(1, MAX_TIMEOUT_SECONDS)),
  /** ISO time the run's event was rendered. */
  rendered_at: z.string(),
});
export type DeliveryMessage = z.infer<typeof DeliveryMessageSchema>;

/** Final and in-between states of a delivery in the outcome log: the words of outcome.ts. */
export { FINAL_STATUSES, type DeliveryStatus } from './outcome.ts';

/**
 * One id per run and node, stable across retries and duplicate events: the hash
 * of organization, run and node. It is the idempotency key of the whole pipeline.
 */
export function deliveryId(organizationId: string, workflowRunId: number, nodeId: string): string {
  const digest = createHash('sha256').update(`${organizationId}\u0000${workflowRunId}\u0000${nodeId}`).digest('hex');
  return `whd_${digest.slice(0, 32)}`;
}

/**
 * The request timeout of one delivery: the node's `timeout_seconds`, never longer
 * than the stack's (the deliver function's own timeout is sized for that one).
 */
export function requestTimeoutOf(message: DeliveryMessage, stackTimeoutMs: number): number {
  return message.timeout_seconds === undefined
    ? stackTimeoutMs
    : Math.min(stackTimeoutMs, message.timeout_seconds * 1000);
}
