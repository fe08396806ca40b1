import type { DeliveryMessage } from '../domain/delivery.ts';
import type { FairSharePolicy, Lane } from '../domain/lanes.ts';
import type { Clock } from '../ports/clock.ts';
import { EnqueueError, type DeliveryQueue, type EnqueueFailure } from '../ports/delivery-queue.ts';
import type { TrafficCounter } from '../ports/traffic-counter.ts';

export interface LaneRoutingQueueOptions {
  readonly main: DeliveryQueue;
  readonly slow: DeliveryQueue;
  readonly counter: TrafficCounter;
  readonly policy: FairSharePolicy;
  readonly clock: Clock;
  /** Told how many deliveries of an organization went to each lane (a metric, a debug line). */
  readonly onRouted?: (organizationId: string, lane: Lane, deliveries: number) => void;
}

/**
 * Render's delivery queue with fairness (shared/domain/lanes.ts): an organization's
 * deliveries go to the main queue while its count in the window is within its fair
 * share, the rest to the slow lane. Both queues are sent to at once; when either
 * rejects with {@link EnqueueError}, the one error names every delivery on neither
 * queue, so the caller's contract (every delivery not named is enqueued) holds. Any
 * other rejection passes through, for Lambda to retry the event.
 */
export function createLaneRoutingQueue(options: LaneRoutingQueueOptions): DeliveryQueue {
  const { main, slow, counter, policy, clock } = options;
  return {
    messageBytes: (message) => main.messageBytes(message),
    async enqueue(messages) {
      const byOrg = new Map<string, DeliveryMessage[]>();
      for (const m of messages) {
        const list = byOrg.get(m.organization_id);
        if (list === undefined) byOrg.set(m.organization_id, [m]);
        else list.push(m);
      }
      const toMain: DeliveryMessage[] = [];
      const toSlow: DeliveryMessage[] = [];
      const now = clock.now();
      for (const [org, list] of byOrg) {
        const count = await counter.add(org, list.length, now);
        // What is left of the share before these: that many go on the main queue.
        const room = Math.max(0, Math.min(list.length, policy.deliveries - (count - list.length)));
        toMain.push(...list.slice(0, room));
        toSlow.push(...list.slice(room));
        if (room > 0) options.onRouted?.(org, 'main', room);
        if (room < list.length) options.onRouted?.(org, 'slow', list.length - room);
      }
      const sends: Promise<void>[] = [];
      if (toMain.length > 0) sends.push(main.enqueue(toMain));
      if (toSlow.length > 0) sends.push(slow.enqueue(toSlow));
      const results = await Promise.allSettled(sends);
      const failures: EnqueueFailure[] = [];
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        if (!(result.reason instanceof EnqueueError)) throw result.reason;
        failures.push(...result.reason.failures);
      }
      if (failures.length > 0) throw new EnqueueError(failures);
    },
  };
}
