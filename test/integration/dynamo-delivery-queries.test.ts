import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DynamoDeliveryQueries } from '../../shared/adapters/dynamo-delivery-queries.ts';
import type { DynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { ValidationError } from '../../shared/errors.ts';
import { startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { attempt, failedAttempt, freshOutcomeTable, LEASE_MS, message, T0 } from '../fixtures/outcome-store.ts';

// The DynamoDB outcome listings on dynalite (the index Queries); the same listings against the
// memory store: delivery-store-contract.test.ts.

let dynamo: LocalDynamo;
let store: DynamoDeliveryStore;
let queries: DynamoDeliveryQueries;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(async () => {
  ({ store, queries } = await freshOutcomeTable(dynamo));
});

describe('listByRun', () => {
  it('lists every delivery of one run, ordered by node id', async () => {
    for (const node_id of ['webhook-b', 'webhook-a', 'webhook-c']) {
      await store.claim(message({ node_id }), T0, LEASE_MS);
    }
    await store.claim(message({ node_id: 'webhook-a', workflow_run_id: 43 }), T0, LEASE_MS);
    const records = await queries.listByRun(42);
    expect(records.map((r) => [r.workflow_run_id, r.node_id, r.status])).toEqual([
      [42, 'webhook-a', 'sending'],
      [42, 'webhook-b', 'sending'],
      [42, 'webhook-c', 'sending'],
    ]);
    expect(await queries.listByRun(44)).toEqual([]);
  });

  it('reads runs of more deliveries than one BatchGetItem takes', async () => {
    const nodeIds = Array.from({ length: 130 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    await Promise.all(nodeIds.map((node_id) => store.claim(message({ node_id }), T0, LEASE_MS)));
    const records = await queries.listByRun(42);
    expect(records.map((r) => r.node_id)).toEqual(nodeIds);
  });
});

describe('listFailures', () => {
  // Four failures around midnight UTC of 2024-05-02, and a success that never shows.
  async function seed(): Promise<void> {
    const fail = async (organization_id: string, node_id: string, at: string) => {
      const msg = message({ organization_id, node_id, max_attempts: 1 });
      const ms = Date.parse(at);
      await store.claim(msg, ms - 1_000, LEASE_MS);
      await store.recordAttempt(msg, failedAttempt(1, ms - 1_000), { status: 'failed' }, ms);
    };
    await fail('org-a', 'early', '2024-04-30T12:00:00.000Z');
    await fail('org-a', 'before-midnight', '2024-05-01T23:30:00.000Z');
    await fail('org-a', 'after-midnight', '2024-05-02T00:30:00.000Z');
    await fail('org-b', 'other-org', '2024-05-02T01:00:00.000Z');
    const ok = message({ organization_id: 'org-a', node_id: 'delivered' });
    await store.claim(ok, Date.parse('2024-05-02T00:00:00.000Z'), LEASE_MS);
    await store.recordAttempt(ok, attempt(1, T0), { status: 'delivered' }, Date.parse('2024-05-02T00:00:01.000Z'));
  }
  const window = { since: '2024-05-01T20:00:00.000Z', until: '2024-05-02T02:00:00.000Z' };

  it('lists one organization in a window across two UTC days, newest first', async () => {
    await seed();
    const records = await queries.listFailures({ ...window, organizationId: 'org-a' });
    expect(records.map((r) => [r.node_id, r.final_at])).toEqual([
      ['after-midnight', '2024-05-02T00:30:00.000Z'],
      ['before-midnight', '2024-05-01T23:30:00.000Z'],
    ]);
    // Summaries: the attempt log stays on the item, out of the indexes.
    expect(records[0]).toMatchObject({ status: 'failed', attempts: 1, attempt_log: [] });
  });

  it('lists every organization in a window across two UTC days, newest first', async () => {
    await seed();
    const records = await queries.listFailures(window);
    expect(records.map((r) => [r.organization_id, r.node_id])).toEqual([
      ['org-b', 'other-org'],
      ['org-a', 'after-midnight'],
      ['org-a', 'before-midnight'],
    ]);
  });

  it('honours the limit, keeping the newest', async () => {
    await seed();
    expect((await queries.listFailures({ ...window, limit: 2 })).map((r) => r.node_id)).toEqual([
      'other-org',
      'after-midnight',
    ]);
    expect(
      (await queries.listFailures({ ...window, organizationId: 'org-a', limit: 1 })).map((r) => r.node_id),
    ).toEqual(['after-midnight']);
  });

  it('includes failures exactly at both ends of the window', async () => {
    await seed();
    const records = await queries.listFailures({
      since: '2024-05-01T23:30:00.000Z',
      until: '2024-05-02T00:30:00.000Z',
    });
    expect(records.map((r) => r.node_id)).toEqual(['after-midnight', 'before-midnight']);
  });

  it('rejects a window bound that is not a time', async () => {
    await expect(queries.listFailures({ since: 'yesterday', until: window.until })).rejects.toThrow(
      /since: not an ISO time/,
    );
  });

  it('refuses a window across all organizations longer than any retention', async () => {
    await expect(queries.listFailures({ since: '1970-01-01T00:00:00Z', until: window.until })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe('reconciler reads', () => {
  it('costs one Query per pending shard when nothing is stuck, and no Scan', async () => {
    const before = queries.stats.reads;
    expect(await queries.listPending(T0, 500)).toEqual([]);
    expect(queries.stats.reads - before).toBe(16);
  });
});
