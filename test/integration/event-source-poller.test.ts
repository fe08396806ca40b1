import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createDeliveryQueues, startSqsEmulator } from '../../shared/local/fauxqs.ts';
import type { DeliveryQueues, LocalSqs } from '../../shared/local/fauxqs.ts';
import { startPoller } from '../../shared/local/event-source-poller.ts';
import type { Poller, PollerOptions, PollerStage } from '../../shared/local/event-source-poller.ts';
import { createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import { createSqsMessageActions } from '../../shared/adapters/sqs-message-actions.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

const deliveryIdOf = (r: SQSRecord): string => r.messageAttributes.delivery_id?.stringValue ?? '';

/** Every record the handler saw, by delivery id, in the order seen. */
class Seen {
  readonly events: SQSEvent[] = [];
  readonly byDelivery = new Map<string, SQSRecord[]>();
  readonly seenAt = new Map<string, number[]>();
  add(event: SQSEvent): void {
    this.events.push(event);
    for (const r of event.Records) {
      const id = deliveryIdOf(r);
      this.byDelivery.set(id, [...(this.byDelivery.get(id) ?? []), r]);
      this.seenAt.set(id, [...(this.seenAt.get(id) ?? []), Date.now()]);
    }
  }
  receiveCounts(deliveryId: string): string[] {
    return (this.byDelivery.get(deliveryId) ?? []).map((r) => r.attributes.ApproximateReceiveCount);
  }
}

async function queueCounts(client: SQSClient, queueUrl: string): Promise<number[]> {
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return [
    a.ApproximateNumberOfMessages,
    a.ApproximateNumberOfMessagesNotVisible,
    a.ApproximateNumberOfMessagesDelayed,
  ].map(Number);
}

let sqs: LocalSqs;
let queues: DeliveryQueues;
let poller: Poller | undefined;
let errors: { stage: PollerStage; error: unknown }[];

async function setUp(maxReceiveCount = 3): Promise<void> {
  // One second of visibility keeps redeliveries quick.
  queues = await createDeliveryQueues(sqs.client, { visibilityTimeoutSeconds: 1, maxReceiveCount });
}

function poll(handler: PollerOptions['handler'], options: Partial<PollerOptions> = {}): Poller {
  poller = startPoller({
    client: sqs.client,
    queueUrl: queues.delivery.url,
    queueArn: queues.delivery.arn,
    handler,
    onError: (error, stage) => errors.push({ error, stage }),
    ...options,
  });
  return poller;
}

async function enqueue(count: number): Promise<DeliveryMessage[]> {
  const messages = Array.from({ length: count }, (_, i) => makeDeliveryMessage(i));
  await createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url }).enqueue(messages);
  return messages;
}

beforeEach(async () => {
  sqs = await startSqsEmulator();
  poller = undefined;
  errors = [];
});

afterEach(async () => {
  await poller?.stop();
  await sqs.stop();
});

describe('startPoller', () => {
  it('hands the handler Lambda-shaped SQS events of at most ten records', async () => {
    await setUp();
    const messages = await enqueue(25);
    const seen = new Seen();
    const p = poll(async (event) => seen.add(event));

    await p.idle();

    expect(seen.events.every((e) => e.Records.length >= 1 && e.Records.length <= 10)).toBe(true);
    const records = seen.events.flatMap((e) => e.Records);
    expect(records.map(deliveryIdOf).sort()).toEqual(messages.map((m) => m.delivery_id).sort());
    const record = records[0] as SQSRecord;
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: queues.delivery.arn,
      awsRegion: 'us-east-1',
      md5OfBody: createHash('md5').update(record.body).digest('hex'),
      messageAttributes: {
        delivery_id: {
          stringValue: deliveryIdOf(record),
          dataType: 'String',
          stringListValues: [],
          binaryListValues: [],
        },
      },
    });
    expect(record.messageId).not.toBe('');
    expect(record.receiptHandle).not.toBe('');
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
      Number(record.attributes.SentTimestamp),
    );
    expect((JSON.parse(record.body) as DeliveryMessage).delivery_id).toBe(deliveryIdOf(record));
  });

  it('deletes the records of a batch that succeeded', async () => {
    await setUp();
    const messages = await enqueue(12);
    const seen = new Seen();
    const p = poll(async (event) => seen.add(event));

    await p.idle();

    expect(await queueCounts(sqs.client, queues.delivery.url)).toEqual([0, 0, 0]);
    expect(await queueCounts(sqs.client, queues.deadLetter.url)).toEqual([0, 0, 0]);
    for (const m of messages) expect(seen.receiveCounts(m.delivery_id)).toEqual(['1']);
  });

  it('keeps the records named in batchItemFailures, with the visibility the handler gave them', async () => {
    await setUp();
    const messages = await enqueue(3);
    const retried = messages[1]?.delivery_id ?? '';
    const actions = createSqsMessageActions({
      client: sqs.client,
      queueUrl: queues.delivery.url,
      deadLetterQueueUrl: queues.deadLetter.url,
    });
    const seen = new Seen();
    const p = poll(async (event): Promise<SQSBatchResponse> => {
      seen.add(event);
      const batchItemFailures = [];
      for (const r of event.Records) {
        if (deliveryIdOf(r) === retried && r.attributes.ApproximateReceiveCount === '1') {
          await actions.delay(r.receiptHandle, 2);
          batchItemFailures.push({ itemIdentifier: r.messageId });
        }
      }
      return { batchItemFailures };
    });

    await p.idle();

    // idle() waited for the hidden message: it was received a second time before idle resolved.
    expect(seen.receiveCounts(retried)).toEqual(['1', '2']);
    // Hidden for the handler's 2 s, not the queue's 1 s visibility timeout.
    const [first, second] = seen.seenAt.get(retried) ?? [];
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(1_900);
    for (const m of messages.filter((m) => m.delivery_id !== retried)) {
      expect(seen.receiveCounts(m.delivery_id)).toEqual(['1']);
    }
    expect(await queueCounts(sqs.client, queues.delivery.url)).toEqual([0, 0, 0]);
  });

  it('deletes nothing when the handler throws: the batch comes back after its visibility timeout', async () => {
    await setUp();
    const messages = await enqueue(4);
    const seen = new Seen();
    let calls = 0;
    const p = poll(async (event) => {
      seen.add(event);
      calls++;
      if (calls === 1) throw new Error('database down');
    });

    await p.idle();

    const firstBatch = seen.events[0]?.Records.map(deliveryIdOf) ?? [];
    expect(firstBatch.length).toBeGreaterThan(0);
    for (const id of firstBatch) expect(seen.receiveCounts(id)).toEqual(['1', '2']);
    expect(seen.byDelivery.size).toBe(messages.length);
    expect(errors).toMatchObject([{ stage: 'handler', error: { message: 'database down' } }]);
  });

  it('treats an itemIdentifier that is not in the batch as a failure of the whole batch', async () => {
    await setUp();
    await enqueue(2);
    const seen = new Seen();
    let calls = 0;
    const p = poll(async (event): Promise<SQSBatchResponse> => {
      seen.add(event);
      calls++;
      return { batchItemFailures: calls === 1 ? [{ itemIdentifier: 'not-in-this-batch' }] : [] };
    });

    await p.idle();

    const firstBatch = seen.events[0]?.Records.map(deliveryIdOf) ?? [];
    expect(firstBatch.length).toBeGreaterThan(0);
    for (const id of firstBatch) expect(seen.receiveCounts(id)).toEqual(['1', '2']);
    expect(errors.map((e) => e.stage)).toEqual(['response']);
  });

  it('leaves redrive to the queue: after maxReceiveCount receives the message is on the dead-letter queue', async () => {
    await setUp(2);
    const [message] = await enqueue(1);
    const seen = new Seen();
    const p = poll(async (event) => {
      seen.add(event);
      throw new Error('always failing');
    });

    await p.idle();

    expect(seen.receiveCounts(message?.delivery_id ?? '')).toEqual(['1', '2']);
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.deadLetter.url,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages).toHaveLength(1);
    expect(JSON.parse(Messages[0]?.Body ?? '')).toEqual(message);
    expect(Messages[0]?.MessageAttributes?.delivery_id?.StringValue).toBe(message?.delivery_id);
  });

  it('idle() waits for a message that is still delayed', async () => {
    await setUp();
    await sqs.client.send(
      new SendMessageCommand({ QueueUrl: queues.delivery.url, MessageBody: '{"late":true}', DelaySeconds: 1 }),
    );
    const bodies: string[] = [];
    const p = poll(async (event) => {
      bodies.push(...event.Records.map((r) => r.body));
    });

    await p.idle();

    expect(bodies).toEqual(['{"late":true}']);
  });

  it('stop() waits for the batch in the handler and acknowledges it', async () => {
    await setUp();
    await enqueue(1);
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = (): void => {};
    const inHandler = new Promise<void>((resolve) => (started = resolve));
    const p = poll(async () => {
      started();
      await gate;
    });
    await inHandler;

    let stopped = false;
    const stopping = p.stop().then(() => (stopped = true));
    await sleep(100);
    expect(stopped).toBe(false);
    release();
    await stopping;

    expect(stopped).toBe(true);
    expect(await queueCounts(sqs.client, queues.delivery.url)).toEqual([0, 0, 0]);
    await expect(p.idle()).rejects.toThrow(/stopped/);
  });

  it('handles up to `concurrency` batches of `batchSize` at once', async () => {
    await setUp();
    let active = 0;
    let mostActive = 0;
    const sizes: number[] = [];
    const p = poll(
      async (event) => {
        sizes.push(event.Records.length);
        active++;
        mostActive = Math.max(mostActive, active);
        // Hold each batch until all three run together, or give up after a while.
        for (let i = 0; i < 100 && active < 3; i++) await sleep(20);
        await sleep(20);
        active--;
      },
      { batchSize: 1, concurrency: 3 },
    );
    await enqueue(3);

    await p.idle();

    expect(sizes).toEqual([1, 1, 1]);
    expect(mostActive).toBe(3);
  });

  it('refuses a batch size Lambda would not use with SQS standard polling', () => {
    const options = { client: sqs.client, queueUrl: 'http://x', queueArn: 'arn:aws:sqs:us-east-1:0:x' };
    expect(() => startPoller({ ...options, handler: async () => {}, batchSize: 11 })).toThrow(RangeError);
  });
});
