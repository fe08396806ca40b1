import { describe, expect, it } from 'vitest';
import { RunCompletedDetailSchema, RunCompletedEventSchema, templateContextOf } from '../../shared/schemas/event.ts';
import { contextFrom, readInputDocument } from '../../shared/schemas/input-file.ts';
import { makeDefinitionJson, makeDetail, makeDetailJson, makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { paths, problems } from '../fixtures/problems.ts';

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
      { path: 'workflow_run_id', reason: 'must be a number, not the text "1234"' },
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
      problems: [{ source: 'e.json', path: 'detail.workflow_run_id', reason: 'must be a number, not null' }],
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
