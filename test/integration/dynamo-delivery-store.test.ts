import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createDynamoDeliveryQueries,
  type DynamoDeliveryQueries,
} from '../../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore, MAX_KEPT_REQUEST_BYTES } from '../../shared/adapters/dynamo-delivery-store.ts';
import { DeliveryStateError } from '../../shared/errors.ts';
import type { DynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import { ValidationError } from '../../shared/errors.ts';
import { deliveryId } from '../../shared/domain/delivery.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { createOutcomeTable, startDynalite } from '../../shared/local/dynalite.ts';
import type { LocalDynamo } from '../../shared/local/dynalite.ts';
import type { AttemptRecord } from '../../shared/ports/delivery-store.ts';
import { faultyDynamoClient } from '../fixtures/lost-answers.ts';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const LEASE_MS = 60_000;

function message(overrides: Partial<DeliveryMessage> & { max_attempts?: number } = {}): DeliveryMessage {
  const { max_attempts = 3, ...rest } = overrides;
  const organization_id = rest.organization_id ?? 'org-1';
  const workflow_run_id = rest.workflow_run_id ?? 42;
  const node_id = rest.node_id ?? 'webhook-1';
  return {
    v: 1,
    delivery_id: deliveryId(organization_id, workflow_run_id, node_id),
    organization_id,
    workflow_id: 7,
    workflow_run_id,
    node_id,
    node_name: 'Notify CRM',
    method: 'POST',
    url: 'https://user:pw@crm.example.com:8443/hooks/7?token=s3cret',
    headers: {},
    body: '{"run_id":"42"}',
    credential_uuid: null,
    retry: { max_attempts, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 3600 },
    rendered_at: new Date(T0).toISOString(),
    ...rest,
  };
}

function attempt(n: number, atMs: number, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    attempt: n,
    at: new Date(atMs).toISOString(),
    duration_ms: 120,
    status_code: 200,
    error_class: 'none',
    error_message: null,
    response_snippet: 'ok',
    ...overrides,
  };
}

const failedAttempt = (n: number, atMs: number): AttemptRecord =>
  attempt(n, atMs, { status_code: 503, error_class: 'http_transient', error_message: 'endpoint answered 503' });

let dynamo: LocalDynamo;
let store: DynamoDeliveryStore;
let queries: DynamoDeliveryQueries;
let tableName: string;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(async () => {
  // A fresh table per test keeps the index queries of one test free of another's items.
  tables += 1;
  tableName = `outcomes-${tables}`;
  await createOutcomeTable(dynamo.client, tableName);
  store = createDynamoDeliveryStore({ client: dynamo.client, tableName, retentionDays: 30 });
  queries = createDynamoDeliveryQueries({ client: dynamo.client, tableName });
});

describe('createOutcomeTable', () => {
  it('creates the table as the layout describes it, on demand and ACTIVE', async () => {
    const { Table } = await dynamo.client.send(new DescribeTableCommand({ TableName: tableName }));
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

  it('keeps an existing table and its items when called again', async () => {
    await store.claim(message(), T0, LEASE_MS);
    await createOutcomeTable(dynamo.client, tableName);
    expect((await store.get(message().delivery_id))?.attempts).toBe(1);
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
    expect(await store.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(await store.get(msg.delivery_id)).toEqual({
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
    await store.claim(msg, T0, LEASE_MS);
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item?.[OUTCOME_TABLE.ttlAttribute]).toEqual({ N: String(T0 / 1000 + 30 * 86_400) });
  });

  it('makes a second claim wait while the lease is held', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    expect(await store.claim(msg, T0 + 10_500, LEASE_MS)).toEqual({ kind: 'wait', seconds: 50 });
    expect((await store.get(msg.delivery_id))?.attempts).toBe(1);
  });

  it('lets exactly one of many concurrent claims through', async () => {
    const msg = message();
    const claims = await Promise.all(Array.from({ length: 8 }, () => store.claim(msg, T0, LEASE_MS)));
    expect(claims.filter((c) => c.kind === 'claimed')).toEqual([{ kind: 'claimed', attempt: 1 }]);
    expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(7);
  });

  it('makes a retry wait until it is due, then takes attempt 2', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);

    const retrying = await store.get(msg.delivery_id);
    expect(retrying?.status).toBe('retrying');
    expect(retrying?.next_attempt_at).toBe('2024-05-01T12:00:30.000Z');

    expect(await store.claim(msg, T0 + 2_000, LEASE_MS)).toEqual({ kind: 'wait', seconds: 28 });
    expect(await store.claim(msg, T0 + 30_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    const sending = await store.get(msg.delivery_id);
    expect(sending?.status).toBe('sending');
    expect(sending?.next_attempt_at).toBeNull();
  });

  it('answers final to a duplicate of a delivered delivery', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 500);
    expect(await store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'final', status: 'delivered' });
    // Long after any lease: still final.
    expect(await store.claim(msg, T0 + 86_400_000, LEASE_MS)).toEqual({ kind: 'final', status: 'delivered' });
  });

  it('takes over a lost last attempt under its own number, never past max_attempts', async () => {
    const msg = message({ max_attempts: 2 });
    expect(await store.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 1_000 }, T0 + 500);
    expect(await store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    // The worker crashed: no outcome. The lease runs out and the redelivered message takes attempt 2 over.
    expect(await store.claim(msg, T0 + 1_000 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    // The taken-over attempt is leased again: it may yet succeed, so wait.
    expect(await store.claim(msg, T0 + 2_000 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'wait', seconds: 59 });
    // Lost again: still attempt 2 (the queue's maxReceiveCount bounds a crash loop).
    expect(await store.claim(msg, T0 + 1_000 + 2 * LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await store.get(msg.delivery_id))?.attempts).toBe(2);
  });

  it('hands a retried claim whose first try landed its own attempt, without burning a number', async () => {
    const msg = message();
    const lossy = faultyDynamoClient(dynamo.endpoint, {
      lose: (name, input) =>
        name === 'UpdateItemCommand' && String(input.ConditionExpression).startsWith('attribute_not_exists'),
    });
    const flaky = createDynamoDeliveryStore({ client: lossy.client, tableName, retentionDays: 30 });
    // The first try of the claim lands, its answer is lost, the SDK sends it again: the condition
    // fails on the item the first try wrote, which carries this claim's id.
    expect(await flaky.claim(msg, T0, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(lossy.log.lost).toBe(1);
    expect((await store.get(msg.delivery_id))?.attempts).toBe(1);
    // Another claim (another copy of the message) still waits for the lease.
    expect(await store.claim(msg, T0 + 1_000, LEASE_MS)).toEqual({ kind: 'wait', seconds: 59 });
  });

  it('hands a retried takeover whose first try landed its own attempt', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const lossy = faultyDynamoClient(dynamo.endpoint, {
      lose: (name, input) => name === 'UpdateItemCommand' && String(input.ConditionExpression).startsWith('#status = '),
    });
    const flaky = createDynamoDeliveryStore({ client: lossy.client, tableName, retentionDays: 30 });
    expect(await flaky.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    expect(lossy.log.lost).toBe(1);
    expect((await store.get(msg.delivery_id))?.lease_until).toBe(new Date(T0 + 2 * LEASE_MS).toISOString());
  });

  it('lets only one of many concurrent takeovers through', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const claims = await Promise.all(Array.from({ length: 6 }, () => store.claim(msg, T0 + LEASE_MS, LEASE_MS)));
    expect(claims.filter((c) => c.kind === 'claimed')).toEqual([{ kind: 'claimed', attempt: 1 }]);
    expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(5);
  });

  it('answers exhausted for a delivery waiting to retry with no attempts left', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    // Recorded as retrying although its only attempt is used: nothing may claim it again.
    await store.recordAttempt(
      msg,
      attempt(1, T0, { status_code: 503, error_class: 'http_transient', error_message: 'x', response_snippet: null }),
      { status: 'retrying', atMs: T0 + 1 },
      T0,
    );
    expect(await store.claim(msg, T0 + 10, LEASE_MS)).toEqual({ kind: 'exhausted', attempts: 1 });
  });

  it('takes the place of an attempt whose lease ran out without an outcome, under the same number', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    expect(await store.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
  });
});

describe('recordAttempt', () => {
  it('appends the attempt and makes a delivered delivery final', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const record = attempt(1, T0);
    await store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 500);
    const stored = await store.get(msg.delivery_id);
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
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    await store.claim(msg, T0 + 30_000, LEASE_MS);
    await store.recordAttempt(msg, attempt(2, T0 + 30_000), { status: 'delivered' }, T0 + 31_000);
    const stored = await store.get(msg.delivery_id);
    expect(stored?.attempt_log.map((a) => [a.attempt, a.status_code, a.error_class])).toEqual([
      [1, 503, 'http_transient'],
      [2, 200, 'none'],
    ]);
    expect(stored?.last_error).toBeNull();
  });

  it('refuses an attempt that a later claim overtook', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 1_000 }, T0 + 500);
    await store.claim(msg, T0 + 1_000, LEASE_MS);
    await expect(store.recordAttempt(msg, attempt(1, T0 + 2), { status: 'delivered' }, T0 + 1_001)).rejects.toThrow(
      DeliveryStateError,
    );
    const stored = await store.get(msg.delivery_id);
    expect(stored?.status).toBe('sending');
    expect(stored?.attempt_log).toHaveLength(1);
  });

  it('refuses to record the same attempt twice', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    const second = store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 2_000);
    await expect(second).rejects.toThrow(
      /cannot record attempt 1: it is no longer in flight \(the record is at attempt 1, retrying\)/,
    );
    expect((await store.get(msg.delivery_id))?.attempt_log).toHaveLength(1);
  });

  it('accepts a repeat of the very outcome it already holds (a retried request whose first try landed)', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const record = attempt(1, T0);
    await store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 1);
    await store.recordAttempt(msg, record, { status: 'delivered' }, T0 + 2);
    expect((await store.get(msg.delivery_id))?.attempt_log).toEqual([record]);
  });

  it('refuses an attempt of a delivery that does not exist', async () => {
    await expect(store.recordAttempt(message(), attempt(1, T0), { status: 'delivered' }, T0)).rejects.toThrow(
      /the record does not exist/,
    );
  });

  it('lets the taker-over of a lost last attempt record its outcome', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    expect(await store.claim(msg, T0 + LEASE_MS, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    const second = attempt(1, T0 + LEASE_MS, {
      status_code: 503,
      error_class: 'http_transient',
      error_message: 'endpoint answered 503',
      response_snippet: null,
    });
    await store.recordAttempt(msg, second, { status: 'failed' }, T0 + LEASE_MS);
    expect(await store.claim(msg, T0 + LEASE_MS + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'failed' });
  });
});

describe('the kept request', () => {
  it('keeps the rendered message on a final failure, in the same single write', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    const writes = store.stats.writes;
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect(store.stats.writes - writes).toBe(1);
    expect((await store.get(msg.delivery_id))?.request).toEqual(msg);
    // The failure indexes carry only the flag: the request itself is not copied into them.
    const [listed] = await queries.listFailures({ since: '2024-05-01T00:00:00Z', until: '2024-05-01T23:59:59Z' });
    expect(listed?.request_kept).toBe(true);
    expect(listed?.request).toBeNull();
  });

  it('keeps the request while a delivery is retrying (the reconciler rebuilds a lost message from it), not on a first claim', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    expect((await store.get(msg.delivery_id))?.request).toBeNull();
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    expect((await store.get(msg.delivery_id))?.request).toEqual(msg);
    await store.claim(msg, T0 + 30_000, LEASE_MS);
    await store.recordAttempt(msg, attempt(2, T0 + 30_000), { status: 'delivered' }, T0 + 31_000);
    expect(await store.get(msg.delivery_id)).toMatchObject({ request: null, request_kept: false, pending_until: null });
  });

  it('drops the kept request when a replayed delivery is delivered', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const reopened = await store.reopen(msg.delivery_id, T0 + 60_000);
    // Still there while the new series runs: a replay whose send failed can send it again.
    expect(reopened.request).toEqual(msg);
    expect(reopened.replayed_at).toEqual(['2024-05-01T12:01:00.000Z']);
    await store.claim(msg, T0 + 61_000, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item).not.toHaveProperty('request');
    expect((await store.get(msg.delivery_id))?.request).toBeNull();
  });

  it('does not keep a request larger than the cap, and still records the failure', async () => {
    const msg = message({ max_attempts: 1, body: JSON.stringify({ blob: 'x'.repeat(MAX_KEPT_REQUEST_BYTES) }) });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect(await store.get(msg.delivery_id)).toMatchObject({ status: 'failed', request: null, attempts: 1 });
  });

  it('records the failure without the request when DynamoDB refuses the larger item', async () => {
    // A client that refuses any write keeping a request, as DynamoDB does an item over 400 KB.
    const refusing = {
      send(command: unknown) {
        if (command instanceof UpdateItemCommand && /#request = /.test(command.input.UpdateExpression ?? '')) {
          return Promise.reject(
            Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
              name: 'ValidationException',
            }),
          );
        }
        return dynamo.client.send(command as GetItemCommand);
      },
    } as unknown as DynamoDBClient;
    const tight = createDynamoDeliveryStore({ client: refusing, tableName, retentionDays: 30 });
    const msg = message({ max_attempts: 1 });
    await tight.claim(msg, T0, LEASE_MS);
    await tight.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect(await tight.get(msg.delivery_id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_status_code: 503,
      request: null,
    });
    expect(tight.stats.writes).toBe(3);
  });

  it('reads a kept request that no longer parses as a delivery message as none', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: msg.delivery_id } },
        UpdateExpression: 'SET #r = :r',
        ExpressionAttributeNames: { '#r': 'request' },
        ExpressionAttributeValues: { ':r': { S: '{"v":2}' } },
      }),
    );
    expect((await store.get(msg.delivery_id))?.request).toBeNull();
  });
});

describe('dead-letter pending', () => {
  it('marks a final failure until its message is dead-lettered, in one more write', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect((await store.get(msg.delivery_id))?.dead_letter_pending).toBe(true);
    const writes = store.stats.writes;
    await store.markDeadLettered(msg.delivery_id, { final_at: new Date(T0 + 1_000).toISOString() });
    expect(store.stats.writes - writes).toBe(1);
    expect((await store.get(msg.delivery_id))?.dead_letter_pending).toBe(false);
  });

  it('leaves a later failure marked when a late mark names an earlier one', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    await store.reopen(msg.delivery_id, T0 + 2_000);
    await store.claim(msg, T0 + 3_000, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0 + 3_000), { status: 'failed' }, T0 + 4_000);
    await store.markDeadLettered(msg.delivery_id, { final_at: new Date(T0 + 1_000).toISOString() });
    expect((await store.get(msg.delivery_id))?.dead_letter_pending).toBe(true);
  });

  it('does not mark a delivered delivery', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1_000);
    expect((await store.get(msg.delivery_id))?.dead_letter_pending).toBe(false);
  });
});

describe('recordFinal', () => {
  it('records a delivery that never reached the wire as final with no attempts', async () => {
    const msg = message({ url: 'not a url' });
    await store.recordFinal(msg, 'failed', 'endpoint_url: missing value for workflow_id', T0);
    expect(await store.get(msg.delivery_id)).toMatchObject({
      status: 'failed',
      attempts: 0,
      max_attempts: 3,
      endpoint_host: '',
      last_error: 'endpoint_url: missing value for workflow_id',
      final_at: '2024-05-01T12:00:00.000Z',
      attempt_log: [],
    });
    expect(await store.claim(msg, T0 + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'failed' });
  });

  it('records a disabled node as skipped, outside the failure indexes', async () => {
    const msg = message();
    await store.recordFinal(msg, 'skipped', 'node is disabled', T0);
    expect((await store.get(msg.delivery_id))?.status).toBe('skipped');
    expect(await queries.listFailures({ since: '2024-05-01T00:00:00Z', until: '2024-05-02T00:00:00Z' })).toEqual([]);
    expect(await store.claim(msg, T0 + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'skipped' });
  });

  it('leaves a delivery in flight alone', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordFinal(msg, 'failed', 'late duplicate thinks the node is bad', T0 + 1);
    const stored = await store.get(msg.delivery_id);
    expect(stored).toMatchObject({ status: 'sending', attempts: 1, last_error: null, final_at: null });
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 2);
    expect((await store.get(msg.delivery_id))?.status).toBe('delivered');
  });

  it('leaves a final delivery alone', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1);
    await store.recordFinal(msg, 'skipped', 'node is disabled', T0 + 2);
    expect((await store.get(msg.delivery_id))?.status).toBe('delivered');
  });
});

describe('reopen', () => {
  it('reopens only the outcome the caller read: a second copy of a redriven message is refused', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const seen = { final_at: (await store.get(msg.delivery_id))!.final_at };
    await store.reopen(msg.delivery_id, T0 + 60_000, seen);
    // The first copy delivers in the new series...
    await store.claim(msg, T0 + 61_000, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    // ...and the second copy, which read the same failure, may not reopen the delivered record.
    await expect(store.reopen(msg.delivery_id, T0 + 63_000, seen)).rejects.toThrow(DeliveryStateError);
    expect((await store.get(msg.delivery_id))?.status).toBe('delivered');
  });

  it('takes max_attempts from the message of the new series', async () => {
    const msg = message({ max_attempts: 1 });
    await store.recordFinal(msg, 'failed', 'bad node', T0);
    await store.reopen(msg.delivery_id, T0 + 1_000);
    const fixed = message({ max_attempts: 3 });
    expect(await store.claim(fixed, T0 + 2_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await store.recordAttempt(
      fixed,
      failedAttempt(1, T0 + 2_000),
      { status: 'retrying', atMs: T0 + 3_000 },
      T0 + 2_500,
    );
    expect(await store.claim(fixed, T0 + 4_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await store.get(msg.delivery_id))?.max_attempts).toBe(3);
  });

  it('makes a failed delivery pending again, keeps its history and takes it out of the failures', async () => {
    const msg = message({ max_attempts: 1 });
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const window = { since: '2024-05-01T00:00:00Z', until: '2024-05-01T23:59:59Z' };
    expect(await queries.listFailures(window)).toHaveLength(1);

    const reopened = await store.reopen(msg.delivery_id, T0 + 60_000);
    expect(reopened).toMatchObject({
      status: 'pending',
      attempts: 0,
      max_attempts: 1,
      final_at: null,
      next_attempt_at: null,
      updated_at: '2024-05-01T12:01:00.000Z',
    });
    expect(reopened.attempt_log).toHaveLength(1);
    expect(await queries.listFailures(window)).toEqual([]);
    expect(await queries.listFailures({ ...window, organizationId: 'org-1' })).toEqual([]);

    // A new series of attempts under the same id.
    expect(await store.claim(msg, T0 + 61_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    expect((await store.get(msg.delivery_id))?.attempt_log.map((a) => a.attempt)).toEqual([1, 1]);
  });

  it('marks where each new series of attempts starts', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1);
    await store.reopen(msg.delivery_id, T0 + 10);
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item?.replayed_at).toEqual({ L: [{ S: '2024-05-01T12:00:00.010Z' }] });
  });

  it('refuses a delivery that is not final', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await expect(store.reopen(msg.delivery_id, T0 + 1)).rejects.toThrow(
      /it is sending; only a delivered or failed delivery can be reopened/,
    );
    expect((await store.get(msg.delivery_id))?.attempts).toBe(1);
  });

  it('refuses a skipped delivery', async () => {
    const msg = message();
    await store.recordFinal(msg, 'skipped', 'node is disabled', T0);
    await expect(store.reopen(msg.delivery_id, T0 + 1)).rejects.toThrow(DeliveryStateError);
  });

  it('refuses a delivery that does not exist, without creating it', async () => {
    await expect(store.reopen('whd_missing', T0)).rejects.toThrow(/delivery whd_missing: no such delivery/);
    expect(await store.get('whd_missing')).toBeUndefined();
  });
});

describe('get', () => {
  it('answers undefined for an unknown delivery', async () => {
    expect(await store.get('whd_unknown')).toBeUndefined();
  });

  it('refuses an item that is not a record this store writes, naming the delivery and the attribute', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: msg.delivery_id } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': { S: 'lost' } },
      }),
    );
    await expect(store.get(msg.delivery_id)).rejects.toThrow(
      new RegExp(`^outcome record ${msg.delivery_id}: not a record this store writes: status: `),
    );
    // A claim reads the same item when its write is refused: it fails too, rather than guess.
    await expect(store.claim(msg, T0 + 1_000, LEASE_MS)).rejects.toThrow(/status: /);
  });
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

describe('cost', () => {
  it('takes exactly 2 write requests for a delivery that succeeds on its first attempt', async () => {
    const msg = message();
    const before = store.stats.writes;
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    expect(store.stats.writes - before).toBe(2);
  });

  it('takes one failed conditional write for a duplicate of a final delivery', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    const { writes, reads } = store.stats;
    await store.claim(msg, T0 + 200, LEASE_MS);
    expect(store.stats.writes - writes).toBe(1);
    // DynamoDB returns the old item with the failure; dynalite ignores that, so one GetItem reads it.
    expect(store.stats.reads - reads).toBeLessThanOrEqual(1);
  });

  it('takes 2 write requests for a takeover after a crash: the refused claim and the takeover', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const before = store.stats.writes;
    await store.claim(msg, T0 + LEASE_MS, LEASE_MS);
    expect(store.stats.writes - before).toBe(2);
  });

  it('keeps a delivered record out of the pending index, and a delivery in flight in it', async () => {
    const done = message({ node_id: 'done' });
    const flying = message({ node_id: 'flying' });
    await store.claim(done, T0, LEASE_MS);
    await store.recordAttempt(done, attempt(1, T0), { status: 'delivered' }, T0 + 100);
    await store.claim(flying, T0, LEASE_MS);
    expect(await queries.listPending(T0 + 10 * LEASE_MS, 100)).toEqual([flying.delivery_id]);
    // Not yet past its lease: not a candidate.
    expect(await queries.listPending(T0 + LEASE_MS - 1, 100)).toEqual([]);
  });
});

describe('reconciler reads', () => {
  it('costs one Query per pending shard when nothing is stuck, and no Scan', async () => {
    const before = queries.stats.reads;
    expect(await queries.listPending(T0, 500)).toEqual([]);
    expect(queries.stats.reads - before).toBe(16);
  });
});

describe('reconciler writes', () => {
  it('markRequeued notes the time and moves pending_until, only if it is still what was read', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    await store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    const seen = { pending_until: (await store.get(msg.delivery_id))!.pending_until! };
    expect(seen.pending_until).toBe('2024-05-01T12:00:30.000Z');
    expect(await store.markRequeued(msg.delivery_id, T0 + 100_000, seen)).toBe(true);
    expect(await store.markRequeued(msg.delivery_id, T0 + 100_001, seen)).toBe(false);
    expect(await store.get(msg.delivery_id)).toMatchObject({
      status: 'retrying',
      pending_until: '2024-05-01T12:01:40.000Z',
      reconciled_at: ['2024-05-01T12:01:40.000Z'],
    });
  });

  it('failStranded fails it into the failure indexes, out of the pending index, with no dead-letter mark', async () => {
    const msg = message();
    await store.claim(msg, T0, LEASE_MS);
    const seen = { pending_until: (await store.get(msg.delivery_id))!.pending_until! };
    expect(await store.failStranded(msg.delivery_id, 'reconciler: lost', T0 + 200_000, seen)).toBe(true);
    expect(await store.get(msg.delivery_id)).toMatchObject({
      status: 'failed',
      stranded: true,
      last_error: 'reconciler: lost',
      dead_letter_pending: false,
      pending_until: null,
      lease_until: null,
    });
    expect(await queries.listPending(T0 + 10 * LEASE_MS, 100)).toEqual([]);
    const [listed] = await queries.listFailures({
      since: '2024-05-01T00:00:00Z',
      until: '2024-05-01T23:59:59Z',
      organizationId: 'org-1',
    });
    expect(listed).toMatchObject({ delivery_id: msg.delivery_id, stranded: true });
    // Final now: neither write applies again.
    expect(
      await store.failStranded(msg.delivery_id, 'again', T0 + 300_000, { pending_until: seen.pending_until }),
    ).toBe(false);
    // A reopen clears the stranded mark and puts it back in the pending index.
    await store.reopen(msg.delivery_id, T0 + 400_000);
    expect(await store.get(msg.delivery_id)).toMatchObject({
      status: 'pending',
      stranded: false,
      pending_until: '2024-05-01T12:06:40.000Z',
    });
  });
});
