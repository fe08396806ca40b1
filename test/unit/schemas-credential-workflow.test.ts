import { describe, expect, it } from 'vitest';
import { CredentialSchema, DEFAULT_SECRETS_PREFIX, secretName } from '../../shared/schemas/credential.ts';
import { extractWebhookNodes } from '../../shared/schemas/workflow.ts';
import { makeDetail, makeNodeJson, makeOtherNodeJson } from '../fixtures/factories.ts';
import { paths, problems } from '../fixtures/problems.ts';

describe('credentials', () => {
  it.each([
    [{ type: 'NONE' }, { type: 'NONE' }],
    [
      { type: 'API_KEY', api_key: 'k', header_name: 'X-Key' },
      { type: 'API_KEY', api_key: 'k', header_name: 'X-Key' },
    ],
    [
      { type: 'BEARER_TOKEN', token: 't' },
      { type: 'BEARER_TOKEN', token: 't' },
    ],
    [
      { type: 'BASIC_AUTH', username: 'u', password: 'p' },
      { type: 'BASIC_AUTH', username: 'u', password: 'p' },
    ],
    [
      { type: 'CUSTOM_HEADER', header_name: 'X-A', header_value: 'v' },
      { type: 'CUSTOM_HEADER', header_name: 'X-A', header_value: 'v' },
    ],
  ])('parses %j', (input, expected) => {
    expect(CredentialSchema.parse(input)).toEqual(expected);
  });

  it.each([
    [{ type: 'none' }, 'NONE'],
    [{ type: 'api_key', api_key: 'k' }, 'API_KEY'],
    [{ type: 'bearer_token', token: 't' }, 'BEARER_TOKEN'],
    [{ type: 'basic_auth', username: 'u', password: 'p' }, 'BASIC_AUTH'],
    [{ type: 'custom_header', header_name: 'X-A', header_value: 'v' }, 'CUSTOM_HEADER'],
  ])('accepts the lower-case type of %j and names it in upper case', (input, type) => {
    expect(CredentialSchema.parse(input).type).toBe(type);
  });

  it('defaults the API_KEY header to X-API-Key', () => {
    expect(CredentialSchema.parse({ type: 'API_KEY', api_key: 'k' })).toEqual({
      type: 'API_KEY',
      api_key: 'k',
      header_name: 'X-API-Key',
    });
  });

  it('rejects an unknown type, naming the field', () => {
    expect(paths(problems(CredentialSchema, { type: 'OAUTH2' }))).toEqual(['type']);
  });

  it('rejects an empty bearer token', () => {
    expect(paths(problems(CredentialSchema, { type: 'BEARER_TOKEN', token: '' }))).toEqual(['token']);
  });

  it('reports a missing password as required', () => {
    expect(problems(CredentialSchema, { type: 'BASIC_AUTH', username: 'u' })).toEqual([
      { path: 'password', reason: 'required (string)' },
    ]);
  });

  it('names a secret <prefix>/<organization_id>/<credential_uuid>', () => {
    expect(secretName(DEFAULT_SECRETS_PREFIX, '42', 'crm-token')).toBe('webhooks/credentials/42/crm-token');
  });
});

describe('extractWebhookNodes', () => {
  it('never gives a node without an id a name another node holds', () => {
    const lookalike = makeNodeJson({ id: 'nodes[1]' });
    const { id: _id, ...withoutId } = makeNodeJson({ data: { http_method: 'FETCH' } });
    const { nodes, problems: found, positions } = extractWebhookNodes([lookalike, withoutId]);
    expect(nodes.map((n) => n.id)).toEqual(['nodes[1]']);
    expect([...new Set(found.map((p) => p.source))]).toEqual(["nodes[1]'"]);
    expect(positions.get('nodes[1]')).toBe(0);
    expect(positions.get("nodes[1]'")).toBe(1);
  });

  it('keeps the webhook nodes and ignores nodes of other types', () => {
    const { nodes, problems: found } = extractWebhookNodes([
      makeOtherNodeJson(),
      makeNodeJson({ id: 'a' }),
      makeOtherNodeJson({ id: 'end', type: 'endCall' }),
    ]);
    expect(nodes.map((n) => n.id)).toEqual(['a']);
    expect(found).toEqual([]);
  });

  it('ignores entries that are not objects', () => {
    const { nodes, problems: found } = extractWebhookNodes(['webhook', null, 3, [makeNodeJson()]]);
    expect([nodes, found]).toEqual([[], []]);
  });

  it('ignores a node of another type even when its data is bad', () => {
    expect(extractWebhookNodes([{ id: 'x', type: 'agentNode', data: { endpoint_url: 5 } }]).problems).toEqual([]);
  });

  it('reports a bad webhook node field by field, with the node id as source', () => {
    const { nodes, problems: found } = extractWebhookNodes([
      makeNodeJson({
        id: 'bad',
        data: { endpoint_url: 'ftp://x', http_method: 'TRACE', retry_config: { max_attempts: 99 } },
      }),
    ]);
    expect(nodes).toEqual([]);
    expect(found.map((p) => [p.source, p.path])).toEqual([
      ['bad', 'data.http_method'],
      ['bad', 'data.endpoint_url'],
      ['bad', 'data.retry_config.max_attempts'],
    ]);
  });

  it('keeps the good nodes next to bad ones', () => {
    const { nodes, problems: found } = extractWebhookNodes([
      makeNodeJson({ id: 'good-1' }),
      makeNodeJson({ id: 'bad', data: { endpoint_url: undefined } }),
      makeNodeJson({ id: 'good-2' }),
    ]);
    expect(nodes.map((n) => n.id)).toEqual(['good-1', 'good-2']);
    expect(found).toEqual([{ source: 'bad', path: 'data.endpoint_url', reason: 'required (string)' }]);
  });

  it('reports every bad node, not only the first', () => {
    const { problems: found } = extractWebhookNodes([
      makeNodeJson({ id: 'a', data: { enabled: 'yes' } }),
      makeNodeJson({ id: 'b', data: { custom_headers: [{ key: '', value: 'v' }] } }),
      makeNodeJson({ id: 'c', data: { retry_config: { max_attempts: 3, backoff: 'linear' } } }),
    ]);
    expect(found.map((p) => `${p.source}: ${p.path}`)).toEqual([
      'a: data.enabled',
      'b: data.custom_headers.0.key',
      'c: data.retry_config.backoff',
    ]);
  });

  it('names a node without an id by its index', () => {
    const { problems: found } = extractWebhookNodes([makeOtherNodeJson(), makeNodeJson({ id: undefined })]);
    expect(found).toEqual([{ source: 'nodes[1]', path: 'id', reason: 'required (string)' }]);
  });

  it('names a node with an empty id by its index', () => {
    expect(extractWebhookNodes([makeNodeJson({ id: '' })]).problems).toEqual([
      { source: 'nodes[0]', path: 'id', reason: 'node id is required' },
    ]);
  });

  it('reports a duplicate node id under its own index, naming the id, and keeps the first node', () => {
    const {
      nodes,
      problems: found,
      positions,
    } = extractWebhookNodes([
      makeOtherNodeJson(),
      makeNodeJson({ id: 'twin', data: { name: 'first' } }),
      makeNodeJson({ id: 'twin', data: { name: 'second' } }),
    ]);
    expect(nodes.map((n) => n.data.name)).toEqual(['first']);
    // Not under "twin": the delivery id comes from the source, and "twin"'s is the first node's.
    expect(found).toEqual([
      {
        source: 'nodes[2]',
        path: 'id',
        reason: 'duplicate node id "twin": an earlier node has it, and delivery ids are one per run and node',
      },
    ]);
    expect([positions.get('twin'), positions.get('nodes[2]')]).toEqual([1, 2]);
  });

  it('lets a bad node keep its id: a later good node with the same id is the duplicate', () => {
    const { nodes, problems: found } = extractWebhookNodes([
      makeNodeJson({ id: 'twin', data: { http_method: 'TRACE' } }),
      makeNodeJson({ id: 'twin' }),
    ]);
    expect(nodes).toEqual([]);
    expect(found.map((p) => `${p.source}: ${p.path}`)).toEqual(['twin: data.http_method', 'nodes[1]: id']);
  });

  it('reads the nodes of a parsed event detail', () => {
    const detail = makeDetail({
      nodes: [makeNodeJson({ id: 'a' }), makeNodeJson({ id: 'b', data: { http_method: 'get' } })],
    });
    expect(extractWebhookNodes(detail.workflow_definition.nodes).nodes.map((n) => [n.id, n.data.http_method])).toEqual([
      ['a', 'POST'],
      ['b', 'GET'],
    ]);
  });
});
