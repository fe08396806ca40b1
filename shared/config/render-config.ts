// The render function's environment (env.ts has the keys and defaults).
import * as z from 'zod/mini';
import { DEFAULT_FAIR_SHARE } from '../domain/lanes.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../schemas/event-source.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_METRICS_NAMESPACE, DEFAULT_OUTCOME_RETENTION_DAYS, ENV } from './env.ts';
import { int, logLevel, text } from './env-fields.ts';

export const RenderConfigSchema = z.object({
  [ENV.deliveryQueueUrl]: z.url(),
  [ENV.outcomeTableName]: text(),
  [ENV.eventSource]: z._default(text(), DEFAULT_EVENT_SOURCE),
  [ENV.eventDetailType]: z._default(text(), DEFAULT_DETAIL_TYPE),
  [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
  [ENV.maxPayloadBytes]: z._default(int(1024, 250 * 1024), DEFAULT_MAX_PAYLOAD_BYTES),
  [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
  [ENV.logLevel]: logLevel(),
  // Fairness (issue 8): without a slow lane (or the health table, which keeps the counts), one lane.
  [ENV.slowDeliveryQueueUrl]: z.optional(z.url()),
  [ENV.endpointHealthTableName]: z.optional(text()),
  [ENV.fairShareDeliveries]: z._default(int(1, 1_000_000), DEFAULT_FAIR_SHARE.deliveries),
  [ENV.fairShareWindowSeconds]: z._default(int(1, 3600), DEFAULT_FAIR_SHARE.windowSeconds),
});
export type RenderConfig = z.infer<typeof RenderConfigSchema>;
