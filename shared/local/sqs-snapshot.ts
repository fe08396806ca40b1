import { SendMessageBatchCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { SQS_MAX_BATCH_BYTES } from '../adapters/sqs-delivery-queue.ts';

/**
 * fauxqs keeps queues in memory only. To keep a local stack's messages between
 * runs, they are read out on shutdown through fauxqs's inspection endpoint (ready,
 * delayed and in-flight alike, without consuming them) and sent again on the next
 * start, each hidden until it was due. Receive counts start over.
 */
export interface SavedMessage {
  readonly body: string;
  readonly attributes: Record<string, MessageAttributeValue>;
  /** Epoch ms at which the message was to become visible again. */
  readonly visibleAtMs: number;
}

export interface SavedQueue {
  readonly name: string;
  readonly messages: SavedMessage[];
}

const Attributes = z.record(z.string(), z.object({ DataType: z.string(), StringValue: z.string().optional() }));
const Message = z.object({ body: z.string(), messageAttributes: Attributes.default({}) });
const Inspection = z.object({
  messages: z.object({
    ready: z.array(Message),
    delayed: z.array(Message.extend({ delayUntil: z.number() })),
    inflight: z.array(z.object({ message: Message, visibilityDeadline: z.number() })),
  }),
});
export const SavedQueuesSchema = z.array(
  z.object({
    name: z.string(),
    messages: z.array(z.object({ body: z.string(), attributes: Attributes, visibleAtMs: z.number() })),
  }),
);

/** Reads every message of the named queues from a fauxqs emulator at `endpoint`. */
export async function saveQueues(endpoint: string, names: readonly string[], nowMs: number): Promise<SavedQueue[]> {
  const saved: SavedQueue[] = [];
  for (const name of names) {
    const response = await fetch(`${endpoint}/_fauxqs/queues/${encodeURIComponent(name)}`);
    if (!response.ok) throw new Error(`cannot inspect queue ${name}: HTTP ${response.status}`);
    const { messages } = Inspection.parse(await response.json());
    saved.push({
      name,
      messages: [
        ...messages.ready.map((m) => ({ body: m.body, attributes: m.messageAttributes, visibleAtMs: nowMs })),
        ...messages.delayed.map((m) => ({ body: m.body, attributes: m.messageAttributes, visibleAtMs: m.delayUntil })),
        ...messages.inflight.map((m) => ({
          body: m.message.body,
          attributes: m.message.messageAttributes,
          visibleAtMs: m.visibilityDeadline,
        })),
      ],
    });
  }
  return saved;
}

/** SQS delays a message by at most 15 minutes; a later one comes back early and the deliver side hides it again. */
const MAX_DELAY_SECONDS = 900;

/** Sends saved messages back to their queues (by name), each delayed until it was due. Returns how many. */
export async function restoreQueues(
  client: SQSClient,
  urls: ReadonlyMap<string, string>,
  saved: readonly SavedQueue[],
  nowMs: number,
): Promise<number> {
  let count = 0;
  for (const queue of saved) {
    const url = urls.get(queue.name);
    if (url === undefined) continue;
    for (const batch of batches(queue.messages)) {
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: batch.map((m, j) => ({
            Id: String(j),
            MessageBody: m.body,
            MessageAttributes: m.attributes,
            DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((m.visibleAtMs - nowMs) / 1000))),
          })),
        }),
      );
      if ((out.Failed ?? []).length > 0)
        throw new Error(`queue ${queue.name}: ${out.Failed?.length} saved messages could not be restored`);
      count += batch.length;
    }
  }
  return count;
}

/** Ten messages at most per batch, and no more bytes than a batch may carry. */
function* batches(messages: readonly SavedMessage[]): Generator<SavedMessage[]> {
  let batch: SavedMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = Buffer.byteLength(message.body) + Buffer.byteLength(JSON.stringify(message.attributes));
    if (batch.length > 0 && (batch.length === 10 || bytes + size > SQS_MAX_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(message);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
