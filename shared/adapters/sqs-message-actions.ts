import { ChangeMessageVisibilityCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { Clock } from '../ports/clock.ts';
import { systemClock } from '../ports/clock.ts';
import { MAX_VISIBILITY_SECONDS, type MessageActions } from '../ports/delivery-queue.ts';
import { DELIVERY_ID_ATTRIBUTE } from './sqs-delivery-queue.ts';

/** Name of the message attribute that says why a message is on the dead-letter queue. */
export const REASON_ATTRIBUTE = 'reason';
/**
 * Name of the message attribute that holds when this system dead-lettered the
 * message (ISO-8601). A redrive keeps message attributes, so the deliver side
 * can tell a redriven final failure (start a new series of attempts) from a
 * duplicate of one (drop it). Messages the redrive policy moved carry none.
 */
export const DEAD_LETTERED_AT_ATTRIBUTE = 'dead_lettered_at';
/**
 * Longest reason kept, in characters. An error message can be arbitrarily long
 * (a response excerpt, a stack); the attribute counts against the message size.
 */
export const MAX_REASON_LENGTH = 1024;

/** Options of {@link createSqsMessageActions}. */
export interface SqsMessageActionsOptions {
  readonly client: SQSClient;
  /** The queue the messages were received from; receipt handles belong to it. */
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Stamps `dead_lettered_at`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * What the deliver function does to a message on SQS besides acknowledging it.
 * `delay` changes the visibility of the received message, so SQS itself
 * redelivers it when the backoff is over and counts the receive; `deadLetter`
 * copies the body to the dead-letter queue, and the caller then acknowledges
 * the original.
 */
export function createSqsMessageActions(options: SqsMessageActionsOptions): MessageActions {
  const { client, queueUrl, deadLetterQueueUrl } = options;
  const clock = options.clock ?? systemClock;
  return {
    async delay(receiptHandle, seconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: visibilitySeconds(seconds),
        }),
      );
    },
    async deadLetter(body, reason, deliveryId) {
      const attributes: Record<string, MessageAttributeValue> = {
        [REASON_ATTRIBUTE]: { DataType: 'String', StringValue: safeReason(reason) },
        [DEAD_LETTERED_AT_ATTRIBUTE]: { DataType: 'String', StringValue: new Date(clock.now()).toISOString() },
      };
      // SQS refuses an empty attribute value; a message too broken to name its delivery goes without.
      if (deliveryId !== '') attributes[DELIVERY_ID_ATTRIBUTE] = { DataType: 'String', StringValue: deliveryId };
      await client.send(
        new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: body, MessageAttributes: attributes }),
      );
    },
  };
}

/** Whole seconds within what SQS accepts; a backoff beyond 12 hours waits 12 hours. */
function visibilitySeconds(seconds: number): number {
  // NaN is a bug in the backoff computation: failing loudly beats retrying at once.
  if (Number.isNaN(seconds)) throw new RangeError('delay seconds is NaN');
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}

/**
 * The reason as SQS accepts it: characters outside SQS's set (control
 * characters, lone surrogates, U+FFFE/U+FFFF) replaced, at most
 * {@link MAX_REASON_LENGTH} characters, never empty.
 */
function safeReason(reason: string): string {
  // toWellFormed replaces lone surrogates, so the range below keeps only whole pairs of them.
  const clean = reason.toWellFormed().replace(/[^\t\n\r\u0020-\uFFFD]/g, '\uFFFD');
  // Cut by code points so a surrogate pair is never split in half.
  const chars = Array.from(clean);
  const cut = chars.length > MAX_REASON_LENGTH ? `${chars.slice(0, MAX_REASON_LENGTH - 1).join('')}…` : clean;
  return cut === '' ? 'unknown' : cut;
}
