import { describe, expect, it } from 'vitest';
import { deliveryMessageSchema, safeParseDeliveryMessage } from '../../shared/domain/delivery.ts';
import { problemsFrom, safeParse } from '../../shared/schemas/issues.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// safeParseDeliveryMessage checks a well-formed message by hand and leaves the rest to the schema:
// for every value, it must answer exactly as the schema does (same data, key order included; same problems).
function bySchema(value: unknown) {
  const parsed = safeParse(deliveryMessageSchema(), value);
  return parsed.success
    ? { data: JSON.stringify(parsed.data), value: parsed.data }
    : { problems: problemsFrom(parsed.error) };
}
function byHandCheck(value: unknown) {
  const parsed = safeParseDeliveryMessage(value);
  return parsed.success
    ? { data: JSON.stringify(parsed.data), value: parsed.data }
    : { problems: problemsFrom(parsed.error) };
}

/** A message as the queue carries it: JSON text, parsed. */
function fromJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

const base = fromJson(makeDeliveryMessage(1)) as Record<string, unknown>;
const baseRetry = base.retry as Record<string, unknown>;

/** Values to put in a field: every kind JSON has, and the edges of the fields' ranges. */
const VALUES: unknown[] = [
  null,
  true,
  0,
  1,
  -1,
  1.5,
  25,
  26,
  30,
  31,
  3600,
  43_200,
  43_201,
  2 ** 53,
  Number.POSITIVE_INFINITY,
  '',
  'x',
  'POST',
  'TRACE',
  'exponential',
  'fixed',
  'missing',
  [],
  ['x'],
  {},
  { a: 'b' },
  { a: 1 },
];

function withField(record: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  return { ...record, [key]: value };
}
function withoutField(record: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _, ...rest } = record;
  return rest;
}

const KEYS = [
  'v',
  'delivery_id',
  'organization_id',
  'workflow_id',
  'workflow_run_id',
  'node_id',
  'node_name',
  'method',
  'url',
  'headers',
  'body',
  'credential_uuid',
  'signing_credential_uuid',
  'empty_placeholders',
  'retry',
  'timeout_seconds',
  'rendered_at',
  'extra',
];
const RETRY_KEYS = ['max_attempts', 'backoff', 'initial_delay_seconds', 'max_delay_seconds', 'extra'];

const valid: [string, unknown][] = [
  ['the render function’s message', base],
  ['with a signing secret', withField(base, 'signing_credential_uuid', 'sig-1')],
  ['with a null signing secret', withField(base, 'signing_credential_uuid', null)],
  [
    'with empty placeholders (extra fields dropped)',
    withField(base, 'empty_placeholders', [
      { field: 'data.payload_template', placeholder: '{{a}}', reason: 'missing', extra: 1 },
      { field: 'data.url', placeholder: '{{b}}', reason: 'null' },
    ]),
  ],
  ['with no empty placeholders', withField(base, 'empty_placeholders', [])],
  ['with a timeout', withField(base, 'timeout_seconds', 30)],
  ['with a GET and no body', { ...base, method: 'GET', body: null }],
  ['with no headers', withField(base, 'headers', {})],
  ['with unknown fields (dropped)', { ...base, extra: { a: 1 }, later_field: 'x' }],
  ['with the retry defaults', withField(base, 'retry', { max_attempts: 1 })],
  ['with only max_delay_seconds', withField(base, 'retry', { max_attempts: 2, max_delay_seconds: 10 })],
  ['with a fixed backoff', withField(base, 'retry', { ...baseRetry, backoff: 'fixed' })],
  [
    'with a first delay equal to the cap',
    withField(base, 'retry', { max_attempts: 2, initial_delay_seconds: 10, max_delay_seconds: 10 }),
  ],
];

const invalid: [string, unknown][] = [
  ['null', null],
  ['a list', [base]],
  ['a text', 'x'],
  ['an empty object', {}],
  ['a later version', withField(base, 'v', 2)],
  [
    'a first delay past the cap',
    withField(base, 'retry', { max_attempts: 2, initial_delay_seconds: 11, max_delay_seconds: 10 }),
  ],
  ['a first delay past the default cap', withField(base, 'retry', { max_attempts: 2, initial_delay_seconds: 3601 })],
  ['a header that is not text', withField(base, 'headers', { 'X-A': 1 })],
  [
    'an empty placeholder with an unknown reason',
    withField(base, 'empty_placeholders', [{ field: 'f', placeholder: 'p', reason: 'other' }]),
  ],
  ['an empty placeholder that is not an object', withField(base, 'empty_placeholders', ['x'])],
  ['a number too large for JSON', JSON.parse(JSON.stringify(base).replace('"workflow_id":7', '"workflow_id":1e400'))],
];

describe('safeParseDeliveryMessage answers as the delivery message schema does', () => {
  it.each(valid)('accepts %s, with the schema’s output', (_, value) => {
    const expected = bySchema(value);
    expect(expected.problems).toBeUndefined();
    expect(byHandCheck(value)).toStrictEqual(expected);
  });

  it.each(invalid)('refuses %s, with the schema’s problems', (_, value) => {
    const expected = bySchema(value);
    expect(expected.problems).toBeDefined();
    expect(byHandCheck(value)).toStrictEqual(expected);
  });

  it('agrees on every field left out or set to any kind of value', () => {
    const cases: unknown[] = [];
    for (const key of KEYS) {
      cases.push(withoutField(base, key));
      for (const value of VALUES) cases.push(withField(base, key, value));
    }
    for (const key of RETRY_KEYS) {
      cases.push(withField(base, 'retry', withoutField(baseRetry, key)));
      for (const value of VALUES) cases.push(withField(base, 'retry', withField(baseRetry, key, value)));
      for (const value of VALUES) cases.push(withField(base, 'retry', withField({ max_attempts: 2 }, key, value)));
    }
    for (const key of ['field', 'placeholder', 'reason']) {
      const entry = { field: 'f', placeholder: 'p', reason: 'null' };
      for (const value of VALUES) cases.push(withField(base, 'empty_placeholders', [withField(entry, key, value)]));
    }
    for (const value of VALUES) cases.push(withField(base, 'headers', { 'X-A': value }));
    let accepted = 0;
    for (const value of cases) {
      const expected = bySchema(value);
      if (expected.problems === undefined) accepted++;
      expect(byHandCheck(value), JSON.stringify(value)).toStrictEqual(expected);
    }
    // Both sides of the line are exercised.
    expect(accepted).toBeGreaterThan(50);
    expect(cases.length - accepted).toBeGreaterThan(200);
  });

  it('leaves what it is unsure of to the schema (an undefined field, a prototype, a symbol key, a __proto__ header)', () => {
    const odd: unknown[] = [
      { ...base, signing_credential_uuid: undefined },
      { ...base, timeout_seconds: undefined },
      { ...base, retry: { ...baseRetry, backoff: undefined } },
      Object.assign(Object.create({ inherited: 1 }), base),
      { ...base, headers: { [Symbol('s')]: 'x' } },
      { ...base, headers: new Map() },
      { ...base, headers: Object.create(null) },
      { ...base, empty_placeholders: [Object.create(null)] },
      { ...base, headers: JSON.parse('{"__proto__":"x","X-A":"b"}') },
      { ...base, headers: { constructor: 'x' } },
    ];
    for (const value of odd) expect(byHandCheck(value)).toStrictEqual(bySchema(value));
  });
});
