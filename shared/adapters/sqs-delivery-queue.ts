import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { DeliveryMessage } from '../domain/delivery.ts';
import { EnqueueError, type DeliveryQueue, type EnqueueFailure } from '../ports/delivery-queue.ts';

// The error belongs to the port; re-exported for callers that know only this adapter.
export { EnqueueError, type EnqueueFailure } from '../ports/delivery-queue.ts';

/** SQS takes at most ten entries per SendMessageBatch. */
export const SQS_MAX_BATCH_ENTRIES = 10;
/** Largest SendMessageBatch, all bodies and attributes together, that a 256 KiB queue accepts. */
export const SQS_MAX_BATCH_BYTES = 256 * 1024;
/** Name of the message attribute that carries the delivery id, on the delivery and dead-letter queues. */
export const DELIVERY_ID_ATTRIBUTE = 'delivery_id';

/** Options of {@link createSqsDeliveryQueue}. */
export interface SqsDeliveryQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** Sends of an entry SQS failed on its own side (SenderFault false), the first included. Default 3. */
  readonly maxAttempts?: number;
  /** Pause before the first retry, doubled before each next one. Default 50 ms. */
  readonly retryDelayMs?: number;
  /** Largest request; lower it only for queues with a smaller MaximumMessageSize. Default 256 KiB. */
  readonly maxBatchBytes?: number;
}

interface Entry {
  readonly deliveryId: string;
  /** The organization: SQS fair queues keep one tenant's backlog from delaying the others' messages. */
  readonly groupId: string;
  readonly body: string;
  readonly attributes: Record<string, MessageAttributeValue>;
  readonly bytes: number;
}

interface Retry {
  readonly entry: Entry;
  readonly code: string;
  readonly message: string;
}

/**
 * The delivery queue on SQS. Each message carries its organization as its
 * `MessageGroupId`: on a standard queue that makes it an SQS fair queue, where
 * a tenant with a large backlog (a campaign, an endpoint in retry) does not
 * hold back other tenants' messages; ordering and throughput stay a standard
 * queue's. (fauxqs accepts the field and ignores it on standard queues.)
 *
 * Messages go out in SendMessageBatch requests of at
 * most ten entries and at most `maxBatchBytes`; entries SQS fails on its own
 * side are resent a few times. When `enqueue` rejects with {@link EnqueueError},
 * every delivery it does not name is on the queue: the caller may retry the
 * whole list, since the deliver side is idempotent on `delivery_id`.
 */
export function createSqsDeliveryQueue(options: SqsDeliveryQueueOptions): DeliveryQueue {
  const { client, queueUrl } = options;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const retryDelayMs = options.retryDelayMs ?? 50;
  const maxBatchBytes = options.maxBatchBytes ?? SQS_MAX_BATCH_BYTES;

  async function sendBatch(batch: readonly Entry[]): Promise<{ failures: EnqueueFailure[]; cause?: unknown }> {
    const failures: EnqueueFailure[] = [];
    let cause: unknown;
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const retries: Retry[] = [];
      try {
        const out = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: pending.map((e, i) => ({
              Id: String(i),
              MessageBody: e.body,
              MessageAttributes: e.attributes,
              MessageGroupId: e.groupId,
            })),
          }),
        );
        const succeeded = new Set((out.Successful ?? []).map((s) => s.Id));
        const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
        pending.forEach((entry, i) => {
          const id = String(i);
          if (succeeded.has(id)) return;
          const f = failed.get(id);
          const code = f?.Code ?? 'MissingResult';
          const message = f?.Message ?? 'entry is neither in Successful nor in Failed';
          if (f?.SenderFault === true)
            failures.push({ deliveryId: entry.deliveryId, code, message, senderFault: true, refused: true });
          else retries.push({ entry, code, message });
        });
      } catch (error) {
        cause = error;
        const code = error instanceof Error ? error.name : 'Error';
        const message = error instanceof Error ? error.message : String(error);
        // A request SQS refused as malformed (unknown queue, batch too long) fails the same way again.
        if (isSenderFault(error)) {
          // A lone entry too long for any batch is that entry's own fault; any other refusal
          // of the whole request (access, queue, throttling) says nothing about the entries.
          const refused = pending.length === 1 && code === 'BatchRequestTooLong';
          failures.push(
            ...pending.map((e) => ({ deliveryId: e.deliveryId, code, message, senderFault: true, refused })),
          );
          return { failures, cause };
        }
        retries.push(...pending.map((entry) => ({ entry, code, message })));
      }
      if (retries.length === 0) return { failures, cause };
      if (attempt >= maxAttempts) {
        for (const r of retries) {
          failures.push({
            deliveryId: r.entry.deliveryId,
            code: r.code,
            message: r.message,
            senderFault: false,
            refused: false,
          });
        }
        return { failures, cause };
      }
      await sleep(retryDelayMs * 2 ** (attempt - 1));
      pending = retries.map((r) => r.entry);
    }
  }

  return {
    async enqueue(messages) {
      const failures: EnqueueFailure[] = [];
      let cause: unknown;
      // One batch after the other: a run has a handful of webhook nodes, and a
      // failed batch must not stop the others from being tried.
      for (const batch of batches(messages.map(toEntry), maxBatchBytes)) {
        const result = await sendBatch(batch);
        failures.push(...result.failures);
        cause ??= result.cause;
      }
      if (failures.length > 0) throw new EnqueueError(failures, cause === undefined ? undefined : { cause });
    },
    messageBytes: deliveryMessageBytes,
  };
}

// Render sizes each message (messageBytes) and then enqueues it: serialize a body of up to
// a few hundred KB once, not twice. Messages are immutable, so the entry stays right.
const entries = new WeakMap<DeliveryMessage, Entry>();

function toEntry(message: DeliveryMessage): Entry {
  const known = entries.get(message);
  if (known !== undefined) return known;
  const body = toSqsJson(message);
  const attributes: Record<string, MessageAttributeValue> = {
    [DELIVERY_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.delivery_id },
  };
  const entry: Entry = {
    deliveryId: message.delivery_id,
    groupId: message.organization_id,
    body,
    attributes,
    bytes: messageBytes(body, attributes),
  };
  entries.set(message, entry);
  return entry;
}

/**
 * The bytes a delivery counts against the queue's message size limit, exactly as
 * it is sent: its escaped JSON body (an emoji takes 12 bytes there, not 4) and its
 * attributes.
 */
export function deliveryMessageBytes(message: DeliveryMessage): number {
  return toEntry(message).bytes;
}

/**
 * The JSON of the message, with the characters some SQS implementations refuse
 * written as `\u` escapes. U+FFFE and U+FFFF are outside SQS's character set
 * and JSON.stringify leaves them raw; characters beyond the BMP (emoji) are
 * allowed by AWS but refused by fauxqs. The escaped text parses to the same value.
 */
export function toSqsJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uFFFE\uFFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF]/g, (chars) =>
    Array.from({ length: chars.length }, (_, i) => `\\u${chars.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** What SQS counts against its size limit: the body, and each attribute's name, type and value. */
function messageBytes(body: string, attributes: Record<string, MessageAttributeValue>): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8');
    if (value.StringValue !== undefined) bytes += Buffer.byteLength(value.StringValue, 'utf8');
    if (value.BinaryValue !== undefined) bytes += value.BinaryValue.byteLength;
  }
  return bytes;
}

/**
 * Groups entries in order into batches of at most ten and at most `maxBytes`.
 * An entry larger than `maxBytes` on its own goes alone, and SQS decides: a
 * queue with a larger MaximumMessageSize takes it, any other refuses it as the
 * sender's fault.
 */
function* batches(entries: readonly Entry[], maxBytes: number): Generator<Entry[]> {
  let batch: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (batch.length > 0 && (batch.length === SQS_MAX_BATCH_ENTRIES || bytes + entry.bytes > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += entry.bytes;
  }
  if (batch.length > 0) yield batch;
}

function isSenderFault(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { $fault?: unknown }).$fault === 'client';
}
