import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { SlowLane } from '../ports/slow-lane.ts';
import { DELIVERY_ID_ATTRIBUTE } from './sqs-delivery-queue.ts';
import { DEAD_LETTERED_AT_ATTRIBUTE } from './sqs-message-actions.ts';

/** Longest DelaySeconds SQS takes on a message. */
export const MAX_DELAY_SECONDS = 900;

/**
 * The slow lane on SQS: one SendMessage per forwarded message, its body as received
 * (byte for byte), the attributes the deliver side reads (the delivery id, the
 * dead-letter mark), the organization as `MessageGroupId` (a fair queue on AWS, as
 * the delivery queue), hidden `delaySeconds` capped at SQS's 15 minutes: a longer
 * deferral is finished on the slow lane by the message's visibility, as on the main one.
 */
export function createSqsSlowLane(options: { readonly client: SQSClient; readonly queueUrl: string }): SlowLane {
  const { client, queueUrl } = options;
  return {
    async forward(received, message, delaySeconds) {
      const attributes: Record<string, MessageAttributeValue> = {
        [DELIVERY_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.delivery_id },
      };
      if (received.deadLetteredAt !== undefined)
        attributes[DEAD_LETTERED_AT_ATTRIBUTE] = { DataType: 'String', StringValue: received.deadLetteredAt };
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: received.body,
          MessageAttributes: attributes,
          MessageGroupId: message.organization_id,
          DelaySeconds: delayOf(delaySeconds),
        }),
      );
    },
  };
}

function delayOf(seconds: number): number {
  // NaN is a bug in the deferral: failing (the caller keeps the original) beats sending at once.
  if (Number.isNaN(seconds)) throw new RangeError('delay seconds is NaN');
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(seconds)));
}
