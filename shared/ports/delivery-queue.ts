import type { DeliveryMessage } from '../domain/delivery.ts';
import { WebhookError } from '../errors.ts';

/** One delivery that could not be enqueued, and what the queue said about it. */
export interface EnqueueFailure {
  readonly deliveryId: string;
  readonly code: string;
  readonly message: string;
  /** True when the queue blamed the request (too large, bad characters, no such queue): retrying would not help. */
  readonly senderFault: boolean;
  /**
   * True when the queue refused this very entry (too large, characters it does not
   * take): it can never be sent as it is. False when the whole request failed
   * (access denied, no such queue, throttling): a fix of the deployment or time
   * may let it through.
   */
  readonly refused: boolean;
}

/** Some deliveries are not on the queue after the retries; the others are. */
export class EnqueueError extends WebhookError {
  readonly failures: readonly EnqueueFailure[];
  constructor(failures: readonly EnqueueFailure[], options?: { cause?: unknown }) {
    const list = failures.map((f) => `${f.deliveryId} (${f.code})`).join(', ');
    super(
      `could not enqueue ${failures.length} ${failures.length === 1 ? 'delivery' : 'deliveries'}: ${list}`,
      options,
    );
    this.failures = failures;
  }

  /** The ids of the deliveries that are not on the queue. */
  get deliveryIds(): string[] {
    return this.failures.map((f) => f.deliveryId);
  }
}

/** The render side of the delivery queue. */
export interface DeliveryQueue {
  /**
   * Sends in batches of ten; rejects with {@link EnqueueError} if any message could
   * not be enqueued after retries. Every message the error does not name is on the queue.
   */
  enqueue(messages: readonly DeliveryMessage[]): Promise<void>;
  /** The bytes `message` counts against the queue's message size limit, as it is sent. */
  messageBytes(message: DeliveryMessage): number;
}

/** What the deliver side does to a message besides acknowledging it. */
/** Longest a queue may hide a message, counted from its receive: SQS's 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;

export interface MessageActions {
  /** Hides the message for `seconds` (the backoff), so its next receive is the next attempt. */
  delay(receiptHandle: string, seconds: number): Promise<void>;
  /** Moves a final failure to the dead-letter queue with its reason, so operators can redrive it. */
  deadLetter(body: string, reason: string, deliveryId: string): Promise<void>;
}
