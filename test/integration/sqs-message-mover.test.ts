import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsCopyMover, createSqsMoveTaskMover } from '../../shared/adapters/sqs-message-mover.ts';
import { emulatorClientConfig } from '../../shared/local/emulator-client-config.ts';
import { startSqsEmulator, type LocalSqs } from '../../shared/local/fauxqs.ts';
import type { MoveProgress, MoveQueue } from '../../shared/ports/message-mover.ts';
import { fakeServer } from '../fixtures/fake-aws-server.ts';

// The two movers behind `webhooks redrive`: the local one against the SQS emulator (fauxqs), the
// move-task one against a loopback fake of the SQS API (fauxqs has no move tasks).

let sqs: LocalSqs;

beforeAll(async () => {
  sqs = await startSqsEmulator();
});

afterAll(async () => {
  await sqs?.stop();
});

describe('the local mover (receive, send, delete)', () => {
  let queueCount = 0;

  async function queue(name: string): Promise<MoveQueue> {
    const { QueueUrl = '' } = await sqs.client.send(new CreateQueueCommand({ QueueName: `${name}-${++queueCount}` }));
    const { Attributes = {} } = await sqs.client.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    return { url: QueueUrl, arn: Attributes.QueueArn ?? '' };
  }

  async function fill(source: MoveQueue, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await sqs.client.send(
        new SendMessageCommand({
          QueueUrl: source.url,
          MessageBody: `{"n":${i}}`,
          MessageAttributes: {
            delivery_id: { DataType: 'String', StringValue: `whd_${i}` },
            dead_lettered_at: { DataType: 'String', StringValue: '2026-11-27T09:30:00.000Z' },
          },
        }),
      );
    }
  }

  async function drain(queueRef: MoveQueue) {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueRef.url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    return Messages;
  }

  it('moves every waiting message with its body and all its attributes', async () => {
    const [source, destination] = [await queue('move-src'), await queue('move-dst')];
    await fill(source, 3);
    const mover = createSqsCopyMover({ client: sqs.client, source, destination, pollIntervalMs: 5 });
    expect(await mover.waiting()).toBe(3);
    const final = await (await mover.start({ maxPerSecond: 500 })).wait();
    expect(final).toEqual({ status: 'COMPLETED', moved: 3, toMove: 3, failureReason: null });
    const moved = await drain(destination);
    expect(moved.map((m) => m.Body).sort()).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
    for (const m of moved) {
      expect(m.MessageAttributes?.['dead_lettered_at']).toMatchObject({
        DataType: 'String',
        StringValue: '2026-11-27T09:30:00.000Z',
      });
      expect(m.MessageAttributes?.['delivery_id']?.StringValue).toMatch(/^whd_\d$/);
    }
    expect(await mover.waiting()).toBe(0);
  });

  it('leaves a message that reached the source after the move started, visible again', async () => {
    const [source, destination] = [await queue('move-src'), await queue('move-dst')];
    await fill(source, 2);
    // A clock from before the messages were sent: to this move, both arrived after it started.
    const mover = createSqsCopyMover({
      client: sqs.client,
      source,
      destination,
      pollIntervalMs: 5,
      clock: { now: () => 0 },
    });
    const final = await (await mover.start()).wait();
    expect(final).toMatchObject({ status: 'COMPLETED', moved: 0, toMove: 2 });
    expect(await drain(destination)).toEqual([]);
    expect(await drain(source)).toHaveLength(2);
  });
});

describe('the move-task mover', () => {
  it('follows a move task through ListMessageMoveTasks until it completes, also once SQS stops naming it by handle', async () => {
    const pages: Record<string, unknown>[] = [
      {
        Status: 'RUNNING',
        TaskHandle: 'task-9',
        ApproximateNumberOfMessagesMoved: 0,
        ApproximateNumberOfMessagesToMove: 6,
        StartedTimestamp: 1700,
      },
      {
        Status: 'RUNNING',
        TaskHandle: 'task-9',
        ApproximateNumberOfMessagesMoved: 3,
        ApproximateNumberOfMessagesToMove: 6,
        StartedTimestamp: 1700,
      },
      // Finished: no handle any more, and a newer task of someone else listed first.
      {
        Status: 'COMPLETED',
        ApproximateNumberOfMessagesMoved: 6,
        ApproximateNumberOfMessagesToMove: 6,
        StartedTimestamp: 1700,
      },
    ];
    let listed = 0;
    const sqs = await fakeServer((request, _, response) => {
      const action = String(request.headers['x-amz-target']);
      let answer: unknown = {};
      if (action === 'AmazonSQS.StartMessageMoveTask') answer = { TaskHandle: 'task-9' };
      if (action === 'AmazonSQS.ListMessageMoveTasks') {
        const page = pages[Math.min(listed++, pages.length - 1)];
        answer = {
          Results: listed >= 3 ? [{ Status: 'RUNNING', TaskHandle: 'other', StartedTimestamp: 1800 }, page] : [page],
        };
      }
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(answer));
    });
    const client = new SQSClient(emulatorClientConfig(sqs.origin));
    try {
      const mover = createSqsMoveTaskMover({
        client,
        source: { url: `${sqs.origin}/1/dlq`, arn: 'arn:aws:sqs:us-east-1:1:dlq' },
        destination: { url: `${sqs.origin}/1/delivery`, arn: 'arn:aws:sqs:us-east-1:1:delivery' },
        pollIntervalMs: 5,
      });
      const task = await mover.start({ maxPerSecond: 5 });
      expect(task.id).toBe('task-9');
      const seen: MoveProgress[] = [];
      const final = await task.wait((p) => seen.push(p));
      expect(seen.map((p) => [p.status, p.moved, p.toMove])).toEqual([
        ['RUNNING', 0, 6],
        ['RUNNING', 3, 6],
        ['COMPLETED', 6, 6],
      ]);
      expect(final).toEqual({ status: 'COMPLETED', moved: 6, toMove: 6, failureReason: null });
      expect(
        JSON.parse(sqs.bodies.find((r) => r.target === 'AmazonSQS.ListMessageMoveTasks')?.body ?? '{}'),
      ).toMatchObject({
        SourceArn: 'arn:aws:sqs:us-east-1:1:dlq',
      });
    } finally {
      client.destroy();
      await sqs.close();
    }
  });
});
