import { describe, expect, it } from 'vitest';
import { checkNodeTemplates } from '../../shared/templates/check.ts';
import { makeNode } from '../fixtures/factories.ts';

// What `webhooks validate` can say about a node's templates before any run exists.

describe('checkNodeTemplates', () => {
  it('finds nothing wrong with a good node', () => {
    expect(checkNodeTemplates(makeNode())).toEqual([]);
  });

  it('needs no context: missing values are not problems yet', () => {
    expect(checkNodeTemplates(makeNode({ data: { endpoint_url: 'https://h.example/{{ not.in.any.run }}' } }))).toEqual([]);
  });

  it('reports a bad placeholder in endpoint_url', () => {
    expect(checkNodeTemplates(makeNode({ id: 'n', data: { endpoint_url: 'https://h.example/{{ a b }}' } }))).toEqual([
      {
        source: 'n',
        path: 'data.endpoint_url',
        reason: 'placeholder {{ a b }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"',
      },
    ]);
  });

  it('reports a bad placeholder in a custom header value', () => {
    const node = makeNode({ id: 'n', data: { custom_headers: [{ key: 'X-A', value: 'ok' }, { key: 'X-B', value: '{{= it }}' }] } });
    expect(checkNodeTemplates(node).map((p) => p.path)).toEqual(['data.custom_headers.1.value']);
  });

  it('reports a bad placeholder in a payload value, by its path', () => {
    const node = makeNode({ data: { payload_template: { a: { b: ['ok', '{{ constructor }}'] } } } });
    expect(checkNodeTemplates(node)).toEqual([
      { source: 'webhook-1', path: 'data.payload_template.a.b.1', reason: 'placeholder {{ constructor }} uses "constructor", which templates may not read' },
    ]);
  });

  it('reports a bad placeholder in a payload key', () => {
    const node = makeNode({ data: { payload_template: { '{{ }}': 1 } } });
    expect(checkNodeTemplates(node)).toEqual([{ source: 'webhook-1', path: 'data.payload_template.{{ }}', reason: 'placeholder {{ }} has no path' }]);
  });

  it('reports a bad string payload template', () => {
    expect(checkNodeTemplates(makeNode({ data: { payload_template: '{{}}' } })).map((p) => p.path)).toEqual(['data.payload_template']);
  });

  it('reports every problem of a node, not only the first', () => {
    const node = makeNode({
      data: {
        endpoint_url: 'https://h.example/{{ }}',
        custom_headers: [{ key: 'X-A', value: '{{ ~ }}' }],
        payload_template: { a: '{{ a..b }}', b: '{{ __proto__ }}' },
      },
    });
    expect(checkNodeTemplates(node).map((p) => p.path)).toEqual([
      'data.endpoint_url',
      'data.custom_headers.0.value',
      'data.payload_template.a',
      'data.payload_template.b',
    ]);
  });

  it('leaves eta syntax outside braces alone', () => {
    expect(checkNodeTemplates(makeNode({ data: { payload_template: { a: '<%= process.exit(1) %>' } } }))).toEqual([]);
  });

  it('ignores numbers, booleans and null in the payload', () => {
    expect(checkNodeTemplates(makeNode({ data: { payload_template: { a: 1, b: true, c: null, d: [2.5] } } }))).toEqual([]);
  });
});
