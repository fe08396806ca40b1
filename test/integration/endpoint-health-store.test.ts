import { CreateQueueCommand, ReceiveMessageCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoEndpointHealthStore } from '../../shared/adapters/dynamo-endpoint-health-store.ts';
import { createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import type { EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import { startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { createEndpointHealthTable } from '../../shared/local/endpoint-health-table.ts';
import { startSqsEmulator, type LocalSqs } from '../../shared/local/fauxqs.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// The endpoint health store on dynalite, and the fair-queue group id on fauxqs, with the real SDK.
let dynamo: LocalDynamo;
let sqs: LocalSqs;

beforeAll(async () => {
  dynamo = await startDynalite();
  await createEndpointHealthTable(dynamo.client, 'health');
  sqs = await startSqsEmulator();
});

afterAll(async () => {
  await dynamo?.stop();
  await sqs?.stop();
});

function health(org: string, endpoint: string, overrides: Partial<EndpointHealth> = {}): EndpointHealth {
  return {
    organization_id: org,
    endpoint,
    state: 'closed',
    consecutive_failures: 1,
    opens: 0,
    open_until_ms: null,
    probe_until_ms: null,
    last_success_ms: null,
    last_failure_ms: 1_000,
    last_error: 'HTTP 503',
    gone_at_ms: null,
    gone_node_hash: null,
    slow_until_ms: null,
    updated_at_ms: 1_000,
    version: 0,
    ...overrides,
  };
}

describe('the DynamoDB endpoint health store', () => {
  const store = () =>
    createDynamoEndpointHealthStore({ client: dynamo.client, tableName: 'health', retentionDays: 30 });

  it('writes only over the version it read, so two workers cannot both apply one streak', async () => {
    const s = store();
    expect(await s.put(health('o1', 'https://a.example'), 0)).toBe(true);
    expect(await s.put(health('o1', 'https://a.example', { consecutive_failures: 2 }), 0)).toBe(false);
    const read = await s.get('o1', 'https://a.example');
    expect(read).toMatchObject({ version: 1, consecutive_failures: 1, last_error: 'HTTP 503', open_until_ms: null });
    expect(await s.put({ ...read!, state: 'open', consecutive_failures: 5, open_until_ms: 31_000 }, 1)).toBe(true);
    expect(await s.put({ ...read!, consecutive_failures: 2 }, 1)).toBe(false);
    expect(await s.get('o1', 'https://a.example')).toMatchObject({ state: 'open', version: 2, open_until_ms: 31_000 });
  });

  it('lists every organization or one, and removes', async () => {
    const s = store();
    await s.put(health('o2', 'https://b.example'), 0);
    await s.put(health('o2', 'https://c.example:8443'), 0);
    expect((await s.list('o2')).map((h) => h.endpoint)).toEqual(['https://b.example', 'https://c.example:8443']);
    expect((await s.list()).map((h) => h.organization_id)).toEqual(expect.arrayContaining(['o1', 'o2']));
    expect(await s.remove('o2', 'https://b.example')).toBe(true);
    expect(await s.remove('o2', 'https://b.example')).toBe(false);
    expect(await s.get('o2', 'https://b.example')).toBeUndefined();
  });

  it('keeps a slow mark, and reads an item without one as unmarked', async () => {
    const s = store();
    expect(await s.put(health('o4', 'https://f.example', { slow_until_ms: 61_000 }), 0)).toBe(true);
    expect(await s.get('o4', 'https://f.example')).toMatchObject({ slow_until_ms: 61_000, version: 1 });
    const read = await s.get('o4', 'https://f.example');
    expect(await s.put({ ...read!, slow_until_ms: null }, 1)).toBe(true);
    expect((await s.get('o4', 'https://f.example'))?.slow_until_ms).toBeNull();
    expect((await s.list('o4'))[0]?.slow_until_ms).toBeNull();
  });

  it('lets tracked endpoints expire, but never a gone mark', async () => {
    const s = store();
    await s.put(health('o3', 'https://d.example'), 0);
    await s.put(health('o3', 'https://e.example', { state: 'gone', gone_at_ms: 1_000, gone_node_hash: 'abc' }), 0);
    const item = async (endpoint: string) =>
      (
        await dynamo.client.send(
          new GetItemCommand({ TableName: 'health', Key: { organization_id: { S: 'o3' }, endpoint: { S: endpoint } } }),
        )
      ).Item;
    expect((await item('https://d.example'))?.['expires_at']?.N).toBe(String(1 + 30 * 86_400));
    expect((await item('https://e.example'))?.['expires_at']).toBeUndefined();
  });
});

describe('the delivery queue as a fair queue', () => {
  it('sends each delivery with its organization as MessageGroupId, which a standard queue takes', async () => {
    const { QueueUrl = '' } = await sqs.client.send(new CreateQueueCommand({ QueueName: 'fair' }));
    const batches: SendMessageBatchCommandInput[] = [];
    sqs.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'SendMessageBatchCommand') batches.push(args.input as SendMessageBatchCommandInput);
        return next(args);
      },
      { step: 'initialize', name: 'recordBatches' },
    );
    await createSqsDeliveryQueue({ client: sqs.client, queueUrl: QueueUrl }).enqueue([
      makeDeliveryMessage(1, { organization_id: 'org-a' }),
      makeDeliveryMessage(2, { organization_id: 'org-b' }),
    ]);
    expect(batches.flatMap((b) => b.Entries ?? []).map((e) => e.MessageGroupId)).toEqual(['org-a', 'org-b']);
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages).toHaveLength(2);
  });
});
