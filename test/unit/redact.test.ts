import { describe, expect, it } from 'vitest';
import {
  CIRCULAR,
  REDACTED,
  TOO_DEEP,
  TRUNCATED,
  redact,
  redactString,
  redactText,
} from '../../shared/observability/redact.ts';

// Redaction by string shape (redact-shapes.ts), the walker over structures, and response snippets.

const CANARY = 'canary-s3cr3t-VALUE-9f2b';

describe('redact: string shapes', () => {
  it('keeps only scheme, host and port of a URL value', () => {
    expect(redact({ endpoint: 'https://crm.example.com:8443/hooks/123?api_key=abc#frag' })).toEqual({
      endpoint: `https://crm.example.com:8443/${REDACTED}`,
    });
  });

  it('drops user info from a URL', () => {
    const out = JSON.stringify(redact({ url: 'https://admin:hunter2@crm.example.com/x' }));
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('admin');
    expect(out).toContain('https://crm.example.com');
  });

  it('leaves a bare origin as it is', () => {
    expect(redact('https://crm.example.com')).toBe('https://crm.example.com');
    expect(redact('http://crm.example.com/')).toBe('http://crm.example.com');
  });

  it('masks the whole of a URL with spaces in its path', () => {
    expect(redact('https://crm.example.com/a b/secret part')).toBe(`https://crm.example.com/${REDACTED}`);
  });

  it('masks URLs inside longer text', () => {
    expect(redact('POST https://crm.example.com/hooks/7?sig=abc failed')).toBe(
      `POST https://crm.example.com/${REDACTED} failed`,
    );
  });

  it('hides everything but the scheme of a non-http URL', () => {
    expect(redact('postgres://user:pw@db.internal:5432/app')).toBe(`postgres://${REDACTED}`);
  });

  it('fully redacts a URL that does not parse', () => {
    expect(redact('https://[::1/x?token=1')).toBe(REDACTED);
    expect(redact('https://exa mple.com/x?token=1')).toBe(REDACTED);
  });

  it('masks bearer credentials in any case', () => {
    expect(redact(`Bearer ${CANARY}`)).toBe(`Bearer ${REDACTED}`);
    expect(redact(`header was bearer ${CANARY}.x`)).toBe(`header was bearer ${REDACTED}`);
  });

  it('masks basic credentials but not the English word', () => {
    const basic = Buffer.from('ops:hunter2').toString('base64');
    expect(redact(`Basic ${basic}`)).toBe(`Basic ${REDACTED}`);
    expect(redact('Basic configuration is missing')).toBe('Basic configuration is missing');
  });

  it('redacts an llm_token while LLM token counts stay readable', () => {
    const out = JSON.stringify(
      redact({ llm_token: 'sk-live-4f9a1c2b3d', cost_info: { prompt_tokens: 900, llm_tokens: 1200 } }),
    );
    expect(out).not.toContain('sk-live');
    expect(out).toBe(`{"llm_token":"${REDACTED}","cost_info":{"prompt_tokens":900,"llm_tokens":1200}}`);
  });

  it('masks JWTs anywhere in a string', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl';
    expect(redact(`got ${jwt} back`)).toBe(`got ${REDACTED} back`);
  });

  it('masks every JWT after hostile near-misses, and a JWT cut after its payload, but not one inside a word', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl';
    expect(redactString(`${'-eyJ'.repeat(50)} ${jwt},${jwt}`)).toBe(`${'-eyJ'.repeat(50)} ${REDACTED},${REDACTED}`);
    expect(redactString('eyJa.eyJb eyJa.eyJb.')).toBe(`eyJa.eyJb ${REDACTED}`);
    expect(redactString(`x${jwt}`)).toBe(`x${jwt}`);
    expect(redactString(`-${jwt}`)).toBe(`-${REDACTED}`);
  });

  it('masks sensitive key=value and "key": "value" pairs inside text', () => {
    expect(redact(`access_token=${CANARY}&token_type=bearer`)).toBe(`access_token=${REDACTED}&token_type=bearer`);
    expect(redact(`body {"password": "${CANARY} with spaces", "status": "ok"}`)).toBe(
      `body {"password": "${REDACTED}", "status": "ok"}`,
    );
  });

  it('masks e-mail addresses inside text', () => {
    expect(redact('no mailbox for ada.lovelace+crm@example.co.uk here')).toBe(`no mailbox for ${REDACTED} here`);
  });

  it('leaves ordinary text, numbers and ids alone', () => {
    const input = { message: 'endpoint answered 503', count: 3, ok: false, id: 'run-42:webhook-1' };
    expect(redact(input)).toEqual(input);
  });

  it('masks a URL object as it would serialize', () => {
    expect(redact({ target: new URL('https://crm.example.com/a?b=c') })).toEqual({
      target: `https://crm.example.com/${REDACTED}`,
    });
  });

  it('is idempotent', () => {
    const input = { url: 'https://a.example.com/x', auth: 'Bearer abc', note: 'mail a@b.example.com' };
    const once = redact(input);
    expect(redact(once)).toEqual(once);
  });
});

describe('redact: structure', () => {
  it('returns a copy and leaves the input untouched', () => {
    const input = { token: CANARY, nested: { list: [{ email: 'a@b.example.com' }] } };
    const snapshot = structuredClone(input);
    const out = redact(input) as typeof input;
    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
    expect(out.nested).not.toBe(input.nested);
  });

  it('keeps array lengths and nesting', () => {
    const input = { matrix: [[1, 2], [], [{ secret: 'x' }, 'y', null]] };
    expect(redact(input)).toEqual({ matrix: [[1, 2], [], [{ secret: REDACTED }, 'y', null]] });
  });

  it('replaces a self-reference with a marker instead of recursing forever', () => {
    const node: Record<string, unknown> = { id: 'n1' };
    node.self = node;
    node.children = [node];
    expect(redact(node)).toEqual({ id: 'n1', self: CIRCULAR, children: [CIRCULAR] });
  });

  it('handles a cycle through several objects', () => {
    const a: Record<string, unknown> = { name: 'a' };
    const b: Record<string, unknown> = { name: 'b', a };
    a.b = b;
    expect(redact(a)).toEqual({ name: 'a', b: { name: 'b', a: CIRCULAR } });
  });

  it('copies a shared reference that is not a cycle', () => {
    const shared = { status: 'ok' };
    expect(redact({ first: shared, second: shared })).toEqual({ first: { status: 'ok' }, second: { status: 'ok' } });
  });

  it('stops at the depth limit', () => {
    const deep = { a: { b: { c: { d: 1 } } } };
    expect(redact(deep, { maxDepth: 2 })).toEqual({ a: { b: TOO_DEEP } });
  });

  it('ends a chain of toJSON results that return fresh objects at the depth limit', () => {
    const chain = (): unknown => ({ toJSON: chain });
    expect(() => JSON.stringify(redact({ value: chain() }))).not.toThrow();
  });

  it('keeps a 200,000-level response body to the depth limit, so a snippet can be serialized', () => {
    const body = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(redactText(body, 512)).toContain(TOO_DEEP);
  });

  it('survives a very deep structure with the default limit', () => {
    let deep: Record<string, unknown> = { leaf: CANARY };
    for (let i = 0; i < 10_000; i++) deep = { next: deep };
    expect(() => JSON.stringify(redact(deep))).not.toThrow();
  });

  it('serializes errors with data fields and cause, without the stack by default', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', port: 443 });
    const err = Object.assign(new Error('POST https://crm.example.com/hooks/1 failed', { cause: inner }), {
      status: 503,
      token: CANARY,
    });
    const out = redact(err) as Record<string, unknown>;
    expect(out).toEqual({
      name: 'Error',
      message: `POST https://crm.example.com/${REDACTED} failed`,
      status: 503,
      token: REDACTED,
      cause: { name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED', port: 443 },
    });
  });

  it('keeps a masked stack when asked', () => {
    const err = new Error(`fetch https://crm.example.com/${CANARY}`);
    const out = redact(err, { includeStack: true }) as Record<string, unknown>;
    expect(typeof out.stack).toBe('string');
    expect(out.stack).toContain('redact.test.ts');
    expect(out.stack).not.toContain(CANARY);
  });

  it('keeps the errors of an AggregateError', () => {
    const out = redact(new AggregateError([new Error('one'), new TypeError('two')], 'both')) as Record<string, unknown>;
    expect(out.errors).toEqual([
      { name: 'Error', message: 'one' },
      { name: 'TypeError', message: 'two' },
    ]);
  });

  it('converts dates, maps, sets and binary data to plain data', () => {
    const out = redact({
      at: new Date('2024-05-01T10:00:00Z'),
      map: new Map<string, unknown>([
        ['status', 'ok'],
        ['password', CANARY],
      ]),
      set: new Set(['a', 'b']),
      body: Buffer.from('raw bytes'),
    });
    expect(out).toEqual({
      at: '2024-05-01T10:00:00.000Z',
      map: { status: 'ok', password: REDACTED },
      set: ['a', 'b'],
      body: '[binary 9 bytes]',
    });
  });

  it('keeps a __proto__ key as data', () => {
    const parsed = JSON.parse('{"__proto__": {"token": "x"}, "ok": 1}') as unknown;
    const out = redact(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'ok']);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"token":"[redacted]"},"ok":1}');
  });

  it('survives a getter that throws', () => {
    const hostile = {
      ok: 1,
      get broken(): never {
        throw new Error('nope');
      },
    };
    expect(redact(hostile)).toEqual({ ok: 1, broken: '[unreadable]' });
  });
});

describe('redactString', () => {
  it('masks a URL interpolated into a message', () => {
    expect(redactString('sending to https://crm.example.com/hooks/abc')).toBe(
      `sending to https://crm.example.com/${REDACTED}`,
    );
  });
});

describe('redactText', () => {
  it('redacts a JSON body structurally and re-serializes it', () => {
    const body = JSON.stringify({
      error: 'invalid token',
      access_token: CANARY,
      user: { email: 'ada@example.com', id: 7 },
      next: 'https://api.example.com/v1/page?cursor=abc',
    });
    expect(JSON.parse(redactText(body, 10_000))).toEqual({
      error: 'invalid token',
      access_token: REDACTED,
      user: { email: REDACTED, id: 7 },
      next: `https://api.example.com/${REDACTED}`,
    });
  });

  it('masks digit runs in JSON strings too', () => {
    const out = redactText('{"detail":"card 4111 1111 1111 1111 declined"}', 1000);
    expect(out).toBe(`{"detail":"card ${REDACTED} declined"}`);
  });

  it('masks URLs, e-mails, credentials and pairs in plain text', () => {
    const text = [
      `<h1>401</h1> see https://crm.example.com/login?next=/${CANARY}`,
      `contact ops@example.com`,
      `Authorization: Bearer ${CANARY}`,
      `api_key=${CANARY}`,
    ].join('\n');
    const out = redactText(text, 10_000);
    expect(out).not.toContain(CANARY);
    expect(out).not.toContain('ops@example.com');
    expect(out).toContain('https://crm.example.com/');
    expect(out).toContain('<h1>401</h1>');
  });

  it.each([
    ['+1 (555) 123-4567'],
    ['+91 98765 43210'],
    ['4111 1111 1111 1111'],
    ['4111-1111-1111-1111'],
    ['5551234567'],
  ])('masks the digit run %s', (digits) => {
    expect(redactText(`number ${digits} on file`, 1000)).toBe(`number ${REDACTED} on file`);
  });

  it('keeps timestamps, UUIDs, IP addresses and short numbers', () => {
    const text = 'at 2024-05-01 10:00:00 id 123e4567-e89b-12d3-a456-426614174000 from 192.168.100.200 code 503';
    expect(redactText(text, 1000)).toBe(text);
  });

  it('masks a JSON body cut mid-string, which no longer parses', () => {
    expect(redactText(`{"status":"error","token":"${CANARY}`, 1000)).toBe(`{"status":"error","token":"${REDACTED}"`);
  });

  it('returns short text unchanged when nothing is sensitive', () => {
    expect(redactText('Service Unavailable', 100)).toBe('Service Unavailable');
  });

  it('truncates to maxBytes with a marker', () => {
    const out = redactText('x'.repeat(500), 64);
    expect(Buffer.byteLength(out)).toBe(64);
    expect(out.endsWith(TRUNCATED)).toBe(true);
  });

  it('never splits a multi-byte character and never exceeds maxBytes', () => {
    const text = 'é€😀a'.repeat(40);
    for (let max = 0; max <= Buffer.byteLength(text) + 2; max++) {
      const out = redactText(text, max);
      expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max);
      expect(out).not.toContain('\uFFFD');
      const kept = out.endsWith(TRUNCATED) ? out.slice(0, -TRUNCATED.length) : out;
      expect(text.startsWith(kept)).toBe(true);
    }
  });

  it('masks before cutting, so a secret at the cut is not half-shown', () => {
    // Cut first, the limit would fall inside the token and `Bearer canary-s3` would survive
    // (a partial token no longer looks like one to a pattern applied afterwards).
    const text = `${'a'.repeat(10)} Bearer ${CANARY} ${'z'.repeat(40)}`;
    const out = redactText(text, 50);
    expect(out).toBe(`${'a'.repeat(10)} Bearer ${REDACTED} ${'z'.repeat(7)}${TRUNCATED}`);
    expect(out).not.toContain(CANARY.slice(0, 4));
  });
});
