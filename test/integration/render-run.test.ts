import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler, wireRenderDeps, type RenderHandler } from '../../functions/render/handler.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import {
  DELIVERY_ID_ATTRIBUTE,
  deliveryMessageBytes,
  EnqueueError,
  toSqsJson,
} from '../../shared/adapters/sqs-delivery-queue.ts';
import { ENV, parseConfig, RenderConfigSchema } from '../../shared/config/config.ts';
import { deliveryId } from '../../shared/domain/delivery.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { startSqsEmulator, type LocalSqs } from '../../shared/local/fauxqs.ts';
import { createLogger } from '../../shared/observability/logger.ts';
import type { DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';

// The render function, wired as in Lambda, against queues SQS (fauxqs) refuses
// messages on: what it measures, and what it does when SQS says no.

const TABLE = 'render-run-outcomes';
let sqs: LocalSqs;
let dynamo: LocalDynamo;
let store: DeliveryStore;
let nextRun = 3000;

async function createQueue(name: string, maximumMessageSize?: number): Promise<string> {
  const attributes = maximumMessageSize === undefined ? {} : { MaximumMessageSize: String(maximumMessageSize) };
  const { QueueUrl } = await sqs.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return QueueUrl ?? '';
}

/** The render handler as Lambda builds it, on this queue, with this size limit. */
function renderer(queueUrl: string, maxPayloadBytes = 200 * 1024): RenderHandler {
  const config = parseConfig(RenderConfigSchema, {
    [ENV.deliveryQueueUrl]: queueUrl,
    [ENV.outcomeTableName]: TABLE,
    [ENV.maxPayloadBytes]: String(maxPayloadBytes),
  });
  return makeHandler(
    wireRenderDeps(config, {
      sqs: sqs.client,
      dynamo: dynamo.client,
      log: createLogger({ sink: () => undefined }),
      metricsSink: () => undefined,
    }),
  );
}

function node(id: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `https://crm.example.com/${id}`, credential_uuid: null, retry_config: null, ...data },
  });
}

function event(runId: number, nodes: NodeJson[], initialContext: Record<string, unknown> = {}) {
  return makeEventJson({
    detail: { workflow_run_id: runId, nodes, initial_context: initialContext },
  }) as Parameters<RenderHandler>[0];
}

async function drain(queueUrl: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (Messages.length === 0) return messages;
    messages.push(...Messages);
  }
}

beforeAll(async () => {
  sqs = await startSqsEmulator();
  dynamo = await startDynalite();
  await createOutcomeTable(dynamo.client, TABLE);
  store = createDynamoDeliveryStore({ client: dynamo.client, tableName: TABLE, retentionDays: 30 });
});

afterAll(async () => {
  await sqs?.stop();
  await dynamo?.stop();
});

describe('deliveryMessageBytes', () => {
  it('is exactly what SQS counts: a queue of that maximum size takes the message, one byte less refuses it', async () => {
    const message = makeDeliveryMessage(1, { body: JSON.stringify({ note: 'café 🚀'.repeat(100) }) });
    const bytes = deliveryMessageBytes(message);
    // The escaped body and the delivery id attribute, not the raw JSON.
    expect(bytes).toBeGreaterThan(Buffer.byteLength(JSON.stringify(message)));
    const send = async (queueUrl: string) => {
      const entry = {
        Id: '0',
        MessageBody: toSqsJson(message),
        MessageAttributes: { [DELIVERY_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.delivery_id } },
      };
      return sqs.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [entry] }));
    };
    const fits = await send(await createQueue('exact-fit', bytes));
    const over = await send(await createQueue('one-byte-short', bytes - 1));
    expect([fits.Successful?.length, fits.Failed?.length ?? 0]).toEqual([1, 0]);
    expect(over.Failed?.[0]).toMatchObject({ SenderFault: true });
  });
});

describe('render: the size limit measures what is sent', () => {
  it('fails as too large a payload whose emoji pass the limit once escaped for SQS (12 bytes each, not 4)', async () => {
    const queueUrl = await createQueue('emoji');
    const runId = nextRun++;
    // About 4 KB as raw JSON, about 12 KB as the queue body: the limit of 8 KiB sits between.
    const rendered = await renderer(
      queueUrl,
      8 * 1024,
    )(
      event(runId, [node('emoji', { payload_template: { note: '{{initial_context.note}}' } })], {
        note: '🚀'.repeat(1000),
      }),
    );
    expect(rendered).toEqual([
      expect.objectContaining({
        node_id: 'emoji',
        status: 'failed',
        error: expect.stringMatching(/^payload too large: the rendered delivery is 1\d{4} bytes, the limit is 8192$/),
      }),
    ]);
    expect(await store.get(deliveryId('42', runId, 'emoji'))).toMatchObject({ status: 'failed', attempts: 0 });
    expect(await drain(queueUrl)).toEqual([]);
  });

  it('counts the message attributes too, not only the body', async () => {
    const queueUrl = await createQueue('attributes');
    const runId = nextRun++;
    const input = event(runId, [node('edge', { payload_template: { blob: '{{initial_context.blob}}' } })], {
      blob: 'x'.repeat(2000),
    });
    await renderer(queueUrl)(input);
    const [sent] = await drain(queueUrl);
    const bodyBytes = Buffer.byteLength(sent?.Body ?? '');
    // Rendered again with a limit the body alone meets: the attributes carry it over.
    const rendered = await renderer(queueUrl, bodyBytes)(input);
    expect(rendered).toEqual([
      expect.objectContaining({
        status: 'failed',
        error: expect.stringContaining(
          `is ${deliveryMessageBytes(JSON.parse(sent?.Body ?? '{}'))} bytes, the limit is ${bodyBytes}`,
        ),
      }),
    ]);
    expect(await drain(queueUrl)).toEqual([]);
  });
});

describe('render: what SQS refuses', () => {
  it("records a delivery SQS refuses for good as failed, with SQS's reason, and enqueues the others without failing the event", async () => {
    const queueUrl = await createQueue('small', 4096);
    const runId = nextRun++;
    const rendered = await renderer(queueUrl)(
      event(runId, [node('big', { payload_template: { blob: '{{initial_context.blob}}' } }), node('small')], {
        blob: 'x'.repeat(6000),
      }),
    );
    expect(rendered).toEqual([
      expect.objectContaining({
        node_id: 'big',
        status: 'failed',
        error: expect.stringMatching(
          /^refused by the delivery queue: InvalidParameterValue: .*shorter than 4096 bytes/,
        ),
      }),
      expect.objectContaining({ node_id: 'small', status: 'enqueued', error: null }),
    ]);
    expect(await store.get(deliveryId('42', runId, 'big'))).toMatchObject({
      status: 'failed',
      attempts: 0,
      last_error: expect.stringContaining('refused by the delivery queue'),
    });
    expect(await store.get(deliveryId('42', runId, 'small'))).toBeUndefined();
    const queued = await drain(queueUrl);
    expect(queued.map((m) => m.MessageAttributes?.[DELIVERY_ID_ATTRIBUTE]?.StringValue)).toEqual([
      deliveryId('42', runId, 'small'),
    ]);
  });

  it('still fails the event when SQS refuses the request as a whole (no such queue), recording nothing', async () => {
    const missing = (await createQueue('exists')).replace(/exists$/, 'does-not-exist');
    const runId = nextRun++;
    const error = await renderer(missing)(event(runId, [node('a'), node('b')])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnqueueError);
    expect((error as EnqueueError).failures.map((f) => [f.senderFault, f.refused])).toEqual([
      [true, false],
      [true, false],
    ]);
    expect(await store.get(deliveryId('42', runId, 'a'))).toBeUndefined();
    expect(await store.get(deliveryId('42', runId, 'b'))).toBeUndefined();
  });
});
