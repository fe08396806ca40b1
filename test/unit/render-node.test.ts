import { describe, expect, it } from 'vitest';
import { checkHeader, dropReason } from '../../shared/domain/headers.ts';
import { renderNode } from '../../shared/domain/render-node.ts';
import { FIXED_NOW, makeContext, makeNode, type NodeDataJson } from '../fixtures/factories.ts';
import { templateError } from '../fixtures/errors.ts';

const CONTEXT = { ...makeContext(), multi: 'line one\r\nInjected: yes', lf: 'a\nb', nul: 'a\u0000b', unicode: 'Zoë' };

function render(data: NodeDataJson = {}, context: Record<string, unknown> = CONTEXT) {
  return renderNode(makeNode({ data }), context, FIXED_NOW);
}

describe('renderNode', () => {
  it('renders method, URL, headers and body in one call', () => {
    expect(render()).toEqual({
      method: 'POST',
      url: 'https://crm.example.com/hooks/77',
      headers: { 'X-Source': 'dograh' },
      body: JSON.stringify({
        run_id: '1234',
        customer: 'Ada Lovelace',
        outcome: 'refund issued',
        recording: 'https://recordings.example.com/runs/1234.mp3',
        call_disposition: 'resolved',
      }),
      droppedHeaders: [],
      emptyPlaceholders: [],
      warnings: [],
    });
  });

  it('gives the body as JSON text', () => {
    expect(JSON.parse(render({ payload_template: { n: 1, list: ['{{workflow_id}}'] } }).body as string)).toEqual({
      n: 1,
      list: ['77'],
      call_disposition: 'resolved',
    });
  });

  it('sends a null payload template as an object with call_disposition', () => {
    expect(render({ payload_template: null }).body).toBe('{"call_disposition":"resolved"}');
  });

  it('sends an array payload without call_disposition', () => {
    expect(render({ payload_template: ['{{workflow_run_id}}'] }).body).toBe('["1234"]');
  });

  it('sends a string payload as a JSON string', () => {
    expect(render({ payload_template: 'run {{workflow_run_id}}' }).body).toBe('"run 1234"');
  });

  it('defaults the method to POST', () => {
    expect(render({ http_method: undefined }).method).toBe('POST');
  });

  it('accepts a lower-case method', () => {
    expect(render({ http_method: 'put' }).method).toBe('PUT');
  });

  it.each(['POST', 'PUT', 'PATCH'])('sends a body with %s', (method) => {
    expect(render({ http_method: method }).body).not.toBeNull();
  });

  it.each(['GET', 'DELETE'])('sends no body with %s', (method) => {
    const rendered = render({ http_method: method });
    expect(rendered.method).toBe(method);
    expect(rendered.body).toBeNull();
  });

  it('does not render the payload template of a GET, which sends no body', () => {
    expect(render({ http_method: 'GET', payload_template: { bad: '{{ not a path }}' } }).body).toBeNull();
  });

  it('percent-encodes URL values', () => {
    expect(render({ endpoint_url: 'https://crm.example.com/c/{{initial_context.customer_name}}' }).url).toBe(
      'https://crm.example.com/c/Ada%20Lovelace',
    );
  });

  it('names data.endpoint_url when the URL cannot be built', () => {
    const error = templateError(() => render({ endpoint_url: 'https://crm.example.com/{{ missing }}' }));
    expect(error.path).toBe('data.endpoint_url');
    expect(error.reason).toContain('{{ missing }} has no value');
  });

  it('renders text that is no placeholder as it is, as Dograh does', () => {
    expect(
      JSON.parse(render({ payload_template: { customer: { name: '{{ a b }}' } } }).body as string).customer.name,
    ).toBe('{{ a b }}');
  });

  it('renders an unknown time zone as missing and returns a warning naming the template', () => {
    const rendered = render({ payload_template: { at: '[{{current_time_Nowhere/City}}]' } });
    expect(JSON.parse(rendered.body as string).at).toBe('[]');
    expect(rendered.warnings).toEqual([
      'data.payload_template: unknown time zone "Nowhere/City" in a current_time or current_weekday built-in: rendered as missing',
    ]);
  });

  it('fails with "payload too large" as soon as the output passes the limit', () => {
    const node = makeNode({ data: { payload_template: { copies: Array.from({ length: 7000 }, () => '{{big}}') } } });
    const error = templateError(() =>
      renderNode(node, { ...CONTEXT, big: 'y'.repeat(60_000) }, FIXED_NOW, { maxChars: 256 * 1024 }),
    );
    expect(error.path).toBe('data.payload_template.copies.4');
    expect(error.reason).toMatch(/^payload too large/);
  });

  it("keeps a lone placeholder's JSON type in typed mode", () => {
    const rendered = render({
      template_mode: 'typed',
      payload_template: { id: '{{workflow_run_id}}', text: 'run {{workflow_run_id}}', none: '{{missing}}' },
    });
    expect(JSON.parse(rendered.body as string)).toEqual({
      id: 1234,
      text: 'run 1234',
      none: null,
      call_disposition: 'resolved',
    });
  });

  it('does not change the node it renders', () => {
    const node = makeNode();
    const before = JSON.stringify(node);
    renderNode(node, CONTEXT, FIXED_NOW);
    expect(JSON.stringify(node)).toBe(before);
  });

  it('renders the built-ins at the instant it is given', () => {
    const rendered = render({ payload_template: { at: '{{current_time}}', day: '{{current_weekday}}' } });
    expect(JSON.parse(rendered.body as string)).toMatchObject({ at: '2026-11-27 09:30:00 UTC', day: 'Friday' });
  });
});

describe('custom headers', () => {
  it('renders placeholders in header values', () => {
    expect(render({ custom_headers: [{ key: 'X-Run', value: 'run-{{workflow_run_id}}' }] }).headers).toEqual({
      'X-Run': 'run-1234',
    });
  });

  it('uses the default in a header value', () => {
    expect(render({ custom_headers: [{ key: 'X-Who', value: '{{ missing | nobody }}' }] }).headers).toEqual({
      'X-Who': 'nobody',
    });
  });

  it('sends a missing header value as empty', () => {
    expect(render({ custom_headers: [{ key: 'X-Who', value: '{{ missing }}' }] }).headers).toEqual({ 'X-Who': '' });
  });

  it('does not percent-encode header values', () => {
    expect(render({ custom_headers: [{ key: 'X-Name', value: '{{initial_context.customer_name}}' }] }).headers).toEqual(
      {
        'X-Name': 'Ada Lovelace',
      },
    );
  });

  it('trims spaces around a header name', () => {
    expect(render({ custom_headers: [{ key: '  X-Source  ', value: 'v' }] }).headers).toEqual({ 'X-Source': 'v' });
  });

  it('sends no headers when the node has none', () => {
    expect(render({ custom_headers: undefined }).headers).toEqual({});
  });

  it('keeps \\n in a header template as the two characters', () => {
    expect(render({ custom_headers: [{ key: 'X-Note', value: 'a\\nb' }] }).headers).toEqual({ 'X-Note': 'a\\nb' });
  });

  it('keeps several headers in order', () => {
    const headers = render({
      custom_headers: [
        { key: 'X-A', value: '1' },
        { key: 'X-B', value: '2' },
      ],
    }).headers;
    expect(Object.entries(headers)).toEqual([
      ['X-A', '1'],
      ['X-B', '2'],
    ]);
  });

  it('rejects a value with CR LF from the context, naming the header field', () => {
    const error = templateError(() =>
      render({
        custom_headers: [
          { key: 'X-Ok', value: 'x' },
          { key: 'X-Note', value: '{{ multi }}' },
        ],
      }),
    );
    expect(error.path).toBe('data.custom_headers.1');
    expect(error.reason).toBe('the value of header "X-Note" contains a line break or NUL');
  });

  it('rejects a value with a bare LF', () => {
    expect(templateError(() => render({ custom_headers: [{ key: 'X-Note', value: '{{ lf }}' }] })).reason).toContain(
      'line break',
    );
  });

  it('rejects a value with NUL', () => {
    expect(templateError(() => render({ custom_headers: [{ key: 'X-Note', value: '{{ nul }}' }] })).reason).toContain(
      'NUL',
    );
  });

  it('rejects a CR LF written in the header template', () => {
    expect(templateError(() => render({ custom_headers: [{ key: 'X-Note', value: 'a\r\nX-Evil: 1' }] })).path).toBe(
      'data.custom_headers.0',
    );
  });

  it('rejects an invalid header name', () => {
    const error = templateError(() => render({ custom_headers: [{ key: 'X Bad', value: 'v' }] }));
    expect(error.path).toBe('data.custom_headers.0');
    expect(error.reason).toBe('"X Bad" is not a valid header name');
  });

  it('rejects a header name with a colon', () => {
    expect(templateError(() => render({ custom_headers: [{ key: 'X-A: b', value: 'v' }] })).reason).toContain(
      'not a valid header name',
    );
  });

  it('sends header text that is no placeholder as written', () => {
    expect(render({ custom_headers: [{ key: 'X-A', value: '{{ no good }}' }] }).headers['X-A']).toBe('{{ no good }}');
  });

  it.each([
    'Authorization',
    'authorization',
    'Proxy-Authorization',
    'X-Authorisation',
    'Cookie',
    'Set-Cookie',
    'X-Api-Key',
    'X-API_KEY',
    'apikey',
    'X-Auth-Token',
    'X-Secret',
    'X-Client-Secret',
    'Password',
    'X-Passwd',
    'X-Signature',
    'X-Private-Key',
    'X-Session-Id',
    'X-Credential',
  ])('drops the secret-like header %s', (name) => {
    const rendered = render({ custom_headers: [{ key: name, value: 'hunter2' }] });
    expect(rendered.headers).toEqual({});
    expect(rendered.droppedHeaders).toEqual([{ name, reason: 'looks like a secret: put it in a credential' }]);
  });

  it('never puts a dropped header value in the result', () => {
    const rendered = render({ custom_headers: [{ key: 'Authorization', value: 'Bearer hunter2' }] });
    expect(JSON.stringify(rendered)).not.toContain('hunter2');
  });

  it('drops a secret-like header without rendering its template', () => {
    expect(render({ custom_headers: [{ key: 'X-Token', value: '{{ not a path }}' }] }).droppedHeaders).toHaveLength(1);
  });

  it.each(['Host', 'Content-Length', 'content-type', 'Transfer-Encoding', 'Connection'])(
    'drops the transport header %s',
    (name) => {
      const rendered = render({ custom_headers: [{ key: name, value: 'x' }] });
      expect(rendered.headers).toEqual({});
      expect(rendered.droppedHeaders).toEqual([{ name, reason: 'set by the transport' }]);
    },
  );

  it.each(['X-Dograh-Delivery-Id', 'x-dograh-delivery-attempt', 'X-Dograh-Anything'])(
    'drops the delivery system header %s',
    (name) => {
      expect(render({ custom_headers: [{ key: name, value: 'x' }] }).droppedHeaders).toEqual([
        { name, reason: 'X-Dograh-* headers are set by the delivery system' },
      ]);
    },
  );

  it('keeps the other headers when one is dropped', () => {
    const rendered = render({
      custom_headers: [
        { key: 'Authorization', value: 'x' },
        { key: 'X-Source', value: 'dograh' },
      ],
    });
    expect(rendered.headers).toEqual({ 'X-Source': 'dograh' });
    expect(rendered.droppedHeaders.map((d) => d.name)).toEqual(['Authorization']);
  });

  it.each(['X-Auth', 'X-Custom-Auth', 'X-Custom-Auth-Token', 'Proxy-Authorization', 'X-Access-Key', 'X-Access_Key'])(
    "drops %s as Dograh does: its name carries one of Dograh's secret markers",
    (name) => {
      const rendered = render({
        custom_headers: [
          { key: name, value: 'x' },
          { key: 'X-Source', value: 'dograh' },
        ],
      });
      expect(rendered.headers).toEqual({ 'X-Source': 'dograh' });
      expect(rendered.droppedHeaders).toEqual([{ name, reason: 'looks like a secret: put it in a credential' }]);
    },
  );

  it.each(['X-Source', 'Accept', 'X-Tenant', 'X-Request-Id', 'User-Agent', 'X-Idempotency-Key'])(
    'keeps the ordinary header %s',
    (name) => {
      expect(dropReason(name)).toBeUndefined();
    },
  );
});

describe('checkHeader', () => {
  it('accepts a token name and a plain value', () => {
    expect(() => checkHeader('X-Fine', 'value with spaces and ünïcode', 'h')).not.toThrow();
  });

  it('throws InvalidTemplateError with the path it is given', () => {
    const error = templateError(() => checkHeader('X-A', 'a\rb', 'data.custom_headers.3'));
    expect(error.path).toBe('data.custom_headers.3');
  });
});
