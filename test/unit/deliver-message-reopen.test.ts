import { describe, expect, it } from 'vitest';
import { createMemoryDeliveryStore } from '../../shared/adapters/memory-delivery-store.ts';
import { DeliveryStateError } from '../../shared/errors.ts';
import type { DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { deliverMessage, type DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// Every redrive and reopen path of deliverMessage, on the in-memory store (the same state
// rules as DynamoDB), with the send and the queue faked.

const message = makeDeliveryMessage(5, {
  retry: { max_attempts: 1, backoff: 'fixed', initial_delay_seconds: 1, max_delay_seconds: 1 },
});
const body = JSON.stringify(message);
const LEASE = 60_000;

function setup(status = 200) {
  const fake = fakeDeliverDeps({ status });
  const store = createMemoryDeliveryStore();
  const sent: number[] = [];
  const deps: DeliverDeps = {
    ...fake.d,
    store,
    sender: { send: async () => (sent.push(1), { status, headers: {}, bodySnippet: '', durationMs: 1 }) },
  };
  return { ...fake, store, deps, sent };
}

/** A delivery that failed at its only attempt, recorded at `at`, with its dead-letter mark set or cleared. */
async function failed(store: DeliveryStore, at: number, markCleared: boolean) {
  await store.claim(message, at, LEASE);
  await store.recordAttempt(
    message,
    {
      attempt: 1,
      at: new Date(at).toISOString(),
      duration_ms: 1,
      status_code: 410,
      error_class: 'http_permanent',
      error_message: 'gone',
      response_snippet: null,
    },
    { status: 'failed' },
    at,
  );
  if (markCleared) await store.markDeadLettered(message.delivery_id, { final_at: new Date(at).toISOString() });
}

const received = (extra: { deadLetteredAt?: string } = {}) => ({
  body,
  receiptHandle: 'r',
  receivedAtMs: NOW,
  ...extra,
});

describe('deliverMessage: redrive and reopen', () => {
  it('drops a plain duplicate of a failed delivery: no reopen, nothing sent', async () => {
    const { store, deps, sent, deadLetters } = setup();
    await failed(store, NOW - 10_000, true);
    expect(await deliverMessage(received(), deps)).toBe('delete');
    expect(sent).toEqual([]);
    expect(deadLetters).toEqual([]);
    expect((await store.get(message.delivery_id))?.status).toBe('failed');
  });

  it('starts a new series when a dead letter is redriven: attempt 1 again, delivered', async () => {
    const { store, deps, sent } = setup();
    await failed(store, NOW - 10_000, true);
    expect(await deliverMessage(received({ deadLetteredAt: new Date(NOW - 5_000).toISOString() }), deps)).toBe(
      'delete',
    );
    expect(sent).toHaveLength(1);
    const record = await store.get(message.delivery_id);
    expect(record).toMatchObject({ status: 'delivered', attempts: 1, replayed_at: [new Date(NOW).toISOString()] });
    expect(record?.attempt_log.map((a) => a.attempt)).toEqual([1, 1]);
  });

  it('finishes a failure whose move to the dead-letter queue never happened: moves it, sends nothing', async () => {
    const { store, deps, sent, deadLetters } = setup();
    await failed(store, NOW - 10_000, false);
    expect(await deliverMessage(received(), deps)).toBe('delete');
    expect(sent).toEqual([]);
    expect(deadLetters).toEqual([body]);
    expect((await store.get(message.delivery_id))?.dead_letter_pending).toBe(false);
  });

  it('reopens a redriven copy whose dead-letter mark was lost, instead of dead-lettering it again', async () => {
    const { store, deps, sent, deadLetters } = setup();
    await failed(store, NOW - 10_000, false);
    expect(await deliverMessage(received({ deadLetteredAt: new Date(NOW - 5_000).toISOString() }), deps)).toBe(
      'delete',
    );
    expect(deadLetters).toEqual([]);
    expect(sent).toHaveLength(1);
    expect((await store.get(message.delivery_id))?.status).toBe('delivered');
  });

  it('does not reopen for a dead letter older than the failure (a later series failed since)', async () => {
    const { store, deps, sent } = setup();
    await failed(store, NOW - 10_000, true);
    expect(await deliverMessage(received({ deadLetteredAt: new Date(NOW - 20_000).toISOString() }), deps)).toBe(
      'delete',
    );
    expect(sent).toEqual([]);
  });

  it('sends a delivery that never reached the wire (a bad node, fixed, its run emitted again)', async () => {
    const { store, deps, sent } = setup();
    await store.recordFinal(message, 'failed', 'nodes[0]: bad url', NOW - 10_000);
    expect(await deliverMessage(received(), deps)).toBe('delete');
    expect(sent).toHaveLength(1);
    expect(await store.get(message.delivery_id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('sends a delivery the reconciler failed as stranded when a copy of its message comes back', async () => {
    const { store, deps, sent } = setup();
    await store.claim(message, NOW - 200_000, LEASE);
    const seen = { pending_until: (await store.get(message.delivery_id))!.pending_until! };
    expect(await store.failStranded(message.delivery_id, 'reconciler: lost', NOW - 100_000, seen)).toBe(true);
    expect(await deliverMessage(received(), deps)).toBe('delete');
    expect(sent).toHaveLength(1);
    expect(await store.get(message.delivery_id)).toMatchObject({ status: 'delivered', stranded: false });
  });

  it('drops the second copy of a redriven message once the first reopened it (the reopen is refused as a state error)', async () => {
    const { store, deps, sent } = setup();
    await failed(store, NOW - 10_000, true);
    let reopens = 0;
    const racing: DeliveryStore = {
      ...store,
      // The other copy reopened it between this copy's read and its reopen.
      reopen: async (id) => {
        reopens += 1;
        throw new DeliveryStateError(id, 'it changed since it was read (reopened or finished by someone else)');
      },
    };
    expect(
      await deliverMessage(received({ deadLetteredAt: new Date(NOW - 5_000).toISOString() }), {
        ...deps,
        store: racing,
      }),
    ).toBe('delete');
    expect(reopens).toBe(1);
    expect(sent).toEqual([]);
  });

  it('lets any other error of the reopen come back as "this message again"', async () => {
    const { store, deps } = setup();
    await failed(store, NOW - 10_000, true);
    const down: DeliveryStore = { ...store, reopen: async () => Promise.reject(new Error('DynamoDB unavailable')) };
    await expect(
      deliverMessage(received({ deadLetteredAt: new Date(NOW - 5_000).toISOString() }), { ...deps, store: down }),
    ).rejects.toThrow('DynamoDB unavailable');
  });

  it('takes a lost attempt over under its own number, and records it once', async () => {
    const { store, deps, sent } = setup();
    await store.claim(message, NOW - 2 * LEASE, LEASE);
    expect(await deliverMessage(received(), { ...deps, leaseMarginMs: 0 })).toBe('delete');
    expect(sent).toHaveLength(1);
    const record = await store.get(message.delivery_id);
    expect(record).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(record?.attempt_log.map((a) => a.attempt)).toEqual([1]);
  });
});
