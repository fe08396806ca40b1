import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoDeliveryQueries } from '../../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import { DeliveryStateError } from '../../shared/errors.ts';
import { createOutcomeTable, startDynalite } from '../../shared/local/dynalite.ts';
import { faultyDynamoClient } from '../fixtures/lost-answers.ts';
import { attempt, failedAttempt, useOutcomeTable, LEASE_MS, message, T0 } from '../fixtures/outcome-store.ts';

// The DynamoDB outcome store on dynalite: the table, claims and attempts, and what they cost.
// What a delivery keeps and how it ends or is reopened: dynamo-delivery-store-outcomes.test.ts;
// the listings: dynamo-delivery-queries.test.ts.

const db = useOutcomeTable();

describe('createOutcomeTable', () => {
  it('creates the table as the layout describes it, on demand and ACTIVE', async () => {
    const { Table } = await db.client.send(new DescribeTableCommand({ TableName: db.tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const indexes = Object.fromEntries(
      (Table?.GlobalSecondaryIndexes ?? []).map((i) => [
        i.IndexName,
        {
          keys: i.KeySchema?.map((k) => k.AttributeName),
          projection: i.Projection?.ProjectionType,
          status: i.IndexStatus,
        },
      ]),
    );
    for (const index of Object.values(OUTCOME_TABLE.indexes)) {
      expect(indexes[index.name]).toEqual({
        keys: [index.partitionKey, index.sortKey],
        projection: index.projection,
        status: 'ACTIVE',
      });
    }
  });

  it('rebuilds a table of an older layout (no by-day index) with every index, keeping its items', async () => {
    // As a `webhooks dev --data` folder made before the by-day index: the other indexes only.
    const old = 'outcomes-old-layout';
    const indexes = Object.values(OUTCOME_TABLE.indexes).filter((i) => i.name !== OUTCOME_TABLE.indexes.byDay.name);
    await db.client.send(
      new CreateTableCommand({
        TableName: old,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          ...[...new Set(indexes.flatMap((i) => [i.partitionKey, i.sortKey]))].map((name) => ({
            AttributeName: name,
            AttributeType: 'S' as const,
          })),
        ],
        GlobalSecondaryIndexes: indexes.map((i) => ({
          IndexName: i.name,
          KeySchema: [
            { AttributeName: i.partitionKey, KeyType: 'HASH' as const },
            { AttributeName: i.sortKey, KeyType: 'RANGE' as const },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' as const },
        })),
      }),
    );
    const m = message();
    await db.client.send(
      new PutItemCommand({
        TableName: old,
        Item: {
          pk: { S: m.delivery_id },
          organization_id: { S: m.organization_id },
          workflow_id: { N: '7' },
          workflow_run_id: { N: '42' },
          run_key: { S: '42' },
          node_id: { S: m.node_id },
          node_name: { S: 'Notify CRM' },
          method: { S: 'POST' },
          endpoint_host: { S: 'https://crm.example.com:8443' },
          status: { S: 'delivered' },
          attempts: { N: '1' },
          max_attempts: { N: '3' },
          created_at: { S: new Date(T0).toISOString() },
          updated_at: { S: new Date(T0).toISOString() },
          attempt_log: { L: [] },
        },
      }),
    );
    await createOutcomeTable(db.client, old);
    const { Table } = await db.client.send(new DescribeTableCommand({ TableName: old }));
    expect((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).sort()).toEqual(
      Object.values(OUTCOME_TABLE.indexes)
        .map((i) => i.name)
        .sort(),
    );
    const again = createDynamoDeliveryStore({ client: db.client, tableName: old, retentionDays: 30 });
    expect((await again.get(m.delivery_id))?.status).toBe('delivered');
    const listed = createDynamoDeliveryQueries({ client: db.client, tableName: old });
    const aroundT0 = { since: new Date(T0 - 86_400_000).toISOString(), until: new Date(T0 + 86_400_000).toISOString() };
    expect((await listed.listByWorkflow({ workflowId: 7, ...aroundT0 })).map((r) => r.delivery_id)).toEqual([
      m.delivery_id,
    ]);
  });

  it('keeps an existing table and its items when called again', async () => {
    await db.store.claim(message(), T0, LEASE_MS);
    await createOutcomeTable(db.client, db.tableName);
    expect((await db.store.get(message().delivery_id))?.attempts).toBe(1);
  });
});

describe('startDynalite with a path', () => {
  it('keeps the data between runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dynalite-'));
    try {
      const first = await startDynalite({ path: dir });
      await createOutcomeTable(first.client, 'persisted');
      await createDynamoDeliveryStore({ client: first.client, tableName: 'persisted', retentionDays: 1 }).claim(
        message(),
        T0,
        LEASE_MS,
      );
      await first.stop();

      const second = await startDynalite({ path: dir });
      try {
        const again = createDynamoDeliveryStore({ client: second.client, tableName: 'persisted', retentionDays: 1 });
        expect((await again.get(message().delivery_id))?.status).toBe('sending');
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('claim', () => {
  it('creates the record on first sight and takes attempt 1', async () => {
    const msg = message();
    expect(await db.store.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(await db.store.get(msg.delivery_id)).toEqual({
      delivery_id: msg.delivery_id,
      organization_id: 'org-1',
      workflow_id: 7,
      workflow_run_id: 42,
      node_id: 'webhook-1',
      node_name: 'Notify CRM',
      method: 'POST',
      endpoint_host: 'https://crm.example.com:8443',
      status: 'sending',
      attempts: 1,
      max_attempts: 3,
      last_status_code: null,
      last_error: null,
      created_at: '2024-05-01T12:00:00.000Z',
      updated_at: '2024-05-01T12:00:00.000Z',
      next_attempt_at: null,
      final_at: null,
      attempt_log: [],
      replayed_at: [],
      request: null,
      request_kept: false,
      dead_letter_pending: false,
      lease_until: '2024-05-01T12:01:00.000Z',
      pending_until: '2024-05-01T12:01:00.000Z',
      reconciled_at: [],
      stranded: false,
    });
  });

  it('sets the TTL attribute to the retention period after the write', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const { Item } = await db.client.send(
      new GetItemCommand({ TableName: db.tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item?.[OUTCOME_TABLE.ttlAttribute]).toEqual({ N: String(T0 / 1000 + 30 * 86_400) });
  });

  it('makes a second claim wait while the lease is held', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    expect(await db.store.claim(msg, T0 + 10_500, LEASE_MS)).toEqual({ kind: 'wait', seconds: 50 });
    expect((await db.store.get(msg.delivery_id))?.attempts).toBe(1);
  });

  it('lets exactly one of many concurrent claims through', async () => {
    const msg = message();
    const claims = await Promise.all(Array.from({ length: 8 }, () => db.store.claim(msg, T0, LEASE_MS)));
    expect(claims.filter((c) => c.kind === 'claimed')).toEqual([{ kind: 'claimed', attempt: 1 }]);
    expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(7);
  });

  it('makes a retry wait until it is due, then takes attempt 2', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);

    const retrying = await db.store.get(msg.delivery_id);
    expect(retrying?.status).toBe('retrying');
    expect(retrying?.next_attempt_at).toBe('2024-05-01T12:00:30.000Z');

    expect(await db.store.claim(msg, T0 + 2_000, LEASE_MS)).toEqual({ kind: 'wait', seconds: 28 });
    expect(await db.store.claim(msg, T0 + 30_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    const sending = await db.store.get(msg.delivery_id);
    expect(sending?.status).toBe('sending');
    expect(sending?.next_attempt_at).toBeNull();
  });

  it('answers final to a duplicate of a delivered delivery', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 500);
    expect(await db.store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'final', status: 'delivered' });
    // Long after any lease: still final.
    expect(await db.store.claim(msg, T0 + 86_400_000, LEASE_MS)).toEqual({ kind: 'final', status: 'delivered' });
  });

  it('takes over a lost last attempt under its own number, never past max_attempts', async () => {
    const msg = message({ max_attempts: 2 });
    expect(await db.store.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 1_000 }, T0 + 500);
    expect(await db.store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    // The worker crashed: no outcome. The lease runs out and the redelivered message takes attempt 2 over.
    expect(await db.store.claim(msg, T0 + 1_000 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    // The taken-over attempt is leased again: it may yet succeed, so wait.
    expect(await db.store.claim(msg, T0 + 2_000 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'wait', seconds: 59 });
    // Lost again: still attempt 2 (the queue's maxReceiveCount bounds a crash loop).
    expect(await db.store.claim(msg, T0 + 1_000 + 2 * LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await db.store.get(msg.delivery_id))?.attempts).toBe(2);
  });

  it('hands a retried claim whose first try landed its own attempt, without burning a number', async () => {
    const msg = message();
    const lossy = faultyDynamoClient(db.dynamo.endpoint, {
      lose: (name, input) =>
        name === 'UpdateItemCommand' && String(input.ConditionExpression).startsWith('attribute_not_exists'),
    });
    const flaky = createDynamoDeliveryStore({ client: lossy.client, tableName: db.tableName, retentionDays: 30 });
    // The first try of the claim lands, its answer is lost, the SDK sends it again: the condition
    // fails on the item the first try wrote, which carries this claim's id.
    expect(await flaky.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(lossy.log.lost).toBe(1);
    expect((await db.store.get(msg.delivery_id))?.attempts).toBe(1);
    // Another claim (another copy of the message) still waits for the lease.
    expect(await db.store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'wait', seconds: 59 });
  });

  it('hands a retried takeover whose first try landed its own attempt', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const lossy = faultyDynamoClient(db.dynamo.endpoint, {
      lose: (name, input) => name === 'UpdateItemCommand' && String(input.ConditionExpression).startsWith('#status = '),
    });
    const flaky = createDynamoDeliveryStore({ client: lossy.client, tableName: db.tableName, retentionDays: 30 });
    expect(await flaky.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(lossy.log.lost).toBe(1);
    expect((await db.store.get(msg.delivery_id))?.lease_until).toBe(new Date(T0 + 2 * LEASE_MS).toISOString());
  });

  it('lets only one of many concurrent takeovers through', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const claims = await Promise.all(Array.from({ length: 6 }, () => db.store.claim(msg, T0 + LEASE_MS, LEASE_MS)));
    expect(claims.filter((c) => c.kind === 'claimed')).toEqual([{ kind: 'claimed', attempt: 1 }]);
    expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(5);
  });

  it('answers exhausted for a delivery waiting to retry with no attempts left', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    // Recorded as retrying although its only attempt is used: nothing may claim it again.
    await db.store.recordAttempt(
      msg,
      attempt(1, T0, { status_code: 503, error_class: 'http_transient', error_message: 'x', response_snippet: null }),
      { status: 'retrying', atMs: T0 + 1 },
      T0,
    );
    expect(await db.store.claim(msg, T0 + 10, LEASE_MS)).toEqual({ kind: 'exhausted', attempts: 1 });
  });

  it('takes the place of an attempt whose lease ran out without an outcome, under the same number', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    expect(await db.store.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
  });
});

describe('recordAttempt', () => {
  it('appends the attempt and makes a delivered delivery final', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const record = attempt(1, T0);
    await db.store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 500);
    const stored = await db.store.get(msg.delivery_id);
    expect(stored).toMatchObject({
      status: 'delivered',
      attempts: 1,
      last_status_code: 200,
      last_error: null,
      updated_at: '2024-05-01T12:00:00.500Z',
      final_at: '2024-05-01T12:00:00.500Z',
      next_attempt_at: null,
    });
    expect(stored?.attempt_log).toEqual([record]);
  });

  it('keeps every attempt of a retried delivery in order', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    await db.store.claim(msg, T0 + 30_000, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(2, T0 + 30_000), { status: 'delivered' }, T0 + 31_000);
    const stored = await db.store.get(msg.delivery_id);
    expect(stored?.attempt_log.map((a) => [a.attempt, a.status_code, a.error_class])).toEqual([
      [1, 503, 'http_transient'],
      [2, 200, 'none'],
    ]);
    expect(stored?.last_error).toBeNull();
  });

  it('refuses an attempt that a later claim overtook', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 1_000 }, T0 + 500);
    await db.store.claim(msg, T0 + 1_000, LEASE_MS);
    await expect(db.store.recordAttempt(msg, attempt(1, T0 + 2), { status: 'delivered' }, T0 + 1_001)).rejects.toThrow(
      DeliveryStateError,
    );
    const stored = await db.store.get(msg.delivery_id);
    expect(stored?.status).toBe('sending');
    expect(stored?.attempt_log).toHaveLength(1);
  });

  it('refuses to record the same attempt twice', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    const second = db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 2_000);
    await expect(second).rejects.toThrow(
      /cannot record attempt 1: it is no longer in flight \(the record is at attempt 1, retrying\)/,
    );
    expect((await db.store.get(msg.delivery_id))?.attempt_log).toHaveLength(1);
  });

  it('accepts a repeat of the very outcome it already holds (a retried request whose first try landed)', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const record = attempt(1, T0);
    await db.store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 1);
    await db.store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 2);
    expect((await db.store.get(msg.delivery_id))?.attempt_log).toEqual([record]);
  });

  it('refuses an attempt of a delivery that does not exist', async () => {
    await expect(db.store.recordAttempt(message(), attempt(1, T0), { status: 'delivered' }, T0)).rejects.toThrow(
      /the record does not exist/,
    );
  });

  it('lets the taker-over of a lost last attempt record its outcome', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    expect(await db.store.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    const second = attempt(1, T0 + LEASE_MS, {
      status_code: 503,
      error_class: 'http_transient',
      error_message: 'endpoint answered 503',
      response_snippet: null,
    });
    await db.store.recordAttempt(msg, second, { status: 'failed' }, T0 + LEASE_MS);
    expect(await db.store.claim(msg, T0 + LEASE_MS + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'failed' });
  });
});

describe('cost', () => {
  it('takes exactly 2 write requests for a delivery that succeeds on its first attempt', async () => {
    const msg = message();
    const before = db.store.stats.writes;
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    expect(db.store.stats.writes - before).toBe(2);
  });

  it('takes one failed conditional write for a duplicate of a final delivery', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    const { writes, reads } = db.store.stats;
    await db.store.claim(msg, T0 + 200, LEASE_MS);
    expect(db.store.stats.writes - writes).toBe(1);
    // DynamoDB returns the old item with the failure; dynalite ignores that, so one GetItem reads it.
    expect(db.store.stats.reads - reads).toBeLessThanOrEqual(1);
  });

  it('takes 2 write requests for a takeover after a crash: the refused claim and the takeover', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const before = db.store.stats.writes;
    await db.store.claim(msg, T0 + LEASE_MS, LEASE_MS);
    expect(db.store.stats.writes - before).toBe(2);
  });

  it('keeps a delivered record out of the pending index, and a delivery in flight in it', async () => {
    const done = message({ node_id: 'done' });
    const flying = message({ node_id: 'flying' });
    await db.store.claim(done, T0, LEASE_MS);
    await db.store.recordAttempt(done, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    await db.store.claim(flying, T0, LEASE_MS);
    expect(await db.queries.listPending(T0 + 10 * LEASE_MS, 100)).toEqual([flying.delivery_id]);
    // Not yet past its lease: not a candidate.
    expect(await db.queries.listPending(T0 + LEASE_MS - 1, 100)).toEqual([]);
  });
});
