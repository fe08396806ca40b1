import { describe, expect, it } from 'vitest';
import type { Problem } from '../../shared/errors.ts';
import { CredentialSchema, DEFAULT_SECRETS_PREFIX, secretName } from '../../shared/schemas/credential.ts';
import { RunCompletedDetailSchema, RunCompletedEventSchema, templateContextOf } from '../../shared/schemas/event.ts';
import { contextFrom, readInputDocument } from '../../shared/schemas/input-file.ts';
import { problemsFrom, safeParse } from '../../shared/schemas/issues.ts';
import { RetryConfigSchema, WebhookNodeSchema } from '../../shared/schemas/node.ts';
import { extractWebhookNodes } from '../../shared/schemas/workflow.ts';
import {
  makeDefinitionJson,
  makeDetail,
  makeDetailJson,
  makeEventJson,
  makeNodeJson,
  makeOtherNodeJson,
} from '../fixtures/factories.ts';

/** The problems zod reports for `value`, as the CLI and the render step list them. */
function problems(schema: Parameters<typeof safeParse>[0], value: unknown): Problem[] {
  const result = safeParse(schema, value);
  if (result.success) throw new Error('expected the value to be rejected');
  return problemsFrom(result.error);
}

const paths = (list: readonly Problem[]) => list.map((p) => p.path);

describe('run-completed event detail', () => {
  it('parses the seed example detail', () => {
    const detail = makeDetail();
    expect(detail).toMatchObject({
      organization_id: '42',
      workflow_run_id: 1234,
      workflow_name: 'Support line',
      initial_context: { customer_name: 'Ada Lovelace' },
    });
  });

  it('turns an integer organization_id into a string', () => {
    expect(makeDetail({ organization_id: 42 }).organization_id).toBe('42');
  });

  it('keeps a string organization_id', () => {
    expect(makeDetail({ organization_id: 'org_7-b' }).organization_id).toBe('org_7-b');
  });

  it('rejects an organization_id with "/", which would reach another tenant\'s secrets', () => {
    expect(problems(RunCompletedDetailSchema, makeDetailJson({ organization_id: '42/../7' }))).toEqual([
      { path: 'organization_id', reason: 'organization_id may hold only letters, digits, "-" and "_"' },
    ]);
  });

  it('rejects a fractional organization_id', () => {
    expect(problems(RunCompletedDetailSchema, makeDetailJson({ organization_id: 4.2 }))).toEqual([
      { path: 'organization_id', reason: 'expected a string or an integer' },
    ]);
  });

  it('reports a missing organization_id as required', () => {
    expect(problems(RunCompletedDetailSchema, makeDetailJson({ organization_id: undefined }))).toEqual([
      { path: 'organization_id', reason: 'required (string or integer)' },
    ]);
  });

  it('fills the defaults of optional fields', () => {
    const detail = RunCompletedDetailSchema.parse({
      organization_id: 1,
      workflow_run_id: 2,
      workflow_id: 3,
      workflow_definition: { nodes: [] },
    });
    expect(detail).toEqual({
      organization_id: '1',
      workflow_run_id: 2,
      workflow_run_name: '',
      workflow_id: 3,
      workflow_name: '',
      campaign_id: null,
      initial_context: {},
      gathered_context: {},
      cost_info: {},
      annotations: {},
      extra: {},
      recording_url: null,
      transcript_url: null,
      user_recording_url: null,
      bot_recording_url: null,
      workflow_definition: { nodes: [], edges: [] },
    });
  });

  it('reads null context objects as empty objects', () => {
    const detail = makeDetail({ initial_context: null, gathered_context: null, cost_info: null, annotations: null });
    expect([detail.initial_context, detail.gathered_context, detail.cost_info, detail.annotations]).toEqual([
      {},
      {},
      {},
      {},
    ]);
  });

  it('accepts an integer campaign_id', () => {
    expect(makeDetail({ campaign_id: 9 }).campaign_id).toBe(9);
  });

  it('accepts call_time with an offset', () => {
    expect(makeDetail({ call_time: '2026-11-27T10:30:00+01:00' }).call_time).toBe('2026-11-27T10:30:00+01:00');
  });

  it('accepts call_time without a zone', () => {
    expect(makeDetail({ call_time: '2026-11-27T10:30:00' }).call_time).toBe('2026-11-27T10:30:00');
  });

  it("passes through a call_time that is not ISO-8601, as Python's str(datetime) writes it", () => {
    expect(makeDetail({ call_time: '2026-11-27 09:30:00' }).call_time).toBe('2026-11-27 09:30:00');
    expect(RunCompletedDetailSchema.safeParse(makeDetailJson({ call_time: 'yesterday' })).success).toBe(true);
  });

  it('still rejects a call_time that is not a string', () => {
    expect(paths(problems(RunCompletedDetailSchema, makeDetailJson({ call_time: 1_764_235_800 })))).toEqual([
      'call_time',
    ]);
  });

  it('tolerates unknown fields', () => {
    expect(
      RunCompletedDetailSchema.safeParse(makeDetailJson({ new_field: { anything: true }, version: 3 })).success,
    ).toBe(true);
  });

  it('rejects a string workflow_run_id', () => {
    expect(problems(RunCompletedDetailSchema, makeDetailJson({ workflow_run_id: '1234' }))).toEqual([
      { path: 'workflow_run_id', reason: 'Invalid input: expected number, received string' },
    ]);
  });

  it('reports every bad field at once, each with its path', () => {
    const list = problems(
      RunCompletedDetailSchema,
      makeDetailJson({
        workflow_run_id: 1.5,
        workflow_id: undefined,
        campaign_id: 'spring',
        call_time: false,
        initial_context: ['not', 'an', 'object'],
        recording_url: 7,
        workflow_definition: { nodes: {} },
      }),
    );
    expect(paths(list)).toEqual([
      'workflow_run_id',
      'workflow_id',
      'campaign_id',
      'call_time',
      'initial_context',
      'recording_url',
      'workflow_definition.nodes',
    ]);
  });

  it('says a missing field is required', () => {
    expect(problems(RunCompletedDetailSchema, makeDetailJson({ workflow_definition: undefined }))).toEqual([
      { path: 'workflow_definition', reason: 'required (object)' },
    ]);
  });

  it('gives templates the detail without its workflow definition', () => {
    const context = templateContextOf(makeDetail());
    expect(context).not.toHaveProperty('workflow_definition');
    expect(context).toMatchObject({ workflow_run_id: 1234, gathered_context: { call_disposition: 'resolved' } });
  });
});

describe('run-completed event envelope', () => {
  it('parses a whole EventBridge event', () => {
    const event = RunCompletedEventSchema.parse(makeEventJson());
    expect(event.source).toBe('dograh.workflows');
    expect(event['detail-type']).toBe('Workflow Run Completed');
    expect(event.detail.organization_id).toBe('42');
  });

  it('prefixes detail problems with "detail"', () => {
    expect(paths(problems(RunCompletedEventSchema, makeEventJson({ detail: { workflow_id: 'x' } })))).toEqual([
      'detail.workflow_id',
    ]);
  });

  it('requires source and detail-type', () => {
    expect(
      paths(problems(RunCompletedEventSchema, makeEventJson({ source: undefined, 'detail-type': undefined }))),
    ).toEqual(['source', 'detail-type']);
  });
});

describe('input documents for the CLI', () => {
  it('reads a whole event', () => {
    const document = readInputDocument(makeEventJson(), 'e.json');
    expect(document.kind).toBe('event');
  });

  it('reads a bare detail as an event', () => {
    expect(readInputDocument(makeDetailJson(), 'd.json').kind).toBe('event');
  });

  it('reads a workflow definition', () => {
    const document = readInputDocument(makeDefinitionJson(), 'w.json');
    expect(document).toMatchObject({ kind: 'definition', nodes: [{ id: 'start' }, { id: 'webhook-1' }] });
  });

  it('names the file and the "detail." path of a bad event', () => {
    expect(readInputDocument(makeEventJson({ detail: { workflow_run_id: null } }), 'e.json')).toMatchObject({
      kind: 'invalid',
      problems: [
        { source: 'e.json', path: 'detail.workflow_run_id', reason: 'Invalid input: expected number, received null' },
      ],
    });
  });

  it('keeps the nodes of a bad event, so their problems can be listed too', () => {
    const document = readInputDocument(
      makeEventJson({ detail: { workflow_run_id: null, nodes: [makeNodeJson({ id: 'a' })] } }),
      'e.json',
    );
    expect(document.kind).toBe('invalid');
    expect(document.nodes).toMatchObject([{ id: 'start' }, { id: 'a' }]);
  });

  it('has no nodes for a bad event whose definition holds none to read', () => {
    expect(
      readInputDocument(
        makeEventJson({ detail: { workflow_run_id: null, workflow_definition: { nodes: 'x' } } }),
        'e.json',
      ).nodes,
    ).toEqual([]);
  });

  it('rejects a document that is not an object', () => {
    expect(readInputDocument([1, 2], 'x.json')).toEqual({
      kind: 'invalid',
      problems: [{ source: 'x.json', path: '(root)', reason: 'expected a JSON object' }],
      nodes: [],
    });
  });

  it('rejects a definition whose nodes are not an array', () => {
    expect(readInputDocument({ nodes: 'x' }, 'w.json')).toMatchObject({
      kind: 'invalid',
      problems: [{ path: 'nodes' }],
      nodes: [],
    });
  });

  it('takes the context of an event from its detail, without the definition', () => {
    const context = contextFrom(makeEventJson());
    expect(context).toMatchObject({ workflow_run_id: 1234 });
    expect(context).not.toHaveProperty('workflow_definition');
    expect(context).not.toHaveProperty('detail');
  });

  it('takes a plain context file as it is', () => {
    expect(contextFrom({ a: 1 })).toEqual({ a: 1 });
  });

  it('refuses a context that is not an object', () => {
    expect(contextFrom('text')).toBeUndefined();
  });
});

describe('webhook node', () => {
  it('fills the defaults of a minimal node', () => {
    expect(WebhookNodeSchema.parse({ id: 'w', type: 'webhook', data: { endpoint_url: 'https://h.example' } })).toEqual({
      id: 'w',
      type: 'webhook',
      data: {
        name: '',
        enabled: true,
        http_method: 'POST',
        endpoint_url: 'https://h.example',
        credential_uuid: null,
        signing_credential_uuid: null,
        custom_headers: [],
        payload_template: null,
      },
    });
  });

  it('keeps a disabled node, disabled', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { enabled: false } })).data.enabled).toBe(false);
  });

  it.each(['get', 'Post', 'put', 'PATCH', 'delete'])('accepts the method %s in any case', (method) => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { http_method: method } })).data.http_method).toBe(
      method.toUpperCase(),
    );
  });

  it('rejects a method outside GET, POST, PUT, PATCH, DELETE', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { http_method: 'TRACE' } })))).toEqual([
      'data.http_method',
    ]);
  });

  it('requires endpoint_url', () => {
    expect(problems(WebhookNodeSchema, makeNodeJson({ data: { endpoint_url: undefined } }))).toEqual([
      { path: 'data.endpoint_url', reason: 'required (string)' },
    ]);
  });

  it('rejects an endpoint_url that is not http or https', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { endpoint_url: 'file:///etc/passwd' } })))).toEqual([
      'data.endpoint_url',
    ]);
  });

  it('rejects a credential_uuid with "/"', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { credential_uuid: '../7/key' } })))).toEqual([
      'data.credential_uuid',
    ]);
  });

  it('reads a null credential_uuid as none', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { credential_uuid: null } })).data.credential_uuid).toBeNull();
  });

  it('reads null custom_headers as none', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { custom_headers: null } })).data.custom_headers).toEqual([]);
  });

  it('rejects a custom header with an empty name', () => {
    expect(problems(WebhookNodeSchema, makeNodeJson({ data: { custom_headers: [{ key: '', value: 'v' }] } }))).toEqual([
      { path: 'data.custom_headers.0.key', reason: 'header name must not be empty' },
    ]);
  });

  it.each([
    ['an object', { a: '{{x}}' }],
    ['an array', ['{{x}}', 1]],
    ['a string', '{{x}}'],
    ['null', null],
  ])('accepts %s as payload_template', (_name, template) => {
    expect(
      WebhookNodeSchema.parse(makeNodeJson({ data: { payload_template: template } })).data.payload_template,
    ).toEqual(template);
  });

  it('keeps unknown data fields', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { description: 'x' } })).data).toHaveProperty(
      'description',
      'x',
    );
  });

  it('leaves retry_config out when the node has none', () => {
    expect(
      WebhookNodeSchema.parse(makeNodeJson({ data: { retry_config: undefined } })).data.retry_config,
    ).toBeUndefined();
  });

  it('reports the path of a bad retry_config field inside the node', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { retry_config: { max_attempts: 0 } } })))).toEqual([
      'data.retry_config.max_attempts',
    ]);
  });
});

describe('retry_config', () => {
  it('fills backoff, initial and maximum delay', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3 })).toEqual({
      max_attempts: 3,
      backoff: 'exponential',
      initial_delay_seconds: 30,
      max_delay_seconds: 3600,
    });
  });

  it('accepts fixed backoff', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3, backoff: 'fixed' }).backoff).toBe('fixed');
  });

  it('requires max_attempts', () => {
    expect(problems(RetryConfigSchema, {})).toEqual([{ path: 'max_attempts', reason: 'required (number)' }]);
  });

  it.each([1, 25])('accepts max_attempts %i', (n) => {
    expect(RetryConfigSchema.parse({ max_attempts: n }).max_attempts).toBe(n);
  });

  it.each([0, 26, 2.5, -1])('rejects max_attempts %s', (n) => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: n }))).toEqual(['max_attempts']);
  });

  it('accepts initial_delay_seconds 1', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 2, initial_delay_seconds: 1 }).initial_delay_seconds).toBe(1);
  });

  it('rejects initial_delay_seconds 0', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, initial_delay_seconds: 0 }))).toEqual([
      'initial_delay_seconds',
    ]);
  });

  it('accepts max_delay_seconds 43200', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 2, max_delay_seconds: 43200 }).max_delay_seconds).toBe(43200);
  });

  it('rejects max_delay_seconds over 43200', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, max_delay_seconds: 43201 }))).toEqual([
      'max_delay_seconds',
    ]);
  });

  it('rejects an unknown backoff', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, backoff: 'linear' }))).toEqual(['backoff']);
  });

  it('rejects an initial delay written longer than the maximum', () => {
    expect(problems(RetryConfigSchema, { max_attempts: 2, initial_delay_seconds: 100, max_delay_seconds: 50 })).toEqual(
      [{ path: 'initial_delay_seconds', reason: 'initial_delay_seconds must not exceed max_delay_seconds' }],
    );
  });

  it('starts at the maximum delay when it is shorter than the default initial delay', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3, max_delay_seconds: 10 })).toMatchObject({
      initial_delay_seconds: 10,
      max_delay_seconds: 10,
    });
  });

  it('reports every bad field at once', () => {
    expect(
      paths(
        problems(RetryConfigSchema, {
          max_attempts: 26,
          backoff: 'linear',
          initial_delay_seconds: 0,
          max_delay_seconds: 50000,
        }),
      ),
    ).toEqual(['max_attempts', 'backoff', 'initial_delay_seconds', 'max_delay_seconds']);
  });
});

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
