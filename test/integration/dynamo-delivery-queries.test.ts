import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.ts';
import { attempt, failedAttempt, useOutcomeTable, LEASE_MS, message, T0 } from '../fixtures/outcome-store.ts';

// The DynamoDB outcome listings on dynalite (the index Queries); the same listings against the
// memory store: delivery-store-contract.test.ts.

const db = useOutcomeTable();

/** The window of the listings by day around T0. */
const AROUND_T0 = { since: '2024-04-25T00:00:00.000Z', until: '2024-05-10T00:00:00.000Z' };
const DAY = 86_400_000;

describe('listByRun', () => {
  it('lists every delivery of one run, ordered by node id', async () => {
    for (const node_id of ['webhook-b', 'webhook-a', 'webhook-c']) {
      await db.store.claim(message({ node_id }), T0, LEASE_MS);
    }
    await db.store.claim(message({ node_id: 'webhook-a', workflow_run_id: 43 }), T0, LEASE_MS);
    const records = await db.queries.listByRun(42, AROUND_T0);
    expect(records.map((r) => [r.workflow_run_id, r.node_id, r.status])).toEqual([
      [42, 'webhook-a', 'sending'],
      [42, 'webhook-b', 'sending'],
      [42, 'webhook-c', 'sending'],
    ]);
    expect(await db.queries.listByRun(44, AROUND_T0)).toEqual([]);
  });

  it('reads runs of more deliveries than one BatchGetItem takes', async () => {
    const nodeIds = Array.from({ length: 130 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    await Promise.all(nodeIds.map((node_id) => db.store.claim(message({ node_id }), T0, LEASE_MS)));
    const records = await db.queries.listByRun(42, AROUND_T0);
    expect(records.map((r) => r.node_id)).toEqual(nodeIds);
  });

  it('finds a run whose deliveries were created on different days, within the window only', async () => {
    await db.store.claim(message({ node_id: 'a' }), T0, LEASE_MS);
    // A backlog: the second node's first claim came two days later; a bad node recorded at render.
    await db.store.claim(message({ node_id: 'b' }), T0 + 2 * DAY, LEASE_MS);
    await db.store.recordFinal(message({ node_id: 'c' }), 'failed', 'cannot render: x', T0 - DAY);
    // Run 58 shares run 42's shard (58 % 16 = 42 % 16) and day: not listed for 42.
    await db.store.claim(message({ node_id: 'a', workflow_run_id: 58 }), T0, LEASE_MS);
    expect((await db.queries.listByRun(42, AROUND_T0)).map((r) => [r.node_id, r.status])).toEqual([
      ['a', 'sending'],
      ['b', 'sending'],
      ['c', 'failed'],
    ]);
    const narrow = { since: new Date(T0 - 1000).toISOString(), until: new Date(T0 + DAY).toISOString() };
    expect((await db.queries.listByRun(42, narrow)).map((r) => r.node_id)).toEqual(['a']);
  });

  it('still finds a record of the older layout, which only the legacy by-run index holds', async () => {
    await db.store.claim(message({ node_id: 'new' }), T0, LEASE_MS);
    const old = message({ node_id: 'old' });
    await db.client.send(
      new PutItemCommand({
        TableName: db.tableName,
        Item: {
          pk: { S: old.delivery_id },
          organization_id: { S: old.organization_id },
          workflow_id: { N: '7' },
          workflow_run_id: { N: '42' },
          run_key: { S: '42' },
          node_id: { S: 'old' },
          node_name: { S: 'Notify CRM' },
          method: { S: 'POST' },
          endpoint_host: { S: 'https://crm.example.com:8443' },
          status: { S: 'delivered' },
          attempts: { N: '1' },
          max_attempts: { N: '3' },
          created_at: { S: new Date(T0 - DAY).toISOString() },
          updated_at: { S: new Date(T0 - DAY).toISOString() },
          attempt_log: { L: [] },
        },
      }),
    );
    expect((await db.queries.listByRun(42, AROUND_T0)).map((r) => [r.node_id, r.status])).toEqual([
      ['new', 'sending'],
      ['old', 'delivered'],
    ]);
  });

  it('writes no legacy by-run key any more: one index entry per delivery, by day', async () => {
    const m = message();
    await db.store.claim(m, T0, LEASE_MS);
    const { Item } = await db.client.send(
      new GetItemCommand({ TableName: db.tableName, Key: { pk: { S: m.delivery_id } } }),
    );
    expect(Item?.['run_key']).toBeUndefined();
    expect(Item?.['day_shard']).toEqual({ S: '2024-05-01#a' });
    expect(Item?.['run_node']).toEqual({ S: '42#7#2024-05-01T12:00:00.000Z#webhook-1' });
  });
});

describe('listByWorkflow', () => {
  async function seed(): Promise<void> {
    // Workflow 7: runs 42 to 45 (four shards), over three days, every status; workflow 9 beside it.
    await db.store.claim(message({ workflow_run_id: 42 }), T0, LEASE_MS);
    await db.store.recordAttempt(message({ workflow_run_id: 42 }), attempt(1, T0), { status: 'delivered' }, T0 + 10);
    const failing = message({ workflow_run_id: 43, max_attempts: 1 });
    await db.store.claim(failing, T0 + DAY, LEASE_MS);
    await db.store.recordAttempt(failing, failedAttempt(1, T0 + DAY), { status: 'failed' }, T0 + DAY + 10);
    await db.store.claim(message({ workflow_run_id: 44 }), T0 + 2 * DAY, LEASE_MS);
    await db.store.recordFinal(message({ workflow_run_id: 45 }), 'failed', 'cannot render: x', T0 + 2 * DAY + 1);
    await db.store.claim(message({ workflow_run_id: 46, workflow_id: 9 }), T0 + DAY, LEASE_MS);
    await db.store.claim(message({ workflow_run_id: 47 }), T0 - 10 * DAY, LEASE_MS);
  }

  it('lists every delivery of the workflow in the window, whatever its status, newest first', async () => {
    await seed();
    const records = await db.queries.listByWorkflow({ workflowId: 7, ...AROUND_T0 });
    expect(records.map((r) => [r.workflow_run_id, r.status, r.attempts, r.last_status_code])).toEqual([
      [45, 'failed', 0, null],
      [44, 'sending', 1, null],
      [43, 'failed', 1, 503],
      [42, 'delivered', 1, 200],
    ]);
    expect(await db.queries.listByWorkflow({ workflowId: 9, ...AROUND_T0 })).toHaveLength(1);
    expect(await db.queries.listByWorkflow({ workflowId: 8, ...AROUND_T0 })).toEqual([]);
  });

  it('keeps to the window, to the second, and gives the newest first with a limit', async () => {
    await seed();
    const since = new Date(T0 + DAY).toISOString();
    const until = new Date(T0 + 2 * DAY).toISOString();
    expect((await db.queries.listByWorkflow({ workflowId: 7, since, until })).map((r) => r.workflow_run_id)).toEqual([
      44, 43,
    ]);
    expect(
      (await db.queries.listByWorkflow({ workflowId: 7, ...AROUND_T0, limit: 2 })).map((r) => r.workflow_run_id),
    ).toEqual([45, 44]);
  });

  it('refuses a window of decades, which would be a Query per day and shard', async () => {
    await expect(
      db.queries.listByWorkflow({ workflowId: 7, since: '1900-01-01T00:00:00Z', until: '2024-01-01T00:00:00Z' }),
    ).rejects.toThrow(ValidationError);
  });
});

describe('listFailures', () => {
  // Four failures around midnight UTC of 2024-05-02, and a success that never shows.
  async function seed(): Promise<void> {
    const fail = async (organization_id: string, node_id: string, at: string) => {
      const msg = message({ organization_id, node_id, max_attempts: 1 });
      const ms = Date.parse(at);
      await db.store.claim(msg, ms - 1_000, LEASE_MS);
      await db.store.recordAttempt(msg, failedAttempt(1, ms - 1_000), { status: 'failed' }, ms);
    };
    await fail('org-a', 'early', '2024-04-30T12:00:00.000Z');
    await fail('org-a', 'before-midnight', '2024-05-01T23:30:00.000Z');
    await fail('org-a', 'after-midnight', '2024-05-02T00:30:00.000Z');
    await fail('org-b', 'other-org', '2024-05-02T01:00:00.000Z');
    const ok = message({ organization_id: 'org-a', node_id: 'delivered' });
    await db.store.claim(ok, Date.parse('2024-05-02T00:00:00.000Z'), LEASE_MS);
    await db.store.recordAttempt(ok, attempt(1, T0), { status: 'delivered' }, Date.parse('2024-05-02T00:00:01.000Z'));
  }
  const window = { since: '2024-05-01T20:00:00.000Z', until: '2024-05-02T02:00:00.000Z' };

  it('lists one organization in a window across two UTC days, newest first', async () => {
    await seed();
    const records = await db.queries.listFailures({ ...window, organizationId: 'org-a' });
    expect(records.map((r) => [r.node_id, r.final_at])).toEqual([
      ['after-midnight', '2024-05-02T00:30:00.000Z'],
      ['before-midnight', '2024-05-01T23:30:00.000Z'],
    ]);
    // Summaries: the attempt log stays on the item, out of the indexes.
    expect(records[0]).toMatchObject({ status: 'failed', attempts: 1, attempt_log: [] });
  });

  it('lists every organization in a window across two UTC days, newest first', async () => {
    await seed();
    const records = await db.queries.listFailures(window);
    expect(records.map((r) => [r.organization_id, r.node_id])).toEqual([
      ['org-b', 'other-org'],
      ['org-a', 'after-midnight'],
      ['org-a', 'before-midnight'],
    ]);
  });

  it('honours the limit, keeping the newest', async () => {
    await seed();
    expect((await db.queries.listFailures({ ...window, limit: 2 })).map((r) => r.node_id)).toEqual([
      'other-org',
      'after-midnight',
    ]);
    expect(
      (await db.queries.listFailures({ ...window, organizationId: 'org-a', limit: 1 })).map((r) => r.node_id),
    ).toEqual(['after-midnight']);
  });

  it('includes failures exactly at both ends of the window', async () => {
    await seed();
    const records = await db.queries.listFailures({
      since: '2024-05-01T23:30:00.000Z',
      until: '2024-05-02T00:30:00.000Z',
    });
    expect(records.map((r) => r.node_id)).toEqual(['after-midnight', 'before-midnight']);
  });

  it('rejects a window bound that is not a time', async () => {
    await expect(db.queries.listFailures({ since: 'yesterday', until: window.until })).rejects.toThrow(
      /since: not an ISO time/,
    );
  });

  it('refuses a window across all organizations longer than any retention', async () => {
    await expect(db.queries.listFailures({ since: '1970-01-01T00:00:00Z', until: window.until })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe('reconciler reads', () => {
  it('costs one Query per pending shard when nothing is stuck, and no Scan', async () => {
    const before = db.queries.stats.reads;
    expect(await db.queries.listPending(T0, 500)).toEqual([]);
    expect(db.queries.stats.reads - before).toBe(16);
  });
});
