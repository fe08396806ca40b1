import { createHash } from 'node:crypto';
import type { HttpMethod, RetryConfig } from '../schemas/node.ts';

/**
 * One rendered webhook node of one run, as it travels on the delivery queue.
 * Rendered once by the render function: retries resend exactly this. It holds
 * no secret: the credential is fetched by name at send time.
 */
export interface DeliveryMessage {
  readonly v: 1;
  readonly delivery_id: string;
  readonly organization_id: string;
  readonly workflow_id: number;
  readonly workflow_run_id: number;
  readonly node_id: string;
  readonly node_name: string;
  readonly method: HttpMethod;
  readonly url: string;
  /** Custom headers after rendering and filtering; auth and X-Dograh-* are added at send time. */
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text of the rendered payload; null for GET and DELETE. */
  readonly body: string | null;
  readonly credential_uuid: string | null;
  readonly retry: RetryConfig;
  /** ISO time the run's event was rendered. */
  readonly rendered_at: string;
}

/** Final and in-between states of a delivery in the outcome log. */
export type DeliveryStatus = 'pending' | 'sending' | 'retrying' | 'delivered' | 'failed' | 'skipped';
export const FINAL_STATUSES: ReadonlySet<DeliveryStatus> = new Set(['delivered', 'failed', 'skipped']);

/**
 * One id per run and node, stable across retries and duplicate events: the hash
 * of organization, run and node. It is the idempotency key of the whole pipeline.
 */
export function deliveryId(organizationId: string, workflowRunId: number, nodeId: string): string {
  const digest = createHash('sha256').update(`${organizationId}\u0000${workflowRunId}\u0000${nodeId}`).digest('hex');
  return `whd_${digest.slice(0, 32)}`;
}
