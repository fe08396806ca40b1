import { describe, expect, it } from 'vitest';
import { createMemoryTrafficCounter } from '../../shared/adapters/dynamo-traffic-counter.ts';
import { createLaneRoutingQueue } from '../../shared/adapters/lane-routing-queue.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { laneForCount, windowOf, type Lane } from '../../shared/domain/lanes.ts';
import { EnqueueError, type DeliveryQueue } from '../../shared/ports/delivery-queue.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// Render's fair share (issue 8): an organization's deliveries past its share of a window go to the slow lane.

function memoryQueue(refuse: (m: DeliveryMessage) => boolean = () => false) {
  const held: DeliveryMessage[] = [];
  const queue: DeliveryQueue = {
    messageBytes: (m) => JSON.stringify(m).length,
    async enqueue(messages) {
      const refused = messages.filter(refuse);
      held.push(...messages.filter((m) => !refuse(m)));
      if (refused.length > 0)
        throw new EnqueueError(
          refused.map((m) => ({
            deliveryId: m.delivery_id,
            code: 'InvalidMessageContents',
            message: 'no',
            senderFault: true,
            refused: true,
          })),
        );
    },
  };
  return { queue, held };
}

const policy = { deliveries: 5, windowSeconds: 10 };

function setup(nowMs = 1_000_000) {
  const main = memoryQueue();
  const slow = memoryQueue();
  const routed: Array<[string, Lane, number]> = [];
  let now = nowMs;
  const queue = createLaneRoutingQueue({
    main: main.queue,
    slow: slow.queue,
    counter: createMemoryTrafficCounter(policy),
    policy,
    clock: { now: () => now },
    onRouted: (org, lane, n) => routed.push([org, lane, n]),
  });
  return { queue, main, slow, routed, advance: (ms: number) => (now += ms) };
}

const batch = (from: number, count: number, org: string) =>
  Array.from({ length: count }, (_, i) => makeDeliveryMessage(from + i, { organization_id: org }));

describe('lanes policy', () => {
  it('numbers windows from the epoch and sends only what is past the share to the slow lane', () => {
    expect(windowOf(0, policy)).toBe(0);
    expect(windowOf(9_999, policy)).toBe(0);
    expect(windowOf(10_000, policy)).toBe(1);
    expect(laneForCount(5, policy)).toBe('main');
    expect(laneForCount(6, policy)).toBe('slow');
  });
});

describe('createLaneRoutingQueue', () => {
  it('puts an organization within its share on the main queue, and the rest of the window on the slow lane', async () => {
    const { queue, main, slow, routed } = setup();
    await queue.enqueue(batch(0, 3, 'org-a'));
    await queue.enqueue(batch(3, 4, 'org-a'));
    await queue.enqueue(batch(7, 2, 'org-a'));
    expect(main.held.map((m) => m.delivery_id)).toEqual(batch(0, 5, 'org-a').map((m) => m.delivery_id));
    expect(slow.held.map((m) => m.delivery_id)).toEqual(batch(5, 4, 'org-a').map((m) => m.delivery_id));
    expect(routed).toEqual([
      ['org-a', 'main', 3],
      ['org-a', 'main', 2],
      ['org-a', 'slow', 2],
      ['org-a', 'slow', 2],
    ]);
  });

  it('counts each organization on its own: one past its share leaves the others on the main queue', async () => {
    const { queue, main, slow } = setup();
    await queue.enqueue(batch(0, 20, 'org-a'));
    await queue.enqueue([...batch(100, 2, 'org-b'), ...batch(200, 1, 'org-c')]);
    expect(slow.held.every((m) => m.organization_id === 'org-a')).toBe(true);
    expect(slow.held).toHaveLength(15);
    expect(main.held.filter((m) => m.organization_id !== 'org-a')).toHaveLength(3);
  });

  it('gives the share back in the next window', async () => {
    const { queue, main, slow, advance } = setup();
    await queue.enqueue(batch(0, 8, 'org-a'));
    advance(10_000);
    await queue.enqueue(batch(8, 2, 'org-a'));
    expect(main.held).toHaveLength(7);
    expect(slow.held).toHaveLength(3);
  });

  it('names in one EnqueueError every delivery on neither queue; the others are on theirs', async () => {
    const main = memoryQueue((m) => m.delivery_id.endsWith('1'));
    const slow = memoryQueue((m) => m.delivery_id.endsWith('7'));
    const queue = createLaneRoutingQueue({
      main: main.queue,
      slow: slow.queue,
      counter: createMemoryTrafficCounter(policy),
      policy,
      clock: { now: () => 0 },
    });
    const messages = batch(0, 9, 'org-a');
    const error = await queue.enqueue(messages).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnqueueError);
    expect((error as EnqueueError).deliveryIds.sort()).toEqual([messages[1]!.delivery_id, messages[7]!.delivery_id]);
    expect(main.held).toHaveLength(4);
    expect(slow.held).toHaveLength(3);
  });

  it('lets any other rejection through, for Lambda to retry the event', async () => {
    const broken: DeliveryQueue = {
      messageBytes: () => 1,
      enqueue: () => Promise.reject(new Error('AccessDenied')),
    };
    const queue = createLaneRoutingQueue({
      main: broken,
      slow: memoryQueue().queue,
      counter: createMemoryTrafficCounter(policy),
      policy,
      clock: { now: () => 0 },
    });
    await expect(queue.enqueue(batch(0, 2, 'org-a'))).rejects.toThrow('AccessDenied');
  });
});
