import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDeliveryQueries } from '../../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createMemoryDeliveryStore } from '../../shared/adapters/memory-delivery-store.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { DeliveryStateError, ValidationError } from '../../shared/errors.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import type { DeliveryQueries } from '../../shared/ports/delivery-queries.ts';
import type { AttemptRecord, DeliveryRecord, DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// One contract, three stores: the in-memory one the unit tests use must decide exactly as the
// DynamoDB one does on dynalite, and list the same deliveries the same way; and dynalite behind
// its parse cache (dynalite-expressions.ts, how every test and the local stack run it) exactly
// as dynalite without it.

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const LEASE = 60_000;
let dynamo: LocalDynamo;
let uncached: LocalDynamo;
let tables = 0;

beforeAll(async () => {
  [dynamo, uncached] = await Promise.all([startDynalite(), startDynalite({ cacheExpressions: false })]);
});
afterAll(async () => {
  await Promise.all([dynamo.stop(), uncached.stop()]);
});

async function dynamoStores(emulator: LocalDynamo): Promise<Stores> {
  const tableName = `contract-${++tables}`;
  await createOutcomeTable(emulator.client, tableName);
  return {
    store: createDynamoDeliveryStore({ client: emulator.client, tableName, retentionDays: 30 }),
    queries: createDynamoDeliveryQueries({ client: emulator.client, tableName }),
  };
}

interface Stores {
  readonly store: DeliveryStore;
  readonly queries: DeliveryQueries;
}

const stores: [string, () => Promise<Stores>][] = [
  [
    'memory',
    async () => {
      const memory = createMemoryDeliveryStore();
      return { store: memory, queries: memory };
    },
  ],
  ['dynalite', () => dynamoStores(dynamo)],
  ['dynalite, every expression parsed anew', () => dynamoStores(uncached)],
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
    const { store } = await make();
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
    const { store } = await make();
    const m = msg();
    await store.claim(m, T0, LEASE);
    await store.recordAttempt(m, attempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 100);
    expect(await store.claim(m, T0 + 1_000, LEASE)).toEqual({ kind: 'wait', seconds: 29 });
    expect(await store.claim(msg(1), T0 + 30_000, LEASE)).toEqual({ kind: 'exhausted', attempts: 1 });
    expect(await store.claim(m, T0 + 30_000, LEASE)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await store.get(m.delivery_id))?.request).toEqual(m);
  });

  it('records an outcome once: a repeat of the same is accepted, another is a state error', async () => {
    const { store } = await make();
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
    const { store, queries } = await make();
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
    const [listed] = await queries.listFailures({
      since: new Date(T0).toISOString(),
      until: new Date(T0 + 60_000).toISOString(),
    });
    expect(listed).toMatchObject({ delivery_id: m.delivery_id, request: null, attempt_log: [] });
  });

  it('reopens only the outcome seen, only when final, and starts a new series at attempt 1', async () => {
    const { store } = await make();
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
    const { store } = await make();
    const m = msg();
    await store.claim(m, T0, LEASE);
    await store.recordFinal(m, 'failed', 'bad node', T0 + 1);
    expect((await store.get(m.delivery_id))?.status).toBe('sending');
  });

  it('the reconciler: pending past a time, requeued and failed only as seen', async () => {
    const { store, queries } = await make();
    const a = makeDeliveryMessage(2);
    const b = makeDeliveryMessage(3);
    await store.claim(a, T0, LEASE);
    await store.claim(b, T0, LEASE);
    expect((await queries.listPending(T0 + LEASE + 1, 10)).sort()).toEqual([a.delivery_id, b.delivery_id].sort());
    expect(await queries.listPending(T0 + LEASE, 10)).toEqual([]);
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
    expect(await queries.listPending(T0 + 10 * LEASE, 10)).toEqual([a.delivery_id]);
  });
});

describe.each(stores)('DeliveryQueries contract: %s', (_name, make) => {
  const inRun = (run: number, node_id: string, org = 'org-1') =>
    makeDeliveryMessage(1, {
      delivery_id: `whd_${org}_${run}_${node_id}`,
      organization_id: org,
      workflow_run_id: run,
      node_id,
      retry: { max_attempts: 1, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 30 },
    });
  const fail = async (store: DeliveryStore, m: DeliveryMessage, at: string) => {
    const ms = Date.parse(at);
    await store.claim(m, ms - 1_000, LEASE);
    await store.recordAttempt(m, attempt(1, ms - 1_000), { status: 'failed' }, ms);
  };
  /** A failure as a listing shows it: what the failure indexes carry of the record. */
  const summary = (r: DeliveryRecord | undefined): DeliveryRecord => {
    const { empty_placeholders: _, ...rest } = r!;
    return { ...rest, attempt_log: [], replayed_at: [], request: null, dead_letter_pending: false };
  };

  it('listByRun: every delivery of the run as whole records, ordered by node id; other runs are not in it', async () => {
    const { store, queries } = await make();
    const [b, a, c] = [inRun(42, 'webhook-b'), inRun(42, 'webhook-a'), inRun(42, 'webhook-c')];
    for (const m of [b, a, c, inRun(43, 'webhook-a')]) await store.claim(m, T0, LEASE);
    await store.recordAttempt(a, attempt(1, T0, 200), { status: 'delivered' }, T0 + 10);
    await store.recordFinal(inRun(42, 'webhook-d'), 'skipped', 'node is disabled', T0);
    const window = { since: new Date(T0 - 60_000).toISOString(), until: new Date(T0 + 60_000).toISOString() };
    const listed = await queries.listByRun(42, window);
    expect(listed.map((r) => r.node_id)).toEqual(['webhook-a', 'webhook-b', 'webhook-c', 'webhook-d']);
    expect(listed.slice(0, 3)).toEqual([
      await store.get(a.delivery_id),
      await store.get(b.delivery_id),
      await store.get(c.delivery_id),
    ]);
    expect(listed[0]?.attempt_log).toHaveLength(1);
    expect(await queries.listByRun(44, window)).toEqual([]);
  });

  // Failures around midnight UTC of 2026-11-28 in two organizations, and what never shows.
  async function seedFailures(store: DeliveryStore) {
    const early = inRun(1, 'early');
    const before = inRun(1, 'before-midnight');
    const after = inRun(2, 'after-midnight');
    const other = inRun(3, 'other-org', 'org-2');
    const unrendered = inRun(4, 'unrendered');
    await fail(store, early, '2026-11-26T12:00:00.000Z');
    await fail(store, before, '2026-11-27T23:30:00.000Z');
    await fail(store, after, '2026-11-28T00:30:00.000Z');
    await fail(store, other, '2026-11-28T01:00:00.000Z');
    await store.recordFinal(
      unrendered,
      'failed',
      'endpoint_url: missing value',
      Date.parse('2026-11-28T00:00:00.000Z'),
    );
    // Not failures: delivered, skipped, a failure reopened since, and one still in flight.
    const ok = inRun(5, 'delivered');
    await store.claim(ok, Date.parse('2026-11-28T00:10:00.000Z'), LEASE);
    await store.recordAttempt(ok, attempt(1, T0, 200), { status: 'delivered' }, Date.parse('2026-11-28T00:10:01.000Z'));
    await store.recordFinal(inRun(6, 'skipped'), 'skipped', 'node is disabled', Date.parse('2026-11-28T00:20:00.000Z'));
    const reopened = inRun(7, 'reopened');
    await fail(store, reopened, '2026-11-28T00:40:00.000Z');
    await store.reopen(reopened.delivery_id, Date.parse('2026-11-28T00:41:00.000Z'));
    await store.claim(inRun(8, 'in-flight'), Date.parse('2026-11-28T00:50:00.000Z'), LEASE);
    return { before, after, other, unrendered };
  }
  const window = { since: '2026-11-27T20:00:00Z', until: '2026-11-28T02:00:00Z' };

  it('listFailures: final failures of every organization in the window, newest first across UTC days, as summaries', async () => {
    const { store, queries } = await make();
    const { before, after, other, unrendered } = await seedFailures(store);
    const listed = await queries.listFailures(window);
    expect(listed.map((r) => r.node_id)).toEqual(['other-org', 'after-midnight', 'unrendered', 'before-midnight']);
    expect(listed).toEqual(
      await Promise.all([other, after, unrendered, before].map(async (m) => summary(await store.get(m.delivery_id)))),
    );
  });

  it('listFailures: one organization, bounds inclusive (given with or without milliseconds), the limit keeping the newest', async () => {
    const { store, queries } = await make();
    await seedFailures(store);
    const names = async (q: Parameters<DeliveryQueries['listFailures']>[0]) =>
      (await queries.listFailures(q)).map((r) => r.node_id);
    expect(await names({ ...window, organizationId: 'org-1' })).toEqual([
      'after-midnight',
      'unrendered',
      'before-midnight',
    ]);
    expect(await names({ ...window, organizationId: 'org-2' })).toEqual(['other-org']);
    expect(await names({ ...window, organizationId: 'org-3' })).toEqual([]);
    expect(await names({ since: '2026-11-27T23:30:00Z', until: '2026-11-28T00:30:00.000Z' })).toEqual([
      'after-midnight',
      'unrendered',
      'before-midnight',
    ]);
    expect(await names({ ...window, limit: 2 })).toEqual(['other-org', 'after-midnight']);
    expect(await names({ ...window, organizationId: 'org-1', limit: 1 })).toEqual(['after-midnight']);
    expect(await names({ since: window.until, until: window.since })).toEqual([]);
  });

  it('listFailures: a bound that is not a time is a validation error naming it', async () => {
    const { queries } = await make();
    await expect(queries.listFailures({ since: 'yesterday', until: window.until })).rejects.toThrow(ValidationError);
    await expect(queries.listFailures({ since: window.since, until: 'now' })).rejects.toThrow(
      /^until: not an ISO time/,
    );
  });

  it('listPending: non-final deliveries due before the time, at most the limit', async () => {
    const { store, queries } = await make();
    const sending = inRun(1, 'sending');
    const retrying = makeDeliveryMessage(2);
    const delivered = inRun(3, 'delivered');
    const reopened = inRun(4, 'reopened');
    await store.claim(sending, T0, LEASE);
    await store.claim(retrying, T0, LEASE);
    await store.recordAttempt(retrying, attempt(1, T0), { status: 'retrying', atMs: T0 + 5 * LEASE }, T0 + 1);
    await store.claim(delivered, T0, LEASE);
    await store.recordAttempt(delivered, attempt(1, T0, 200), { status: 'delivered' }, T0 + 1);
    await fail(store, reopened, new Date(T0).toISOString());
    await store.reopen(reopened.delivery_id, T0 + 2 * LEASE);
    await store.recordFinal(inRun(5, 'skipped'), 'skipped', 'node is disabled', T0);
    const pending = async (beforeMs: number, limit = 10) => (await queries.listPending(beforeMs, limit)).sort();
    // Due by: the lease's end while sending, the next attempt while retrying, the reopen time once reopened.
    expect(await pending(T0 + LEASE)).toEqual([]);
    expect(await pending(T0 + LEASE + 1)).toEqual([sending.delivery_id]);
    expect(await pending(T0 + 2 * LEASE + 1)).toEqual([sending.delivery_id, reopened.delivery_id].sort());
    const all = [sending.delivery_id, retrying.delivery_id, reopened.delivery_id].sort();
    expect(await pending(T0 + 10 * LEASE)).toEqual(all);
    const two = await pending(T0 + 10 * LEASE, 2);
    expect(two).toHaveLength(2);
    for (const id of two) expect(all).toContain(id);
  });

  it('lists by run and by workflow within a window of creation times, the same way', async () => {
    const { store, queries } = await make();
    const [a, b, c, other] = [4, 5, 6, 7].map((i) => makeDeliveryMessage(i));
    await store.claim(a!, T0, LEASE);
    await store.recordAttempt(a!, attempt(1, T0, 200), { status: 'delivered' }, T0 + 1);
    await store.claim(b!, T0 + 1_000, LEASE);
    await store.recordFinal({ ...c!, workflow_run_id: a!.workflow_run_id }, 'failed', 'bad node', T0 + 2_000);
    await store.claim({ ...other!, workflow_id: 8 }, T0 + 3_000, LEASE);
    const window = { since: new Date(T0 - 60_000).toISOString(), until: new Date(T0 + 60_000).toISOString() };
    expect((await queries.listByWorkflow({ workflowId: 7, ...window })).map((r) => [r.delivery_id, r.status])).toEqual([
      [c!.delivery_id, 'failed'],
      [b!.delivery_id, 'sending'],
      [a!.delivery_id, 'delivered'],
    ]);
    expect((await queries.listByRun(a!.workflow_run_id, window)).map((r) => r.node_id)).toEqual([
      a!.node_id,
      c!.node_id,
    ]);
    const later = { since: new Date(T0 + 500).toISOString(), until: window.until };
    expect((await queries.listByWorkflow({ workflowId: 7, ...later, limit: 1 })).map((r) => r.delivery_id)).toEqual([
      c!.delivery_id,
    ]);
    expect(await queries.listByRun(a!.workflow_run_id, later)).toHaveLength(1);
  });

  it('getMany: the whole records of the ids that have one, as get reads each, past 100 ids', async () => {
    const { store, queries } = await make();
    const messages = Array.from({ length: 120 }, (_, i) => makeDeliveryMessage(100 + i));
    for (const m of messages) await store.claim(m, T0, LEASE);
    const first = messages[0]!;
    await store.recordAttempt(first, attempt(1, T0, 200), { status: 'delivered' }, T0 + 1);
    const ids = [...messages.map((m) => m.delivery_id), 'no-such-delivery'];
    const records = await queries.getMany(ids);
    expect(records.map((r) => r.delivery_id).sort()).toEqual(messages.map((m) => m.delivery_id).sort());
    expect(records.find((r) => r.delivery_id === first.delivery_id)).toEqual(await store.get(first.delivery_id));
    expect(await queries.getMany([])).toEqual([]);
  });
});
