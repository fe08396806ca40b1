/** What the use cases need of a logger and of metrics; shared/observability implements both. */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Log;
}

export interface Metrics {
  count(name: string, value?: number, dimensions?: Record<string, string>): void;
  duration(name: string, ms: number, dimensions?: Record<string, string>): void;
  flush(): void;
}
