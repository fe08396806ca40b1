// The reconcile function's environment (env.ts has the keys and defaults).
import * as z from 'zod/mini';
import {
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_OUTCOME_RETENTION_DAYS,
  DEFAULT_RECONCILE_GRACE_SECONDS,
  ENV,
} from './env.ts';
import { int, logLevel, text } from './env-fields.ts';

export const ReconcileConfigSchema = z.object({
  [ENV.deliveryQueueUrl]: z.url(),
  [ENV.outcomeTableName]: text(),
  [ENV.outcomeRetentionDays]: z._default(int(1, 3650), DEFAULT_OUTCOME_RETENTION_DAYS),
  [ENV.reconcileGraceSeconds]: z._default(int(60, 86_400), DEFAULT_RECONCILE_GRACE_SECONDS),
  // Its backlog counts toward the pause too: a delivery waiting there is not stuck.
  [ENV.slowDeliveryQueueUrl]: z.optional(z.url()),
  [ENV.metricsNamespace]: z._default(text(), DEFAULT_METRICS_NAMESPACE),
  [ENV.logLevel]: logLevel(),
});
export type ReconcileConfig = z.infer<typeof ReconcileConfigSchema>;
