import { describe, expect, it } from 'vitest';
import { checkNodeTemplates, droppedHeaderWarnings, templateWarnings } from '../../shared/templates/check.ts';
import { makeNode } from '../fixtures/factories.ts';

// What `webhooks validate` can say about a node's templates before any run exists.

describe('checkNodeTemplates', () => {
  it('finds nothing wrong with a good node', () => {
    expect(checkNodeTemplates(makeNode())).toEqual([]);
  });

  it('needs no context: missing values are not problems yet', () => {
    expect(checkNodeTemplates(makeNode({ data: { endpoint_url: 'https://h.example/{{ not.in.any.run }}' } }))).toEqual(
      [],
    );
  });

  it('reports unbalanced braces in endpoint_url, as Dograh refuses them', () => {
    expect(
      checkNodeTemplates(makeNode({ id: 'n', data: { endpoint_url: 'https://h.example/{{ workflow_id' } })),
    ).toEqual([{ source: 'n', path: 'data.endpoint_url', reason: 'the URL template has a "{{" without its "}}"' }]);
  });

  it('reports a nested {{{{ in endpoint_url', () => {
    expect(
      checkNodeTemplates(makeNode({ id: 'n', data: { endpoint_url: 'https://h.example/{{{{a}}}}' } })).map(
        (p) => p.reason,
      ),
    ).toEqual(['the URL template nests "{{" inside "{{"']);
  });

  it('reports no error for payload or header text: Dograh renders any of it', () => {
    const node = makeNode({
      data: {
        custom_headers: [{ key: 'X-A', value: '{{= it }}' }],
        payload_template: { '{{ }}': ['{{ constructor }}', '{{ a b }}', '{{}}'] },
      },
    });
    expect(checkNodeTemplates(node)).toEqual([]);
  });

  it('reports a payload template nested deeper than the limit', () => {
    let template: unknown = 'x';
    for (let i = 0; i < 100; i++) template = [template];
    expect(checkNodeTemplates(makeNode({ data: { payload_template: template as never } }))).toEqual([
      {
        source: 'webhook-1',
        path: 'data.payload_template',
        reason: 'the template is nested deeper than 64 levels of objects and arrays',
      },
    ]);
  });

  it('reports every problem of a node, not only the first', () => {
    let template: unknown = 'x';
    for (let i = 0; i < 100; i++) template = { a: template };
    const node = makeNode({
      data: {
        endpoint_url: 'https://h.example/}}',
        custom_headers: [{ key: 'X A', value: 'v' }],
        payload_template: template as never,
      },
    });
    expect(checkNodeTemplates(node).map((p) => p.path)).toEqual([
      'data.endpoint_url',
      'data.custom_headers.0',
      'data.payload_template',
    ]);
  });

  it('leaves eta syntax outside braces alone', () => {
    expect(checkNodeTemplates(makeNode({ data: { payload_template: { a: '<%= process.exit(1) %>' } } }))).toEqual([]);
  });

  it('ignores numbers, booleans and null in the payload', () => {
    expect(checkNodeTemplates(makeNode({ data: { payload_template: { a: 1, b: true, c: null, d: [2.5] } } }))).toEqual(
      [],
    );
  });

  it('reports a custom header name that is not an HTTP token, which no request could carry', () => {
    const node = makeNode({
      id: 'n',
      data: {
        custom_headers: [
          { key: 'X-Ok', value: 'a' },
          { key: 'X Source', value: 'b' },
        ],
      },
    });
    expect(checkNodeTemplates(node)).toEqual([
      { source: 'n', path: 'data.custom_headers.1', reason: '"X Source" is not a valid header name' },
    ]);
  });

  it('reports a custom header value written with a line break', () => {
    const node = makeNode({ id: 'n', data: { custom_headers: [{ key: 'X-Note', value: 'a\r\nX-Evil: 1' }] } });
    expect(checkNodeTemplates(node)).toEqual([
      {
        source: 'n',
        path: 'data.custom_headers.0',
        reason: 'the value of header "X-Note" contains a line break or NUL',
      },
    ]);
  });

  it('checks the name as it is sent, trimmed', () => {
    expect(checkNodeTemplates(makeNode({ data: { custom_headers: [{ key: ' X-Source ', value: 'a' }] } }))).toEqual([]);
  });

  it('does not report a header that will be dropped: that is a warning', () => {
    expect(
      checkNodeTemplates(makeNode({ data: { custom_headers: [{ key: 'Authorization', value: 'Bearer\nx' }] } })),
    ).toEqual([]);
  });
});

describe('droppedHeaderWarnings', () => {
  it('names each custom header that will be dropped, and why', () => {
    const node = makeNode({
      id: 'n',
      data: {
        custom_headers: [
          { key: 'X-Source', value: 'a' },
          { key: 'X-Api-Key', value: 'k' },
          { key: 'Host', value: 'h' },
          { key: 'X-Dograh-Run', value: 'r' },
        ],
      },
    });
    expect(droppedHeaderWarnings(node)).toEqual([
      {
        source: 'n',
        path: 'data.custom_headers.1',
        reason: 'header "X-Api-Key" will be dropped: looks like a secret: put it in a credential',
      },
      { source: 'n', path: 'data.custom_headers.2', reason: 'header "Host" will be dropped: set by the transport' },
      {
        source: 'n',
        path: 'data.custom_headers.3',
        reason: 'header "X-Dograh-Run" will be dropped: X-Dograh-* headers are set by the delivery system',
      },
    ]);
  });

  it('has nothing to say about headers that are sent', () => {
    expect(droppedHeaderWarnings(makeNode())).toEqual([]);
  });
});

describe('templateWarnings', () => {
  it('has nothing to say about a good node', () => {
    expect(templateWarnings(makeNode())).toEqual([]);
  });

  it('warns about braces that are no placeholder, by field', () => {
    const node = makeNode({ id: 'n', data: { payload_template: { run: '{{ workflow_run_id }', list: ['{ a }}'] } } });
    expect(templateWarnings(node)).toEqual([
      {
        source: 'n',
        path: 'data.payload_template.run',
        reason:
          '"{{ workflow_run_id }" is not a placeholder and is sent as written (write {{ path }} or {{ path | default }})',
      },
      {
        source: 'n',
        path: 'data.payload_template.list.0',
        reason: '"{ a }}" is not a placeholder and is sent as written (write {{ path }} or {{ path | default }})',
      },
    ]);
  });

  it('warns about a variable no run has, naming it and the known ones', () => {
    const [warning] = templateWarnings(
      makeNode({ id: 'n', data: { custom_headers: [{ key: 'X-A', value: '{{ customer_name }}' }] } }),
    );
    expect(warning?.path).toBe('data.custom_headers.0.value');
    expect(warning?.reason).toMatch(
      /^unknown variable "customer_name" in \{\{ customer_name \}\} renders empty; the variables are organization_id, workflow_run_id, .*, bot_recording_url, current_time, current_weekday$/,
    );
  });

  it('says a default renders instead', () => {
    expect(templateWarnings(makeNode({ data: { payload_template: '{{ nope | n/a }}' } }))[0]?.reason).toContain(
      'renders its default',
    );
  });

  it('knows the built-ins, every run variable and the extra fields it is given', () => {
    const node = makeNode({
      data: {
        payload_template: [
          '{{current_time_Asia/Tokyo}} {{current_weekday}}',
          '{{extra.a}} {{bot_recording_url}} {{initial_context.x}}',
          '{{region}}',
        ],
      },
    });
    expect(templateWarnings(node, ['region'])).toEqual([]);
  });

  it('leaves stray braces in the URL to checkNodeTemplates, which refuses them', () => {
    expect(templateWarnings(makeNode({ data: { endpoint_url: 'https://h.example/{{ a b }}' } }))).toEqual([]);
  });
});
