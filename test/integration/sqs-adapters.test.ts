import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type {
  ChangeMessageVisibilityCommandInput,
  Message,
  MessageAttributeValue,
  SendMessageBatchCommandInput,
  SendMessageBatchCommandOutput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createDeliveryQueues, startSqsEmulator } from '../../shared/local/fauxqs.ts';
import type { DeliveryQueues, LocalSqs } from '../../shared/local/fauxqs.ts';
import { EnqueueError, SQS_MAX_BATCH_BYTES, createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import {
  DEAD_LETTERED_AT_ATTRIBUTE,
  MAX_REASON_LENGTH,
  createSqsMessageActions,
} from '../../shared/adapters/sqs-message-actions.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

interface Call {
  readonly command: string;
  readonly input: unknown;
}

/** The SendMessageBatch requests among the calls. */
function sendBatches(calls: readonly Call[]): SendMessageBatchCommandInput[] {
  return calls
    .filter((c) => c.command === 'SendMessageBatchCommand')
    .map((c) => c.input as SendMessageBatchCommandInput);
}

/** Records every command the client sends, as the adapter built it. */
function recordCalls(client: SQSClient): Call[] {
  const calls: Call[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({ command: context.commandName ?? '', input: args.input });
      return next(args);
    },
    { step: 'initialize', priority: 'high', name: 'recordCalls' },
  );
  return calls;
}

/**
 * Makes SQS answer the chosen entries of a SendMessageBatch as failed on its own
 * side (SenderFault false), without sending them: the fault SQS reports under load.
 */
function failEntries(client: SQSClient, fails: (deliveryId: string, call: number) => boolean): void {
  let call = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      call++;
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      const failing = entries.filter((e) => fails(e.MessageAttributes?.delivery_id?.StringValue ?? '', call));
      const kept = entries.filter((e) => !failing.includes(e));
      const result =
        kept.length > 0
          ? await next({ ...args, input: { ...input, Entries: kept } })
          : { output: { Successful: [], Failed: [], $metadata: {} }, response: {} };
      const output = result.output as SendMessageBatchCommandOutput;
      output.Failed = [
        ...(output.Failed ?? []),
        ...failing.map((e) => ({ Id: e.Id, SenderFault: false, Code: 'InternalError', Message: 'injected' })),
      ];
      return result;
    },
    { step: 'initialize', priority: 'low', name: 'failEntries' },
  );
}

/** Receives until `count` messages arrived (or 5 s passed); leaves them in flight. */
async function receiveAll(client: SQSClient, queueUrl: string, count: number): Promise<Message[]> {
  const received: Message[] = [];
  const deadline = Date.now() + 5_000;
  while (received.length < count && Date.now() < deadline) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    received.push(...(out.Messages ?? []));
  }
  return received;
}

async function receiveOne(client: SQSClient, queueUrl: string, waitTimeSeconds = 0): Promise<Message | undefined> {
  const out = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      WaitTimeSeconds: waitTimeSeconds,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return out.Messages?.[0];
}

/** The request size SQS checks: bodies plus attribute names, types and values. */
function batchBytes(input: SendMessageBatchCommandInput): number {
  const entries = input.Entries ?? [];
  let bytes = 0;
  for (const e of entries) {
    bytes += Buffer.byteLength(e.MessageBody ?? '');
    for (const [name, value] of Object.entries(e.MessageAttributes ?? {}) as [string, MessageAttributeValue][]) {
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
      bytes += Buffer.byteLength(value.StringValue ?? '');
    }
  }
  return bytes;
}

const deliveryIdOf = (m: Message): string | undefined => m.MessageAttributes?.delivery_id?.StringValue;

let sqs: LocalSqs;
let queues: DeliveryQueues;

beforeEach(async () => {
  sqs = await startSqsEmulator();
  queues = await createDeliveryQueues(sqs.client, { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
});

afterEach(async () => {
  await sqs.stop();
});

describe('startSqsEmulator and createDeliveryQueues', () => {
  it('listens on loopback only', () => {
    expect(sqs.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates the delivery queue with a redrive policy to its own dead-letter queue', async () => {
    const { Attributes } = await sqs.client.send(
      new GetQueueAttributesCommand({ QueueUrl: queues.delivery.url, AttributeNames: ['All'] }),
    );
    expect(Attributes?.VisibilityTimeout).toBe('30');
    const policy = JSON.parse(Attributes?.RedrivePolicy ?? '{}') as Record<string, unknown>;
    expect(policy.deadLetterTargetArn).toBe(queues.deadLetter.arn);
    expect(Number(policy.maxReceiveCount)).toBe(5);
    const urls = new Set([queues.delivery.url, queues.deadLetter.url, queues.renderDeadLetter.url]);
    expect(urls.size).toBe(3);
    expect(queues.renderDeadLetter.arn).toMatch(/^arn:aws:sqs:us-east-1:\d+:dograh-webhooks-render-dlq$/);
  });
});

describe('createSqsDeliveryQueue', () => {
  it('sends 23 messages in three SendMessageBatch calls of at most ten, and all arrive', async () => {
    const calls = recordCalls(sqs.client);
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url });
    const messages = Array.from({ length: 23 }, (_, i) => makeDeliveryMessage(i));

    await queue.enqueue(messages);

    const batches = sendBatches(calls);
    expect(batches.map((b) => b.Entries?.length)).toEqual([10, 10, 3]);
    expect(batches[2]?.Entries?.map((e) => e.Id)).toEqual(['0', '1', '2']);
    const received = await receiveAll(sqs.client, queues.delivery.url, 23);
    expect(received.map(deliveryIdOf).sort()).toEqual(messages.map((m) => m.delivery_id).sort());
    for (const m of received) {
      expect((JSON.parse(m.Body ?? '') as DeliveryMessage).delivery_id).toBe(deliveryIdOf(m));
    }
  });

  it('splits a batch so that no request exceeds 256 KiB', async () => {
    const calls = recordCalls(sqs.client);
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url });
    // About 100 KiB each: two fit in one request, three do not.
    const messages = Array.from({ length: 6 }, (_, i) => makeDeliveryMessage(i, { body: 'x'.repeat(100 * 1024) }));

    await queue.enqueue(messages);

    const batches = sendBatches(calls);
    expect(batches).toHaveLength(3);
    for (const b of batches) expect(batchBytes(b)).toBeLessThanOrEqual(SQS_MAX_BATCH_BYTES);
    const received = await receiveAll(sqs.client, queues.delivery.url, 6);
    expect(received).toHaveLength(6);
  });

  it('keeps characters beyond the BMP and U+FFFF intact through the queue', async () => {
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url });
    const message = makeDeliveryMessage(1, {
      node_name: 'Notify 😀 CRM',
      body: JSON.stringify({ note: 'a\uFFFFb 🎉' }),
    });

    await queue.enqueue([message]);

    const [received] = await receiveAll(sqs.client, queues.delivery.url, 1);
    expect(JSON.parse(received?.Body ?? '')).toEqual(message);
  });

  it('resends entries that SQS failed on its own side', async () => {
    const calls = recordCalls(sqs.client);
    const messages = Array.from({ length: 4 }, (_, i) => makeDeliveryMessage(i));
    const flaky = messages[2]?.delivery_id;
    failEntries(sqs.client, (id, call) => id === flaky && call === 1);
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url, retryDelayMs: 1 });

    await queue.enqueue(messages);

    expect(sendBatches(calls).map((b) => b.Entries?.length)).toEqual([4, 1]);
    const received = await receiveAll(sqs.client, queues.delivery.url, 4);
    expect(received.map(deliveryIdOf).sort()).toEqual(messages.map((m) => m.delivery_id).sort());
  });

  it('gives up after three tries and names the delivery that is not on the queue', async () => {
    const calls = recordCalls(sqs.client);
    const messages = Array.from({ length: 3 }, (_, i) => makeDeliveryMessage(i));
    const broken = messages[1]?.delivery_id ?? '';
    failEntries(sqs.client, (id) => id === broken);
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url, retryDelayMs: 1 });

    const error = await queue.enqueue(messages).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueError);
    expect((error as EnqueueError).deliveryIds).toEqual([broken]);
    expect((error as EnqueueError).failures[0]).toMatchObject({ code: 'InternalError', senderFault: false });
    expect((error as EnqueueError).message).toContain(broken);
    expect(sendBatches(calls)).toHaveLength(3);
    const received = await receiveAll(sqs.client, queues.delivery.url, 2);
    const others = [messages[0]?.delivery_id, messages[2]?.delivery_id];
    expect(received.map(deliveryIdOf).sort()).toEqual(others.sort());
  });

  it('does not resend an entry that SQS refused as the sender’s fault', async () => {
    const { QueueUrl: smallQueueUrl = '' } = await sqs.client.send(
      new CreateQueueCommand({ QueueName: 'small', Attributes: { MaximumMessageSize: '1024' } }),
    );
    const calls = recordCalls(sqs.client);
    const small = makeDeliveryMessage(1);
    const big = makeDeliveryMessage(2, { body: 'x'.repeat(2_000) });
    const queue = createSqsDeliveryQueue({ client: sqs.client, queueUrl: smallQueueUrl, retryDelayMs: 1 });

    const error = await queue.enqueue([small, big]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueError);
    expect((error as EnqueueError).failures).toMatchObject([{ deliveryId: big.delivery_id, senderFault: true }]);
    expect(sendBatches(calls)).toHaveLength(1);
    const [arrived] = await receiveAll(sqs.client, smallQueueUrl, 1);
    expect(deliveryIdOf(arrived ?? {})).toBe(small.delivery_id);
  });
});

describe('createSqsMessageActions', () => {
  async function receivedHandle(): Promise<string> {
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queues.delivery.url, MessageBody: '{"v":1}' }));
    const message = await receiveOne(sqs.client, queues.delivery.url, 1);
    return message?.ReceiptHandle ?? '';
  }

  const deadLetteredAt = Date.parse('2025-03-04T05:06:07.089Z');

  function actions() {
    return createSqsMessageActions({
      client: sqs.client,
      queueUrl: queues.delivery.url,
      deadLetterQueueUrl: queues.deadLetter.url,
      clock: { now: () => deadLetteredAt },
    });
  }

  it('delay hides a received message for the given seconds, then SQS delivers it again', async () => {
    const handle = await receivedHandle();

    await actions().delay(handle, 1);
    const delayedAt = Date.now();

    expect(await receiveOne(sqs.client, queues.delivery.url)).toBeUndefined();
    const again = await receiveOne(sqs.client, queues.delivery.url, 3);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(Date.now() - delayedAt).toBeGreaterThanOrEqual(900);
  });

  it('delay clamps the seconds to what SQS accepts', async () => {
    const calls = recordCalls(sqs.client);
    const first = await receivedHandle();
    await actions().delay(first, -5);
    // Clamped to 0: visible again at once (an unclamped -5 would be refused).
    const again = await receiveOne(sqs.client, queues.delivery.url);
    await actions().delay(again?.ReceiptHandle ?? '', 1e9);
    await actions().delay(again?.ReceiptHandle ?? '', 2.2);

    const timeouts = calls
      .filter((c) => c.command === 'ChangeMessageVisibilityCommand')
      .map((c) => (c.input as ChangeMessageVisibilityCommandInput).VisibilityTimeout);
    expect(timeouts).toEqual([0, 43_200, 3]);
    expect(again).toBeDefined();
    await expect(actions().delay(again?.ReceiptHandle ?? '', Number.NaN)).rejects.toThrow(RangeError);
  });

  it('deadLetter puts the original body on the dead-letter queue with its reason, delivery id and time', async () => {
    const body = JSON.stringify(makeDeliveryMessage(3));

    await actions().deadLetter(body, 'endpoint answered 410', 'whd_abc');

    const message = await receiveOne(sqs.client, queues.deadLetter.url, 1);
    expect(message?.Body).toBe(body);
    const attributes = message?.MessageAttributes ?? {};
    expect(attributes.reason).toMatchObject({ DataType: 'String', StringValue: 'endpoint answered 410' });
    expect(attributes.delivery_id).toMatchObject({ DataType: 'String', StringValue: 'whd_abc' });
    expect(attributes[DEAD_LETTERED_AT_ATTRIBUTE]).toMatchObject({ StringValue: '2025-03-04T05:06:07.089Z' });
  });

  it('deadLetter shortens a long reason and replaces characters SQS refuses', async () => {
    await actions().deadLetter('{}', `bad\u0000${'x'.repeat(5_000)}`, 'whd_abc');

    const message = await receiveOne(sqs.client, queues.deadLetter.url, 1);
    const reason = message?.MessageAttributes?.reason?.StringValue ?? '';
    expect(reason.startsWith('bad\uFFFDx')).toBe(true);
    expect(reason.endsWith('…')).toBe(true);
    expect(Array.from(reason)).toHaveLength(MAX_REASON_LENGTH);
  });

  it('deadLetter leaves out the delivery id attribute when there is none', async () => {
    await actions().deadLetter('not json', 'unparseable message', '');

    const message = await receiveOne(sqs.client, queues.deadLetter.url, 1);
    expect(message?.Body).toBe('not json');
    expect(Object.keys(message?.MessageAttributes ?? {}).sort()).toEqual([DEAD_LETTERED_AT_ATTRIBUTE, 'reason']);
  });
});
