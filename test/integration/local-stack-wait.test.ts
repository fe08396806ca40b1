import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import type { DynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

let stack: LocalStack;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startLocalStack({ secrets: {}, requestTimeoutMs: 5_000 });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

describe('waiting for a local run to be final', () => {
  it('reads a record when it was written, not every record on every tick', async () => {
    receiver.on('/slow', () => ({ status: 200, delayMs: 300 }));
    const nodes = Array.from({ length: 100 }, (_, i) =>
      makeNodeJson({
        id: `n${i}`,
        data: { endpoint_url: `${receiver.origin}/slow`, credential_uuid: null, retry_config: null },
      }),
    );
    const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: 9100, nodes } }));
    const ids = rendered.map((r) => r.delivery_id);
    // The store the stack waits with counts its reads.
    const stats = (stack.store as DynamoDeliveryStore).stats;
    const before = stats.reads;
    const records = await stack.waitUntilFinal(ids, 120_000);
    expect(records.map((r) => r.status)).toEqual(ids.map(() => 'delivered'));
    expect(receiver.to('/slow')).toHaveLength(100);
    // One read each at the start, one after each outcome, and the open ones every 3 s:
    // a GetItem per delivery every 100 ms would be well past this.
    expect(stats.reads - before).toBeLessThan(100 * 5);
  }, 150_000);
});
