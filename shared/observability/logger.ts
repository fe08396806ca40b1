/**
 * The one structured logger: one JSON object per line on stdout, which CloudWatch Logs indexes
 * field by field (`{ $.delivery_id = "..." }` in Logs Insights and metric filters).
 *
 * Hand-written rather than pino: the whole job is level filtering, field binding, redaction and
 * `JSON.stringify`, about a hundred lines. pino brings worker-thread transports and its own
 * serializers that would have to be taught our redaction rules anyway, and every module loaded
 * at cold start is latency on the first delivery of a burst.
 *
 * Lines are written with `process.stdout.write`, not `console.log`: in the Lambda Node runtime's
 * text log format `console.log` prefixes each line with a timestamp and request id, and a line that
 * is not pure JSON is neither a structured log event nor a valid EMF document.
 */
import { systemClock } from '../ports/clock.ts';
import type { Clock } from '../ports/clock.ts';
import { redact, redactString } from './redact.ts';
import { setOwn } from '../domain/own-key.ts';

/** Levels in increasing severity; the same names as the `LOG_LEVEL` environment key. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level of a logger, a function and a stack that set none. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** Extra data of one line, or bound to every line of a child logger. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Receives one complete line, without its newline. */
export type LineSink = (line: string) => void;

/** Writes each line, newline-terminated, to standard output. */
export const stdoutSink: LineSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** A structured logger. Every method is safe to call with anything: logging never throws. */
export interface Logger {
  /** The lowest level this logger writes. */
  readonly level: LogLevel;
  /** Whether a line at `level` would be written; guards building expensive fields. */
  isEnabled(level: LogLevel): boolean;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (child fields win over the parent's). */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  readonly level?: LogLevel;
  /** Where lines go. Default {@link stdoutSink}. */
  readonly sink?: LineSink;
  /** Fields on every line, e.g. `{ function: 'deliver' }`. */
  readonly base?: LogFields;
  /** Source of the `time` field. Default the system clock. */
  readonly clock?: Clock;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys the logger itself writes; a field of the same name is written as `field_<name>`. */
const RESERVED = new Set(['level', 'time', 'message']);

/** Whether `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function isoTime(clock: Clock): string {
  const now = clock.now();
  return new Date(Number.isFinite(now) ? now : Date.now()).toISOString();
}

interface LoggerCore {
  readonly threshold: LogLevel;
  readonly sink: LineSink;
  readonly clock: Clock;
}

function format(
  core: LoggerCore,
  level: LogLevel,
  message: string,
  safeBound: () => Record<string, unknown>,
  fields: LogFields | undefined,
): string {
  const time = isoTime(core.clock);
  const safeMessage = redactString(String(message));
  try {
    // `logger.error('send failed', err)` is a common slip; keep the error rather than its
    // enumerable own properties only.
    const extra: LogFields | undefined = fields instanceof Error ? { error: fields } : fields;
    // Redaction works key by key, so the bound fields, redacted once per logger, and the line's
    // own fields, redacted here, merge to what redacting them together would give.
    const bound = safeBound();
    const safe =
      extra === undefined
        ? bound
        : { ...bound, ...(redact(extra, { includeStack: core.threshold === 'debug' }) as Record<string, unknown>) };
    const record: Record<string, unknown> = { level, time, message: safeMessage };
    // A field named `__proto__` stays a field.
    for (const key of Object.keys(safe)) setOwn(record, RESERVED.has(key) ? `field_${key}` : key, safe[key]);
    return JSON.stringify(record, jsonReplacer);
  } catch {
    // A getter or toJSON that throws past redact: keep the event, lose its fields.
    return JSON.stringify({ level, time, message: safeMessage, log_error: 'fields could not be serialized' });
  }
}

function makeLogger(core: LoggerCore, bound: LogFields): Logger {
  // Stacks carry file paths and sometimes interpolated data: only when debugging.
  let safeBound: Record<string, unknown> | undefined;
  const boundOnce = () =>
    (safeBound ??= redact(bound, { includeStack: core.threshold === 'debug' }) as Record<string, unknown>);
  const write = (level: LogLevel, message: string, fields: LogFields | undefined): void => {
    if (RANK[level] < RANK[core.threshold]) return;
    const line = format(core, level, message, boundOnce, fields);
    try {
      core.sink(line);
    } catch {
      // A broken stdout must not fail a delivery; there is nowhere left to report it.
    }
  };
  return {
    level: core.threshold,
    isEnabled: (level) => RANK[level] >= RANK[core.threshold],
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => makeLogger(core, { ...bound, ...fields }),
  };
}

/**
 * Creates a logger writing one JSON object per line:
 * `{ "level", "time" (ISO-8601), "message", ...base and bound fields, ...line fields }`.
 * Fields pass through {@link redact}: sensitive names are masked, URLs keep only their host,
 * errors become `{ name, message, ...data, cause }` (with `stack` only when the level is debug).
 * The message is masked like any string, in case a caller interpolated a URL into it.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const core: LoggerCore = {
    threshold: options.level ?? DEFAULT_LOG_LEVEL,
    sink: options.sink ?? stdoutSink,
    clock: options.clock ?? systemClock,
  };
  return makeLogger(core, options.base ?? {});
}
