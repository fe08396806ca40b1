import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../shared/ports/clock.ts';
import { createLogger, isLogLevel, LOG_LEVELS } from '../../shared/observability/logger.ts';
import type { LoggerOptions, LogLevel } from '../../shared/observability/logger.ts';
import { REDACTED } from '../../shared/observability/redact.ts';

const CANARY = 'canary-s3cr3t-VALUE-9f2b';
const NOW = Date.parse('2024-05-01T10:00:00.000Z');
const fixedClock: Clock = { now: () => NOW };

function setup(options: Omit<LoggerOptions, 'sink' | 'clock'> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', ...options, sink: (line) => lines.push(line), clock: fixedClock });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createLogger: line format', () => {
  it('writes one JSON object per call with level, ISO time, message and fields', () => {
    const { logger, lines, records } = setup();
    logger.info('delivery queued', { attempt: 1, node_id: 'webhook-1' });
    expect(lines).toHaveLength(1);
    expect(records()[0]).toEqual({
      level: 'info',
      time: '2024-05-01T10:00:00.000Z',
      message: 'delivery queued',
      attempt: 1,
      node_id: 'webhook-1',
    });
  });

  it('puts level, time and message first', () => {
    const { logger, lines } = setup();
    logger.warn('slow endpoint', { duration_ms: 2900 });
    expect(lines[0]?.startsWith('{"level":"warn","time":"2024-05-01T10:00:00.000Z","message":"slow endpoint"')).toBe(
      true,
    );
  });

  it('keeps a line on one line even when values contain newlines', () => {
    const { logger, lines } = setup();
    logger.error('multi\nline', { body: 'a\nb\r\nc' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\r\n]/);
  });

  it('renames fields that would overwrite level, time or message', () => {
    const { logger, records } = setup();
    logger.info('real message', { message: 'field message', level: 'fatal', time: 'yesterday' });
    expect(records()[0]).toMatchObject({
      level: 'info',
      time: '2024-05-01T10:00:00.000Z',
      message: 'real message',
      field_message: 'field message',
      field_level: 'fatal',
      field_time: 'yesterday',
    });
  });

  it('writes a field named __proto__ (tenant input can name fields) as a field, in order', () => {
    const { logger, lines } = setup();
    logger.info('odd', JSON.parse('{"__proto__": {"polluted": true}, "after": 1}'));
    expect(lines[0]).toContain('"message":"odd","__proto__":{"polluted":true},"after":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('writes bigint values as strings', () => {
    const { logger, records } = setup();
    logger.info('big', { size: 2n ** 70n });
    expect(records()[0]?.size).toBe('1180591620717411303424');
  });

  it('survives cyclic fields', () => {
    const { logger, records } = setup();
    const cyclic: Record<string, unknown> = { id: 'x' };
    cyclic.self = cyclic;
    logger.info('cyclic', { cyclic });
    expect(records()[0]?.cyclic).toEqual({ id: 'x', self: '[circular]' });
  });

  it('keeps the event when a field cannot be serialized', () => {
    const { logger, records } = setup();
    const hostile = {
      toJSON() {
        throw new Error('no');
      },
    };
    logger.info('still logged', { hostile });
    expect(records()[0]).toMatchObject({ level: 'info', message: 'still logged' });
  });

  it('does not throw when the sink throws', () => {
    const logger = createLogger({
      sink: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => logger.error('lost')).not.toThrow();
  });

  it('writes to stdout with a trailing newline by default', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    createLogger({ clock: fixedClock }).info('to stdout', { n: 1 });
    expect(write).toHaveBeenCalledTimes(1);
    const written = String(write.mock.calls[0]?.[0]);
    expect(written.endsWith('\n')).toBe(true);
    expect(JSON.parse(written)).toMatchObject({ level: 'info', message: 'to stdout', n: 1 });
  });
});

describe('createLogger: levels', () => {
  it.each([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['error', ['error']],
  ] as const)('at %s writes only %j', (level, expected) => {
    const { logger, records } = setup({ level });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(expected);
  });

  it('defaults to info', () => {
    const lines: string[] = [];
    const logger = createLogger({ sink: (line) => lines.push(line) });
    logger.debug('hidden');
    logger.info('shown');
    expect(lines).toHaveLength(1);
    expect(logger.level).toBe('info');
  });

  it('answers isEnabled by the threshold', () => {
    const { logger } = setup({ level: 'warn' });
    expect(LOG_LEVELS.map((l: LogLevel) => logger.isEnabled(l))).toEqual([false, false, true, true]);
  });

  it('recognises level names', () => {
    expect(LOG_LEVELS.every(isLogLevel)).toBe(true);
    expect(isLogLevel('trace')).toBe(false);
    expect(isLogLevel(undefined)).toBe(false);
  });
});

describe('createLogger: bound fields', () => {
  it('puts base fields on every line', () => {
    const { logger, records } = setup({ base: { function: 'deliver' } });
    logger.info('a');
    logger.warn('b');
    expect(records().map((r) => r.function)).toEqual(['deliver', 'deliver']);
  });

  it('binds delivery, run and node ids on every line of a child, unredacted', () => {
    const { logger, records } = setup();
    const log = logger.child({ delivery_id: 'd-123', workflow_run_id: 42, node_id: 'webhook-1' });
    log.info('attempt started', { attempt: 1 });
    log.error('attempt failed', { attempt: 1, status_code: 503 });
    for (const record of records()) {
      expect(record).toMatchObject({ delivery_id: 'd-123', workflow_run_id: 42, node_id: 'webhook-1' });
    }
  });

  it('redacts what a child binds on every line, and a line field that overrides it', () => {
    const { logger, lines, records } = setup();
    const log = logger.child({
      endpoint: `https://hooks.example.com/p/${CANARY}?k=${CANARY}`,
      authorization: CANARY,
      node_id: 'n-1',
    });
    log.info('first');
    log.info('second', { node_id: 'n-2', api_key: CANARY });
    expect(lines.join('\n')).not.toContain(CANARY);
    expect(records().map((r) => [r['endpoint'], r['authorization'], r['node_id']])).toEqual([
      ['https://hooks.example.com/[redacted]', REDACTED, 'n-1'],
      ['https://hooks.example.com/[redacted]', REDACTED, 'n-2'],
    ]);
  });

  it('lets child and line fields override what the parent bound', () => {
    const { logger, records } = setup({ base: { stage: 'base', keep: 1 } });
    const child = logger.child({ stage: 'child' });
    child.info('from child');
    child.info('from line', { stage: 'line' });
    child.child({ stage: 'grandchild' }).info('from grandchild');
    expect(records().map((r) => [r.stage, r.keep])).toEqual([
      ['child', 1],
      ['line', 1],
      ['grandchild', 1],
    ]);
  });

  it('leaves the parent unchanged when a child binds fields', () => {
    const { logger, records } = setup();
    logger.child({ delivery_id: 'd-1' });
    logger.info('parent');
    expect(records()[0]).not.toHaveProperty('delivery_id');
  });
});

describe('createLogger: redaction', () => {
  const leaks: Array<[string, Record<string, unknown>]> = [
    ['a sensitive field', { api_key: CANARY }],
    ['a nested sensitive field', { credential: { type: 'BEARER_TOKEN', token: CANARY } }],
    ['a header pair', { headers: [{ key: 'Authorization', value: CANARY }] }],
    ['a header map', { headers: { 'X-API-Key': CANARY, 'Content-Type': 'application/json' } }],
    ['a URL path', { url: `https://crm.example.com/hooks/${CANARY}` }],
    ['a URL query', { endpoint: `https://crm.example.com/?token=${CANARY}` }],
    ['a bearer string', { note: `sent Bearer ${CANARY}` }],
    ['an e-mail in text', { note: `${CANARY}@example.com bounced` }],
    ['an error message URL', { error: new Error(`GET https://crm.example.com/${CANARY} failed`) }],
    ['an error data field', { error: Object.assign(new Error('denied'), { password: CANARY }) }],
    ['an error cause', { error: new Error('outer', { cause: { secret: CANARY } }) }],
    ['a payload with PII', { payload: { customer: { phone_number: CANARY, email: CANARY } } }],
  ];

  it.each(leaks)('never writes the canary from %s', (_what, fields) => {
    const { logger, lines } = setup();
    logger.error('failed', fields);
    logger.child(fields).info('bound');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain(CANARY);
  });

  it('masks URLs interpolated into the message', () => {
    const { logger, records, lines } = setup();
    logger.info(`POST https://crm.example.com/hooks/${CANARY} answered 500`);
    expect(records()[0]?.message).toBe(`POST https://crm.example.com/${REDACTED} answered 500`);
    expect(lines[0]).not.toContain(CANARY);
  });

  it('redacts the fields of a child as it does line fields', () => {
    const { logger, records } = setup();
    logger.child({ token: CANARY, node_id: 'webhook-1' }).info('x');
    expect(records()[0]).toMatchObject({ token: REDACTED, node_id: 'webhook-1' });
  });
});

describe('createLogger: errors', () => {
  class TransientError extends Error {
    readonly status: number;
    readonly retryAfterSeconds: number;
    constructor(message: string, status: number, retryAfterSeconds: number) {
      super(message);
      this.name = 'TransientError';
      this.status = status;
      this.retryAfterSeconds = retryAfterSeconds;
    }
  }

  it('serializes an error field as name, message and its data fields, without a stack above debug', () => {
    const { logger, records } = setup({ level: 'info' });
    logger.error('attempt failed', { error: new TransientError('endpoint answered 503', 503, 30) });
    expect(records()[0]?.error).toEqual({
      name: 'TransientError',
      message: 'endpoint answered 503',
      status: 503,
      retryAfterSeconds: 30,
    });
  });

  it('adds the stack only when the logger is at debug', () => {
    const { logger, records } = setup({ level: 'debug' });
    logger.error('attempt failed', { error: new Error('boom') });
    const error = records()[0]?.error as Record<string, unknown>;
    expect(typeof error.stack).toBe('string');
    expect(error.stack).toContain('logger.test.ts');
  });

  it('keeps the cause chain', () => {
    const { logger, records } = setup({ level: 'info' });
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    logger.warn('network', { error: new TypeError('fetch failed', { cause }) });
    expect(records()[0]?.error).toEqual({
      name: 'TypeError',
      message: 'fetch failed',
      cause: { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9', code: 'ECONNREFUSED' },
    });
  });

  it('keeps an error passed in place of the fields', () => {
    const { logger, records } = setup({ level: 'info' });
    logger.error('oops', new Error('direct') as unknown as Record<string, unknown>);
    expect(records()[0]?.error).toEqual({ name: 'Error', message: 'direct' });
  });
});
