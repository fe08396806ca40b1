import { CreateQueueCommand, ReceiveMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELIVERY_ID_ATTRIBUTE, toSqsJson } from '../../shared/adapters/sqs-delivery-queue.ts';
import { DEAD_LETTERED_AT_ATTRIBUTE } from '../../shared/adapters/sqs-message-actions.ts';
import { readQueueDepth } from '../../shared/adapters/sqs-queue-depth.ts';
import { createSqsSlowLane } from '../../shared/adapters/sqs-slow-lane.ts';
import { startSqsEmulator, type LocalSqs } from '../../shared/local/fauxqs.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// The slow lane adapter on fauxqs with the real SDK: what a forwarded message carries.
let sqs: LocalSqs;
const sent: SendMessageCommandInput[] = [];

beforeAll(async () => {
  sqs = await startSqsEmulator();
  sqs.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendMessageCommand') sent.push(args.input as SendMessageCommandInput);
      return next(args);
    },
    { step: 'initialize', name: 'recordSends' },
  );
});

afterAll(async () => {
  await sqs?.stop();
});

async function queue(name: string): Promise<string> {
  const { QueueUrl = '' } = await sqs.client.send(new CreateQueueCommand({ QueueName: name }));
  return QueueUrl;
}

describe('the SQS slow lane', () => {
  it('forwards the body as received, the delivery id, the organization as group id, hidden for the delay', async () => {
    const url = await queue('slow-delayed');
    const message = makeDeliveryMessage(1, { organization_id: 'org-a' });
    // A body as render wrote it, escapes and all: forwarded byte for byte, not re-serialized.
    const body = toSqsJson({ ...message, body: '{"note":"\uFFFE"}' });
    await createSqsSlowLane({ client: sqs.client, queueUrl: url }).forward({ body }, message, 30);
    expect(sent.at(-1)).toMatchObject({
      QueueUrl: url,
      MessageBody: body,
      MessageGroupId: 'org-a',
      DelaySeconds: 30,
      MessageAttributes: { [DELIVERY_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.delivery_id } },
    });
    expect(Object.keys(sent.at(-1)?.MessageAttributes ?? {})).toEqual([DELIVERY_ID_ATTRIBUTE]);
    expect(await readQueueDepth(sqs.client, url)).toEqual({ waiting: 0, inFlight: 0, delayed: 1 });
  });

  it('keeps the dead-letter mark, and a message without a delay is there at once', async () => {
    const url = await queue('slow-now');
    const message = makeDeliveryMessage(2);
    const body = JSON.stringify(message);
    const deadLetteredAt = '2026-11-27T09:00:00.000Z';
    await createSqsSlowLane({ client: sqs.client, queueUrl: url }).forward({ body, deadLetteredAt }, message, 0);
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages).toHaveLength(1);
    expect(Messages[0]?.Body).toBe(body);
    expect(Messages[0]?.MessageAttributes?.[DEAD_LETTERED_AT_ATTRIBUTE]?.StringValue).toBe(deadLetteredAt);
    expect(Messages[0]?.MessageAttributes?.[DELIVERY_ID_ATTRIBUTE]?.StringValue).toBe(message.delivery_id);
  });

  it("caps the delay at SQS's 15 minutes, and rejects when the queue is not there (the caller keeps the original)", async () => {
    const url = await queue('slow-capped');
    const lane = createSqsSlowLane({ client: sqs.client, queueUrl: url });
    await lane.forward({ body: '{}' }, makeDeliveryMessage(3), 7_200);
    expect(sent.at(-1)?.DelaySeconds).toBe(900);
    const missing = createSqsSlowLane({ client: sqs.client, queueUrl: `${url}-missing` });
    await expect(missing.forward({ body: '{}' }, makeDeliveryMessage(4), 0)).rejects.toThrow();
  });
});
