import type { DeliveryOutcome } from '../domain/outcome.ts';
import type { LogFields } from '../observability/logger.ts';

/**
 * Fields of a use case's log line. An `outcome` is always one of the outcome words of
 * shared/domain/outcome.ts, the same value the `Deliveries` metric counts and the record keeps,
 * so the saved queries (`outcome = "failed"`) match every line they mean.
 */
export type UseCaseLogFields = LogFields & { readonly outcome?: DeliveryOutcome };

/**
 * What the use cases need of a logger: shared/observability/logger.ts's, less its level
 * queries (so a test can pass a plain object), with {@link UseCaseLogFields} for fields.
 */
export interface Log {
  debug(message: string, fields?: UseCaseLogFields): void;
  info(message: string, fields?: UseCaseLogFields): void;
  warn(message: string, fields?: UseCaseLogFields): void;
  error(message: string, fields?: UseCaseLogFields): void;
  child(fields: LogFields): Log;
}

export type { Metrics } from '../observability/metrics.ts';
