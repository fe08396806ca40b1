import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** A queue's approximate message counts, as SQS reports them (one GetQueueAttributes). */
export interface QueueDepth {
  /** Visible: waiting to be received. */
  readonly waiting: number;
  /** Received and not yet deleted or returned. */
  readonly inFlight: number;
  /** Sent with a delay that has not run out. */
  readonly delayed: number;
}

/** Reads the three approximate counts of `queueUrl` in one request. */
export async function readQueueDepth(client: SQSClient, queueUrl: string): Promise<QueueDepth> {
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
  return {
    waiting: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** Every message the queue still holds, in whatever state. */
export function messagesHeld(depth: QueueDepth): number {
  return depth.waiting + depth.inFlight + depth.delayed;
}
