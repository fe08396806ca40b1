import type { DeliveryMessage } from '../domain/delivery.ts';

/** The render side of the delivery queue. */
export interface DeliveryQueue {
  /** Sends in batches of ten; rejects if any message could not be enqueued after retries. */
  enqueue(messages: readonly DeliveryMessage[]): Promise<void>;
}

/** What the deliver side does to a message besides acknowledging it. */
export interface MessageActions {
  /** Hides the message for `seconds` (the backoff), so its next receive is the next attempt. */
  delay(receiptHandle: string, seconds: number): Promise<void>;
  /** Moves a final failure to the dead-letter queue with its reason, so operators can redrive it. */
  deadLetter(body: string, reason: string, deliveryId: string): Promise<void>;
}
