import { DeleteMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageSettler } from '../ports/message-settler.ts';
import { SQS_MAX_BATCH_ENTRIES } from './sqs-delivery-queue.ts';

/** Entry ids of early deletes start with this, so request logs (and the isolation bench) tell them from the event source's. */
export const EARLY_DELETE_ID_PREFIX = 'settled-';

/** Counts of requests, for the cost figures of early settling. */
export interface SettlerStats {
  readonly requests: number;
  readonly deleted: number;
}

/** Deletes settled messages with DeleteMessageBatch, ten per request. */
export function createSqsMessageSettler(options: {
  readonly client: SQSClient;
  readonly queueUrl: string;
}): MessageSettler & { readonly stats: SettlerStats } {
  const stats = { requests: 0, deleted: 0 };
  return {
    stats,
    async delete(receiptHandles) {
      const left: string[] = [];
      for (let i = 0; i < receiptHandles.length; i += SQS_MAX_BATCH_ENTRIES) {
        const chunk = receiptHandles.slice(i, i + SQS_MAX_BATCH_ENTRIES);
        stats.requests += 1;
        try {
          const out = await options.client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: options.queueUrl,
              Entries: chunk.map((handle, j) => ({ Id: `${EARLY_DELETE_ID_PREFIX}${j}`, ReceiptHandle: handle })),
            }),
          );
          for (const f of out.Failed ?? [])
            left.push(chunk[Number((f.Id ?? '').slice(EARLY_DELETE_ID_PREFIX.length))] ?? '');
          stats.deleted += chunk.length - (out.Failed?.length ?? 0);
        } catch {
          left.push(...chunk);
        }
      }
      return left.filter((h) => h !== '');
    },
  };
}
