import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createMemoryDeliveryStore } from '../../shared/adapters/memory-delivery-store.ts';
import { DeliveryStateError } from '../../shared/errors.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import type { AttemptRecord, DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// One contract, two stores: the in-memory one the unit tests use must decide exactly as the
// DynamoDB one does on dynalite.

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const LEASE = 60_000;
let dynamo: LocalDynamo;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});

const stores: [string, () => Promise<DeliveryStore>][] = [
  ['memory', async () => createMemoryDeliveryStore()],
  [
    'dynalite',
    async () => {
      const tableName = `contract-${++tables}`;
      await createOutcomeTable(dynamo.client, tableName);
      return createDynamoDeliveryStore({ client: dynamo.client, tableName, retentionDays: 30 });
    },
  ],
];

const msg = (max = 3) =>
  makeDeliveryMessage(1, {
    retry: { max_attempts: max, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 30 },
  });
const attempt = (n: number, at: number, status_code = 503): AttemptRecord => ({
  attempt: n,
  at: new Date(at).toISOString(),
  duration_ms: 10,
  status_code,
  error_class: status_code < 300 ? 'none' : 'http_transient',
  error_message: status_code < 300 ? null : 'endpoint answered 503',
  response_snippet: null,
});

describe.each(stores)('DeliveryStore contract: %s', (_name, make) => {
  it('claims attempt 1, waits on a held lease, takes a lost attempt over under its own number', async () => {
    const store = await make();
    const m = msg();
    expect(await store.claim(m, T0, LEASE)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(await store.claim(m, T0 + 1_000, LEASE)).toEqual({ kind: 'wait', seconds: 59 });
    expect(await store.claim(m, T0 + LEASE, LEASE)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(await store.get(m.delivery_id)).toMatchObject({
      status: 'sending',
      attempts: 1,
      lease_until: new Date(T0 + 2 * LEASE).toISOString(),
    });
  });

  it('retries: waits until due, then the next attempt; exhausted for a copy with a lower limit', async () => {
    const store = await make();
    const m = msg();
    await store.claim(m, T0, LEASE);
    await store.recordAttempt(m, attempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 100);
    expect(await store.claim(m, T0 + 1_000, LEASE)).toEqual({ kind: 'wait', seconds: 29 });
    expect(await store.claim(msg(1), T0 + 30_000, LEASE)).toEqual({ kind: 'exhausted', attempts: 1 });
    expect(await store.claim(m, T0 + 30_000, LEASE)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await store.get(m.delivery_id))?.request).toEqual(m);
  });

  it('records an outcome once: a repeat of the same is accepted, another is a state error', async () => {
    const store = await make();
    const m = msg();
    await store.claim(m, T0, LEASE);
    const ok = attempt(1, T0, 200);
    await store.recordAttempt(m, ok, { status: 'delivered' }, T0 + 1);
    await store.recordAttempt(m, ok, { status: 'delivered' }, T0 + 2);
    await expect(store.recordAttempt(m, attempt(1, T0 + 5), { status: 'failed' }, T0 + 3)).rejects.toThrow(
      DeliveryStateError,
    );
    expect(await store.claim(m, T0 + 10, LEASE)).toEqual({ kind: 'final', status: 'delivered' });
    expect(await store.get(m.delivery_id)).toMatchObject({
      status: 'delivered',
      request: null,
      pending_until: null,
      attempt_log: [ok],
    });
  });

  it('a failure keeps its request and a dead-letter mark, cleared only for the failure seen', async () => {
    const store = await make();
    const m = msg(1);
    await store.claim(m, T0, LEASE);
    await store.recordAttempt(m, attempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const r = await store.get(m.delivery_id);
    expect(r).toMatchObject({
      status: 'failed',
      dead_letter_pending: true,
      request_kept: true,
      final_at: new Date(T0 + 1_000).toISOString(),
    });
    await store.markDeadLettered(m.delivery_id, { final_at: new Date(T0).toISOString() });
    expect((await store.get(m.delivery_id))?.dead_letter_pending).toBe(true);
    await store.markDeadLettered(m.delivery_id, { final_at: r!.final_at });
    expect((await store.get(m.delivery_id))?.dead_letter_pending).toBe(false);
    const [listed] = await store.listFailures({
      since: new Date(T0).toISOString(),
      until: new Date(T0 + 60_000).toISOString(),
    });
    expect(listed).toMatchObject({ delivery_id: m.delivery_id, request: null, attempt_log: [] });
  });

  it('reopens only the outcome seen, only when final, and starts a new series at attempt 1', async () => {
    const store = await make();
    const m = msg(1);
    await expect(store.reopen(m.delivery_id, T0)).rejects.toThrow(DeliveryStateError);
    await store.claim(m, T0, LEASE);
    await expect(store.reopen(m.delivery_id, T0 + 1)).rejects.toThrow(DeliveryStateError);
    await store.recordAttempt(m, attempt(1, T0), { status: 'failed' }, T0 + 1_000);
    await expect(store.reopen(m.delivery_id, T0 + 2_000, { final_at: new Date(T0).toISOString() })).rejects.toThrow(
      DeliveryStateError,
    );
    const reopened = await store.reopen(m.delivery_id, T0 + 2_000, { final_at: new Date(T0 + 1_000).toISOString() });
    expect(reopened).toMatchObject({
      status: 'pending',
      attempts: 0,
      final_at: null,
      replayed_at: [new Date(T0 + 2_000).toISOString()],
    });
    expect(await store.claim(m, T0 + 3_000, LEASE)).toEqual({ kind: 'claimed', attempt: 1 });
  });

  it('recordFinal leaves an existing record alone', async () => {
    const store = await make();
    const m = msg();
    await store.claim(m, T0, LEASE);
    await store.recordFinal(m, 'failed', 'bad node', T0 + 1);
    expect((await store.get(m.delivery_id))?.status).toBe('sending');
  });

  it('the reconciler: pending past a time, requeued and failed only as seen', async () => {
    const store = await make();
    const a = makeDeliveryMessage(2);
    const b = makeDeliveryMessage(3);
    await store.claim(a, T0, LEASE);
    await store.claim(b, T0, LEASE);
    expect((await store.listPending(T0 + LEASE + 1, 10)).sort()).toEqual([a.delivery_id, b.delivery_id].sort());
    expect(await store.listPending(T0 + LEASE, 10)).toEqual([]);
    const seen = { pending_until: new Date(T0 + LEASE).toISOString() };
    expect(await store.markRequeued(a.delivery_id, T0 + 2 * LEASE, seen)).toBe(true);
    expect(await store.markRequeued(a.delivery_id, T0 + 2 * LEASE, seen)).toBe(false);
    expect(await store.failStranded(b.delivery_id, 'reconciler: lost', T0 + 2 * LEASE, seen)).toBe(true);
    expect(await store.get(a.delivery_id)).toMatchObject({
      status: 'sending',
      reconciled_at: [new Date(T0 + 2 * LEASE).toISOString()],
    });
    expect(await store.get(b.delivery_id)).toMatchObject({
      status: 'failed',
      stranded: true,
      dead_letter_pending: false,
      last_error: 'reconciler: lost',
    });
    expect(await store.listPending(T0 + 10 * LEASE, 10)).toEqual([a.delivery_id]);
  });
});
