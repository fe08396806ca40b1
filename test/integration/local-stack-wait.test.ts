import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import type { DynamoDeliveryQueries } from '../../shared/adapters/dynamo-delivery-queries.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
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
    // The queries the stack waits with count their requests (BatchGetItems of up to 100).
    const stats = (stack.queries as DynamoDeliveryQueries).stats;
    const before = stats.reads;
    const records = await stack.waitUntilFinal(ids, 120_000);
    expect(records.map((r) => r.status)).toEqual(ids.map(() => 'delivered'));
    expect(receiver.to('/slow')).toHaveLength(100);
    // A read of the written ones at the start, one of those written since after each wake
    // (writes 20 ms apart are read together) and of the open ones every 3 s: at 300 ms an
    // outcome, ten in flight, about 30 wakes a second at most; a read per delivery per tick, or
    // a GetItem each, would be well past this.
    expect(stats.reads - before).toBeLessThan(100);
    // Written before this wait began: read at once, in one request, so a second wait ends well
    // inside 1 s, before the first periodic full read (3 s).
    const again = stats.reads;
    const reread = await stack.waitUntilFinal(ids, 1_000);
    expect(reread.map((r) => r.status)).toEqual(ids.map(() => 'delivered'));
    expect(stats.reads - again).toBe(1);
  }, 150_000);

  it('does not read a record no one has written yet, and still sees it when another process writes it', async () => {
    const stats = (stack.queries as DynamoDeliveryQueries).stats;
    const message = makeDeliveryMessage(9201);
    const before = stats.reads;
    const waiting = stack.waitUntilFinal([message.delivery_id], 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stats.reads - before).toBe(0);
    // stack.store is not the deliver function's: its writes reach no waiter, as a replay's from
    // another process would not. The waiter's periodic full read finds it.
    await stack.store.recordFinal(message, 'failed', 'written by another process', Date.now());
    const [record] = await waiting;
    expect(record?.status).toBe('failed');
    expect(record?.last_error).toContain('written by another process');
  }, 60_000);
});
