import { describe, expect, it } from 'vitest';
import { createMemoryDeliveryStore } from '../../shared/adapters/memory-delivery-store.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { reconcile, type ReconcileDeps } from '../../shared/use-cases/reconcile.ts';
import { quiet } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

const T0 = Date.parse('2026-11-27T10:00:00Z');
const LEASE = 60_000;
const GRACE = 15 * 60_000;

function setup(enqueue: (m: DeliveryMessage) => Promise<void> = async () => undefined) {
  const store = createMemoryDeliveryStore();
  let now = T0;
  const counts: string[] = [];
  const deps: ReconcileDeps = {
    store,
    queries: store,
    enqueue,
    clock: { now: () => now },
    log: quiet,
    metrics: {
      count: (name, value, dims) => void counts.push(`${name} ${value} ${JSON.stringify(dims ?? {})}`),
      duration() {},
      flush() {},
    },
    graceMs: GRACE,
  };
  return { store, deps, counts, at: (ms: number) => void (now = ms) };
}

const retrying = async (store: ReturnType<typeof createMemoryDeliveryStore>, m: DeliveryMessage) => {
  await store.claim(m, T0, LEASE);
  await store.recordAttempt(
    m,
    {
      attempt: 1,
      at: new Date(T0).toISOString(),
      duration_ms: 1,
      status_code: 503,
      error_class: 'http_transient',
      error_message: 'x',
      response_snippet: null,
    },
    { status: 'retrying', atMs: T0 + 30_000 },
    T0,
  );
};

describe('reconcile', () => {
  it('does nothing while the delivery queue has a backlog: an overdue message is most likely in it', async () => {
    const sent: string[] = [];
    const { store, deps, counts, at } = setup(async (m) => void sent.push(m.delivery_id));
    const m = makeDeliveryMessage(1);
    await retrying(store, m);
    at(T0 + 30_001 + GRACE);
    let waiting = 1_000;
    const busy = { ...deps, backlog: async () => waiting };
    expect(await reconcile(busy)).toEqual({
      examined: 0,
      requeued: [],
      failed: [],
      skipped: 0,
      pausedAtBacklog: 1_000,
    });
    expect(sent).toEqual([]);
    expect(counts).toEqual(['Reconciled 1 {"Action":"paused"}']);
    // Below the threshold (default 1,000, or the deps' own), it acts again.
    waiting = 999;
    expect((await reconcile(busy)).requeued).toEqual([m.delivery_id]);
    expect((await reconcile({ ...busy, pauseAtBacklog: 10 })).pausedAtBacklog).toBe(999);
  });

  it('acts as if there were no backlog when the queue cannot be read', async () => {
    const { store, deps, at } = setup();
    const m = makeDeliveryMessage(1);
    await retrying(store, m);
    at(T0 + 30_001 + GRACE);
    const report = await reconcile({
      ...deps,
      backlog: async () => {
        throw new Error('AccessDenied');
      },
    });
    expect(report.requeued).toEqual([m.delivery_id]);
    expect(report.pausedAtBacklog).toBeUndefined();
  });

  it('leaves a delivery alone until it is past its due time plus the grace, then puts it back once per grace', async () => {
    const sent: string[] = [];
    const { store, deps, counts, at } = setup(async (m) => void sent.push(m.delivery_id));
    const m = makeDeliveryMessage(1);
    await retrying(store, m);
    at(T0 + 30_000 + GRACE);
    expect((await reconcile(deps)).requeued).toEqual([]);
    at(T0 + 30_001 + GRACE);
    expect((await reconcile(deps)).requeued).toEqual([m.delivery_id]);
    expect(sent).toEqual([m.delivery_id]);
    expect(counts).toEqual(['Reconciled 1 {"Action":"requeued"}']);
    // Marked: not again within the next grace.
    expect((await reconcile(deps)).requeued).toEqual([]);
  });

  it('finds it again on a later run when the enqueue failed after the mark', async () => {
    let fail = true;
    const { store, deps, at } = setup(async () => {
      if (fail) throw new Error('SQS unavailable');
    });
    const m = makeDeliveryMessage(2);
    await retrying(store, m);
    at(T0 + 31_000 + GRACE);
    expect((await reconcile(deps)).requeued).toEqual([]);
    fail = false;
    at(T0 + 32_000 + 2 * GRACE);
    expect((await reconcile(deps)).requeued).toEqual([m.delivery_id]);
  });

  it('fails a stuck first attempt it cannot rebuild, and one it put back 3 times, counting both as failed deliveries', async () => {
    const { store, deps, counts, at } = setup();
    const lost = makeDeliveryMessage(3);
    await store.claim(lost, T0, LEASE);
    const looping = makeDeliveryMessage(4);
    await retrying(store, looping);
    let now = T0 + LEASE + GRACE + 31_000;
    for (let i = 0; i < 3; i++) {
      at(now);
      await reconcile(deps);
      now += GRACE + 1;
    }
    at(now);
    const report = await reconcile(deps);
    expect(report.failed).toEqual([looping.delivery_id]);
    expect(await store.get(lost.delivery_id)).toMatchObject({ status: 'failed', stranded: true });
    expect(await store.get(looping.delivery_id)).toMatchObject({
      status: 'failed',
      stranded: true,
      last_error: expect.stringMatching(/put back on the queue 3 times/),
    });
    expect(counts.filter((c) => c.startsWith('Deliveries'))).toEqual([
      'Deliveries 1 {"Outcome":"failed"}',
      'Deliveries 1 {"Outcome":"failed"}',
    ]);
  });
});
