import { GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoDeliveryStore, MAX_KEPT_REQUEST_BYTES } from '../../shared/adapters/dynamo-delivery-store.ts';
import { DeliveryStateError } from '../../shared/errors.ts';
import { attempt, failedAttempt, useOutcomeTable, LEASE_MS, message, T0 } from '../fixtures/outcome-store.ts';

// The DynamoDB outcome store on dynalite: the kept request, the dead-letter mark, final records,
// reopening, reading a record, and the reconciler's writes.

const db = useOutcomeTable();

describe('the kept request', () => {
  it('keeps the rendered message on a final failure, in the same single write', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    const writes = db.store.stats.writes;
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect(db.store.stats.writes - writes).toBe(1);
    expect((await db.store.get(msg.delivery_id))?.request).toEqual(msg);
    // The failure indexes carry only the flag: the request itself is not copied into them.
    const [listed] = await db.queries.listFailures({ since: '2024-05-01T00:00:00Z', until: '2024-05-01T23:59:59Z' });
    expect(listed?.request_kept).toBe(true);
    expect(listed?.request).toBeNull();
  });

  it('keeps the request while a delivery is retrying (the reconciler rebuilds a lost message from it), not on a first claim', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    expect((await db.store.get(msg.delivery_id))?.request).toBeNull();
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    expect((await db.store.get(msg.delivery_id))?.request).toEqual(msg);
    await db.store.claim(msg, T0 + 30_000, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(2, T0 + 30_000), { status: 'delivered' }, T0 + 31_000);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({
      request: null,
      request_kept: false,
      pending_until: null,
    });
  });

  it('drops the kept request when a replayed delivery is delivered', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const reopened = await db.store.reopen(msg.delivery_id, T0 + 60_000);
    // Still there while the new series runs: a replay whose send failed can send it again.
    expect(reopened.request).toEqual(msg);
    expect(reopened.replayed_at).toEqual(['2024-05-01T12:01:00.000Z']);
    await db.store.claim(msg, T0 + 61_000, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    const { Item } = await db.client.send(
      new GetItemCommand({ TableName: db.tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item).not.toHaveProperty('request');
    expect((await db.store.get(msg.delivery_id))?.request).toBeNull();
  });

  it('does not keep a request larger than the cap, and still records the failure', async () => {
    const msg = message({ max_attempts: 1, body: JSON.stringify({ blob: 'x'.repeat(MAX_KEPT_REQUEST_BYTES) }) });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({ status: 'failed', request: null, attempts: 1 });
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
        return db.client.send(command as GetItemCommand);
      },
    } as unknown as DynamoDBClient;
    const tight = createDynamoDeliveryStore({ client: refusing, tableName: db.tableName, retentionDays: 30 });
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
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    await db.client.send(
      new UpdateItemCommand({
        TableName: db.tableName,
        Key: { pk: { S: msg.delivery_id } },
        UpdateExpression: 'SET #r = :r',
        ExpressionAttributeNames: { '#r': 'request' },
        ExpressionAttributeValues: { ':r': { S: '{"v":2}' } },
      }),
    );
    expect((await db.store.get(msg.delivery_id))?.request).toBeNull();
  });
});

describe('dead-letter pending', () => {
  it('marks a final failure until its message is dead-lettered, in one more write', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    expect((await db.store.get(msg.delivery_id))?.dead_letter_pending).toBe(true);
    const writes = db.store.stats.writes;
    await db.store.markDeadLettered(msg.delivery_id, { final_at: new Date(T0 + 1_000).toISOString() });
    expect(db.store.stats.writes - writes).toBe(1);
    expect((await db.store.get(msg.delivery_id))?.dead_letter_pending).toBe(false);
  });

  it('leaves a later failure marked when a late mark names an earlier one', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    await db.store.reopen(msg.delivery_id, T0 + 2_000);
    await db.store.claim(msg, T0 + 3_000, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0 + 3_000), { status: 'failed' }, T0 + 4_000);
    await db.store.markDeadLettered(msg.delivery_id, { final_at: new Date(T0 + 1_000).toISOString() });
    expect((await db.store.get(msg.delivery_id))?.dead_letter_pending).toBe(true);
  });

  it('does not mark a delivered delivery', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1_000);
    expect((await db.store.get(msg.delivery_id))?.dead_letter_pending).toBe(false);
  });
});

describe('recordFinal', () => {
  it('records a delivery that never reached the wire as final with no attempts', async () => {
    const msg = message({ url: 'not a url' });
    await db.store.recordFinal(msg, 'failed', 'endpoint_url: missing value for workflow_id', T0);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({
      status: 'failed',
      attempts: 0,
      max_attempts: 3,
      endpoint_host: '',
      last_error: 'endpoint_url: missing value for workflow_id',
      final_at: '2024-05-01T12:00:00.000Z',
      attempt_log: [],
    });
    expect(await db.store.claim(msg, T0 + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'failed' });
  });

  it('records a disabled node as skipped, outside the failure indexes', async () => {
    const msg = message();
    await db.store.recordFinal(msg, 'skipped', 'node is disabled', T0);
    expect((await db.store.get(msg.delivery_id))?.status).toBe('skipped');
    expect(await db.queries.listFailures({ since: '2024-05-01T00:00:00Z', until: '2024-05-02T00:00:00Z' })).toEqual([]);
    expect(await db.store.claim(msg, T0 + 1, LEASE_MS)).toEqual({ kind: 'final', status: 'skipped' });
  });

  it('leaves a delivery in flight alone', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordFinal(msg, 'failed', 'late duplicate thinks the node is bad', T0 + 1);
    const stored = await db.store.get(msg.delivery_id);
    expect(stored).toMatchObject({ status: 'sending', attempts: 1, last_error: null, final_at: null });
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 2);
    expect((await db.store.get(msg.delivery_id))?.status).toBe('delivered');
  });

  it('leaves a final delivery alone', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1);
    await db.store.recordFinal(msg, 'skipped', 'node is disabled', T0 + 2);
    expect((await db.store.get(msg.delivery_id))?.status).toBe('delivered');
  });
});

describe('reopen', () => {
  it('reopens only the outcome the caller read: a second copy of a redriven message is refused', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const seen = { final_at: (await db.store.get(msg.delivery_id))!.final_at };
    await db.store.reopen(msg.delivery_id, T0 + 60_000, seen);
    // The first copy delivers in the new series...
    await db.store.claim(msg, T0 + 61_000, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    // ...and the second copy, which read the same failure, may not reopen the delivered record.
    await expect(db.store.reopen(msg.delivery_id, T0 + 63_000, seen)).rejects.toThrow(DeliveryStateError);
    expect((await db.store.get(msg.delivery_id))?.status).toBe('delivered');
  });

  it('takes max_attempts from the message of the new series', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.recordFinal(msg, 'failed', 'bad node', T0);
    await db.store.reopen(msg.delivery_id, T0 + 1_000);
    const fixed = message({ max_attempts: 3 });
    expect(await db.store.claim(fixed, T0 + 2_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await db.store.recordAttempt(
      fixed,
      failedAttempt(1, T0 + 2_000),
      { status: 'retrying', atMs: T0 + 3_000 },
      T0 + 2_500,
    );
    expect(await db.store.claim(fixed, T0 + 4_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 2 });
    expect((await db.store.get(msg.delivery_id))?.max_attempts).toBe(3);
  });

  it('makes a failed delivery pending again, keeps its history and takes it out of the failures', async () => {
    const msg = message({ max_attempts: 1 });
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'failed' }, T0 + 1_000);
    const window = { since: '2024-05-01T00:00:00Z', until: '2024-05-01T23:59:59Z' };
    expect(await db.queries.listFailures(window)).toHaveLength(1);

    const reopened = await db.store.reopen(msg.delivery_id, T0 + 60_000);
    expect(reopened).toMatchObject({
      status: 'pending',
      attempts: 0,
      max_attempts: 1,
      final_at: null,
      next_attempt_at: null,
      updated_at: '2024-05-01T12:01:00.000Z',
    });
    expect(reopened.attempt_log).toHaveLength(1);
    expect(await db.queries.listFailures(window)).toEqual([]);
    expect(await db.queries.listFailures({ ...window, organizationId: 'org-1' })).toEqual([]);

    // A new series of attempts under the same id.
    expect(await db.store.claim(msg, T0 + 61_000, LEASE_MS)).toEqual({ kind: 'claimed', attempt: 1 });
    await db.store.recordAttempt(msg, attempt(1, T0 + 61_000), { status: 'delivered' }, T0 + 62_000);
    expect((await db.store.get(msg.delivery_id))?.attempt_log.map((a) => a.attempt)).toEqual([1, 1]);
  });

  it('marks where each new series of attempts starts', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, attempt(1, T0), { status: 'delivered' }, T0 + 1);
    await db.store.reopen(msg.delivery_id, T0 + 10);
    const { Item } = await db.client.send(
      new GetItemCommand({ TableName: db.tableName, Key: { pk: { S: msg.delivery_id } } }),
    );
    expect(Item?.replayed_at).toEqual({ L: [{ S: '2024-05-01T12:00:00.010Z' }] });
  });

  it('refuses a delivery that is not final', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await expect(db.store.reopen(msg.delivery_id, T0 + 1)).rejects.toThrow(
      /it is sending; only a delivered or failed delivery can be reopened/,
    );
    expect((await db.store.get(msg.delivery_id))?.attempts).toBe(1);
  });

  it('refuses a skipped delivery', async () => {
    const msg = message();
    await db.store.recordFinal(msg, 'skipped', 'node is disabled', T0);
    await expect(db.store.reopen(msg.delivery_id, T0 + 1)).rejects.toThrow(DeliveryStateError);
  });

  it('refuses a delivery that does not exist, without creating it', async () => {
    await expect(db.store.reopen('whd_missing', T0)).rejects.toThrow(/delivery whd_missing: no such delivery/);
    expect(await db.store.get('whd_missing')).toBeUndefined();
  });
});

describe('get', () => {
  it('answers undefined for an unknown delivery', async () => {
    expect(await db.store.get('whd_unknown')).toBeUndefined();
  });

  it('refuses an item that is not a record this store writes, naming the delivery and the attribute', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.client.send(
      new UpdateItemCommand({
        TableName: db.tableName,
        Key: { pk: { S: msg.delivery_id } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': { S: 'lost' } },
      }),
    );
    await expect(db.store.get(msg.delivery_id)).rejects.toThrow(
      new RegExp(`^outcome record ${msg.delivery_id}: not a record this store writes: status: `),
    );
    // A claim reads the same item when its write is refused: it fails too, rather than guess.
    await expect(db.store.claim(msg, T0 + 1_000, LEASE_MS)).rejects.toThrow(/status: /);
  });
});

describe('reconciler writes', () => {
  it('markRequeued notes the time and moves pending_until, only if it is still what was read', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    await db.store.recordAttempt(msg, failedAttempt(1, T0), { status: 'retrying', atMs: T0 + 30_000 }, T0 + 1_000);
    const seen = { pending_until: (await db.store.get(msg.delivery_id))!.pending_until! };
    expect(seen.pending_until).toBe('2024-05-01T12:00:30.000Z');
    expect(await db.store.markRequeued(msg.delivery_id, T0 + 100_000, seen)).toBe(true);
    expect(await db.store.markRequeued(msg.delivery_id, T0 + 100_001, seen)).toBe(false);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({
      status: 'retrying',
      pending_until: '2024-05-01T12:01:40.000Z',
      reconciled_at: ['2024-05-01T12:01:40.000Z'],
    });
  });

  it('failStranded fails it into the failure indexes, out of the pending index, with no dead-letter mark', async () => {
    const msg = message();
    await db.store.claim(msg, T0, LEASE_MS);
    const seen = { pending_until: (await db.store.get(msg.delivery_id))!.pending_until! };
    expect(await db.store.failStranded(msg.delivery_id, 'reconciler: lost', T0 + 200_000, seen)).toBe(true);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({
      status: 'failed',
      stranded: true,
      last_error: 'reconciler: lost',
      dead_letter_pending: false,
      pending_until: null,
      lease_until: null,
    });
    expect(await db.queries.listPending(T0 + 10 * LEASE_MS, 100)).toEqual([]);
    const [listed] = await db.queries.listFailures({
      since: '2024-05-01T00:00:00Z',
      until: '2024-05-01T23:59:59Z',
      organizationId: 'org-1',
    });
    expect(listed).toMatchObject({ delivery_id: msg.delivery_id, stranded: true });
    // Final now: neither write applies again.
    expect(
      await db.store.failStranded(msg.delivery_id, 'again', T0 + 300_000, { pending_until: seen.pending_until }),
    ).toBe(false);
    // A reopen clears the stranded mark and puts it back in the pending index.
    await db.store.reopen(msg.delivery_id, T0 + 400_000);
    expect(await db.store.get(msg.delivery_id)).toMatchObject({
      status: 'pending',
      stranded: false,
      pending_until: '2024-05-01T12:06:40.000Z',
    });
  });
});
