import { describe, expect, it } from 'vitest';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { contextDepthProblem, depthExcess, MAX_CONTEXT_DEPTH, MAX_NODE_DEPTH } from '../../shared/schemas/depth.ts';
import { MAX_NODE_ID_LENGTH } from '../../shared/schemas/node.ts';
import { extractWebhookNodes } from '../../shared/schemas/workflow.ts';
import { renderRun, type RenderRunDeps } from '../../shared/use-cases/render-run.ts';
import { quiet } from '../fixtures/deliver-deps.ts';
import { FIXED_NOW, makeEventJson, makeNodeJson } from '../fixtures/factories.ts';

/** `{"a": {"a": ... leaf}}`, `levels` objects deep, built without recursion. */
function nested(levels: number, leaf: unknown = 'x'): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function node(id: unknown, data: Record<string, unknown> = {}) {
  return makeNodeJson({ id, data: { endpoint_url: 'https://crm.example.com/hook', credential_uuid: null, ...data } });
}

/** Render deps that keep what was enqueued and recorded, in memory. */
function fakeRenderDeps() {
  const enqueued: DeliveryMessage[] = [];
  const failed: { message: DeliveryMessage; reason: string }[] = [];
  const deps: RenderRunDeps = {
    queue: {
      enqueue: async (messages) => void enqueued.push(...messages),
      messageBytes: (message) => Buffer.byteLength(JSON.stringify(message)),
    },
    store: { recordFinal: async (message, _status, reason) => void failed.push({ message, reason: reason ?? '' }) },
    clock: { now: () => FIXED_NOW.getTime() },
    log: quiet,
    metrics: { count() {}, duration() {}, flush() {} } as unknown as RenderRunDeps['metrics'],
    eventSource: 'dograh.workflows',
    detailType: 'Workflow Run Completed',
    maxMessageBytes: 256 * 1024,
  };
  return { deps, enqueued, failed };
}

describe('depthExcess', () => {
  it('counts arrays and objects, not scalars, and names the top-level field', () => {
    expect(depthExcess('text', 0)).toBeUndefined();
    expect(depthExcess({ a: [] }, 2)).toBeUndefined();
    expect(depthExcess({ a: [] }, 1)).toEqual({ path: 'a', limit: 1 });
    expect(depthExcess({ ok: 1, data: { payload_template: nested(5) } }, 4)).toEqual({
      path: 'data.payload_template',
      limit: 4,
    });
  });

  it('measures a value 200,000 levels deep without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    expect(depthExcess(deep, 64)).toEqual({ path: '0.0', limit: 64 });
  });

  it('cuts a long hostile key in the path it reports', () => {
    const key = 'k'.repeat(10_000);
    const excess = depthExcess({ [key]: nested(3) }, 2);
    expect(excess?.path.length).toBeLessThan(80);
  });

  it('allows a context at the limit and names the variable past it', () => {
    expect(contextDepthProblem({ initial_context: nested(MAX_CONTEXT_DEPTH - 2) })).toBeUndefined();
    expect(contextDepthProblem({ workflow_run_id: 1, gathered_context: nested(MAX_CONTEXT_DEPTH) })?.path).toBe(
      'gathered_context',
    );
  });
});

describe('extractWebhookNodes on hostile nodes', () => {
  it('reports a payload template nested past the limit by node, and keeps the other nodes', () => {
    const { nodes, problems } = extractWebhookNodes([node('deep', { payload_template: nested(5_000) }), node('fine')]);
    expect(nodes.map((n) => n.id)).toEqual(['fine']);
    expect(problems).toEqual([
      {
        source: 'deep',
        path: 'data.payload_template',
        reason: expect.stringContaining(`nested more than ${MAX_NODE_DEPTH} levels deep`),
      },
    ]);
  });

  it('keeps a template just inside the limit', () => {
    // node (1) > data (2) > payload_template (3) > ...
    const { nodes, problems } = extractWebhookNodes([node('edge', { payload_template: nested(MAX_NODE_DEPTH - 2) })]);
    expect(problems).toEqual([]);
    expect(nodes).toHaveLength(1);
  });

  it('reports an id over the length limit under its position, not the id itself', () => {
    const longId = 'n'.repeat(48 * 1024);
    const { nodes, problems } = extractWebhookNodes([node(longId), node('fine')]);
    expect(nodes.map((n) => n.id)).toEqual(['fine']);
    expect(problems).toEqual([
      { source: 'nodes[0]', path: 'id', reason: `node id must be at most ${MAX_NODE_ID_LENGTH} characters` },
    ]);
  });

  it('accepts an id of exactly the limit', () => {
    expect(extractWebhookNodes([node('n'.repeat(MAX_NODE_ID_LENGTH))]).problems).toEqual([]);
  });
});

describe('renderRun on hostile input', () => {
  it('fails a too-deep node and a too-long id as deliveries of their own, and enqueues the good node', async () => {
    const { deps, enqueued, failed } = fakeRenderDeps();
    const event = makeEventJson({
      detail: {
        nodes: [node('deep', { payload_template: nested(1_500) }), node('x'.repeat(160 * 1024)), node('good')],
      },
    });
    const results = await renderRun(event, deps);
    expect(enqueued.map((m) => m.node_id)).toEqual(['good']);
    expect(failed.map((f) => f.message.node_id).sort()).toEqual(['deep', 'nodes[2]']);
    expect(failed.find((f) => f.message.node_id === 'deep')?.reason).toMatch(
      /^invalid webhook node: data\.payload_template: nested more than 64 levels deep/,
    );
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'enqueued']);
  });

  it('fails every node of a run whose context is too deep with the reason, instead of throwing the event to the DLQ', async () => {
    const { deps, enqueued, failed } = fakeRenderDeps();
    const event = makeEventJson({
      detail: { nodes: [node('a'), node('b')], initial_context: nested(5_000) as Record<string, unknown> },
    });
    const results = await renderRun(event, deps);
    expect(enqueued).toEqual([]);
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed']);
    for (const { reason } of failed)
      expect(reason).toMatch(
        /^cannot render: the run's context is too deep: initial_context: nested more than 64 levels deep/,
      );
  });
});
