import type { LogFields, Logger, LogLevel } from '../observability/logger.ts';

/**
 * What the use cases need of a logger: shared/observability/logger.ts's, less its level
 * queries, so a test can pass a plain object.
 */
export interface Log extends Pick<Logger, LogLevel> {
  child(fields: LogFields): Log;
}

export type { Metrics } from '../observability/metrics.ts';
