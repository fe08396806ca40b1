/**
 * Acknowledges messages of a batch before the batch ends, so a fast delivery
 * leaves the queue when its own attempt ends, not when the slowest one does.
 */
export interface MessageSettler {
  /** Deletes these received messages; resolves with the receipt handles that were not deleted (they are left to the event source). */
  delete(receiptHandles: readonly string[]): Promise<string[]>;
}
