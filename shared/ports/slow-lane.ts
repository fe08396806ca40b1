import type { DeliveryMessage } from '../domain/delivery.ts';

/** The deliver side's way onto the slow lane (see shared/domain/lanes.ts). */
export interface SlowLane {
  /**
   * Puts a copy of the received message on the slow lane, hidden `delaySeconds`
   * (0 to SQS's 900), with the attributes it came with (the dead-letter mark
   * among them). Rejects if it is not on the slow lane: the caller then keeps the
   * original, so nothing is lost; the delivery's id makes a double harmless.
   */
  forward(
    received: { readonly body: string; readonly deadLetteredAt?: string },
    message: DeliveryMessage,
    delaySeconds: number,
  ): Promise<void>;
}
