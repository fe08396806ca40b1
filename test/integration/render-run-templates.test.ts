import { CreateQueueCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler, wireRenderDeps, type RenderHandler } from '../../functions/render/handler.ts';
import { ENV, parseConfig, RenderConfigSchema } from '../../shared/config/config.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { startSqsEmulator, type LocalSqs } from '../../shared/local/fauxqs.ts';
import { createLogger } from '../../shared/observability/logger.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';

// The render function as Lambda wires it: a node whose template cannot be built fails on
// its own, with its reason, and the other nodes of the run are enqueued.

const TABLE = 'render-run-template-outcomes';
let sqs: LocalSqs;
let dynamo: LocalDynamo;
let queueUrl: string;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  sqs = await startSqsEmulator();
  dynamo = await startDynalite();
  await createOutcomeTable(dynamo.client, TABLE);
  queueUrl = (await sqs.client.send(new CreateQueueCommand({ QueueName: 'render-templates' }))).QueueUrl ?? '';
});

afterAll(async () => {
  await sqs?.stop();
  await dynamo?.stop();
});

function renderer(): RenderHandler {
  const config = parseConfig(RenderConfigSchema, {
    [ENV.deliveryQueueUrl]: queueUrl,
    [ENV.outcomeTableName]: TABLE,
    [ENV.maxPayloadBytes]: String(200 * 1024),
  });
  const log = createLogger({ sink: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return makeHandler(
    wireRenderDeps(config, { sqs: sqs.client, dynamo: dynamo.client, log, metricsSink: () => undefined }),
  );
}

function node(id: string, payload_template: unknown): NodeJson {
  return makeNodeJson({
    id,
    data: {
      endpoint_url: `https://crm.example.com/${id}`,
      credential_uuid: null,
      retry_config: null,
      payload_template: payload_template as never,
    },
  });
}

async function drain(): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return messages;
    messages.push(...Messages);
  }
}

describe('render: templates that cannot be built fail their node only', () => {
  it('fails a payload that grows too large and one nested too deep, enqueues the rest, logs an unknown zone', async () => {
    let deep: unknown = '{{workflow_run_id}}';
    for (let i = 0; i < 100; i++) deep = [deep];
    const nodes = [
      node('huge', { copies: Array.from({ length: 7000 }, () => '{{initial_context.big}}') }),
      node('deep', { deep }),
      node('fine', { run: '{{workflow_run_id}}', at: '[{{current_time_Moon/Base}}]' }),
    ];
    const event = makeEventJson({
      detail: { workflow_run_id: 7001, nodes, initial_context: { big: 'y'.repeat(60_000) } },
    }) as Parameters<RenderHandler>[0];
    const rendered = await renderer()(event);
    expect(rendered).toEqual([
      expect.objectContaining({
        node_id: 'huge',
        status: 'failed',
        error: expect.stringMatching(/^cannot render: data\.payload_template\.copies\.\d+: payload too large: /),
      }),
      // The node schema's depth check (before zod) answers first; the renderer's own guard backs it up.
      expect.objectContaining({
        node_id: 'deep',
        status: 'failed',
        error:
          'invalid webhook node: data.payload_template: nested more than 64 levels deep (arrays and objects); the limit keeps rendering and logging safe',
      }),
      expect.objectContaining({ node_id: 'fine', status: 'enqueued', error: null }),
    ]);
    const [message] = await drain();
    expect(JSON.parse(JSON.parse(message?.Body ?? '{}').body)).toMatchObject({ run: '7001', at: '[]' });
    expect(logs.find((l) => l['msg'] === 'template warning' || l['message'] === 'template warning')).toMatchObject({
      node_id: 'fine',
    });
  });
});
