import { mkdtemp, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createDeliveryQueues, startSqsEmulator } from '../../shared/local/fauxqs.ts';
import { restoreQueues, saveQueues } from '../../shared/local/sqs-snapshot.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../cli/local-stack.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

async function count(stack: Awaited<ReturnType<typeof startLocalStack>>, url: string): Promise<number> {
  const { Attributes = {} } = await stack.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible) +
    Number(Attributes.ApproximateNumberOfMessagesDelayed)
  );
}

describe('a local stack with a data folder', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('keeps the outcome log, the dead letters and the waiting retries across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'webhooks-data-'));
    receiver.on('/dead', () => ({ status: 500 }));
    let up = false;
    receiver.on('/later', () => ({ status: up ? 200 : 503 }));
    const nodes = [
      makeNodeJson({
        id: 'dead',
        data: { endpoint_url: `${receiver.origin}/dead`, credential_uuid: null, retry_config: null },
      }),
      makeNodeJson({
        id: 'later',
        data: {
          endpoint_url: `${receiver.origin}/later`,
          credential_uuid: null,
          retry_config: { max_attempts: 2, backoff: 'fixed', initial_delay_seconds: 3, max_delay_seconds: 3 },
        },
      }),
    ];

    const first = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000, dataDir });
    const rendered = await first.emit(makeEventJson({ detail: { workflow_run_id: 4242, nodes } }));
    const [dead, later] = rendered.map((r) => r.delivery_id);
    await first.waitUntilFinal([dead!], 10_000);
    await receiver.waitFor('/later', 1);
    // Let the retry's record land before the stop.
    while ((await first.store.get(later!))?.status !== 'retrying') await new Promise((r) => setTimeout(r, 50));
    await first.stop();
    // The queues are fauxqs's SQLite database, written through as they change.
    expect(existsSync(join(dataDir, 'sqs', 'fauxqs.db'))).toBe(true);

    up = true;
    const second = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000, dataDir });
    try {
      expect(await second.store.get(dead!)).toMatchObject({ status: 'failed', attempts: 1 });
      expect(await count(second, second.queues.deadLetter.url)).toBe(1);
      // The waiting retry comes back when it was due and is delivered by the new stack.
      const [record] = await second.waitUntilFinal([later!], 15_000);
      expect(record).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(receiver.to('/later')).toHaveLength(2);
    } finally {
      await second.stop();
    }
  });

  it('takes in the queue file an older version wrote at stop, once', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'webhooks-data-'));
    const message = {
      body: 'a dead letter of an older version',
      attributes: { n: { DataType: 'String', StringValue: '1' } },
      visibleAtMs: Date.now(),
    };
    await writeFile(
      join(dataDir, 'sqs.json'),
      JSON.stringify([{ name: 'dograh-webhooks-delivery-dlq', messages: [message] }]),
    );
    const first = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000, dataDir });
    try {
      expect(await count(first, first.queues.deadLetter.url)).toBe(1);
    } finally {
      await first.stop();
    }
    expect(existsSync(join(dataDir, 'sqs.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'sqs.json.imported'))).toBe(true);
    const second = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000, dataDir });
    try {
      expect(await count(second, second.queues.deadLetter.url)).toBe(1);
    } finally {
      await second.stop();
    }
  });

  it('starts again with another request timeout: the delivery queue takes the new visibility timeout', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'webhooks-data-'));
    const first = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000, dataDir });
    await first.stop();
    const second = await startLocalStack({ secrets: {}, requestTimeoutMs: 5000, dataDir });
    try {
      const { Attributes = {} } = await second.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: second.queues.delivery.url, AttributeNames: ['VisibilityTimeout'] }),
      );
      expect(Attributes.VisibilityTimeout).toBe('40');
    } finally {
      await second.stop();
    }
  });

  it('restores large messages in batches SQS accepts', async () => {
    const from = await startSqsEmulator();
    const to = await startSqsEmulator();
    try {
      const source = await createDeliveryQueues(from.client, { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
      const target = await createDeliveryQueues(to.client, { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
      const big = 'x'.repeat(150_000);
      for (let i = 0; i < 12; i++) {
        await from.client.send(
          new SendMessageCommand({
            QueueUrl: source.deadLetter.url,
            MessageBody: `${i}:${big}`,
            MessageAttributes: { n: { DataType: 'String', StringValue: String(i) } },
          }),
        );
      }
      const name = source.deadLetter.url.slice(source.deadLetter.url.lastIndexOf('/') + 1);
      const saved = await saveQueues(from.endpoint, [name], Date.now());
      expect(saved[0]?.messages).toHaveLength(12);
      const restored = await restoreQueues(to.client, new Map([[name, target.deadLetter.url]]), saved, Date.now());
      expect(restored).toBe(12);
      const { Attributes = {} } = await to.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: target.deadLetter.url,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      expect(Attributes.ApproximateNumberOfMessages).toBe('12');
    } finally {
      await from.stop();
      await to.stop();
    }
  });
});
