import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { createDynamoEndpointHealthStore } from '../../shared/adapters/dynamo-endpoint-health-store.ts';
import { createDynamoTrafficCounter } from '../../shared/adapters/dynamo-traffic-counter.ts';
import { TRAFFIC_SORT_KEY_PREFIX } from '../../shared/adapters/endpoint-health-table-layout.ts';
import { windowOf } from '../../shared/domain/lanes.ts';
import { startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { createEndpointHealthTable } from '../../shared/local/endpoint-health-table.ts';
import { quiet } from '../fixtures/deliver-deps.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// Fairness between organizations (issue 8): render's sampled count per organization and
// window in the health table, and the slow lane on the whole local pipeline.

const policy = { deliveries: 20, windowSeconds: 10 };

describe('the fair-share count in the endpoint health table', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
    await createEndpointHealthTable(dynamo.client, 'health');
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  const counter = (client: DynamoDBClient, random: () => number, sampleEvery = 10) =>
    createDynamoTrafficCounter({ client, tableName: 'health', policy, log: quiet, random, sampleEvery });

  const stored = async (org: string, nowMs: number) => {
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: 'health',
        Key: {
          organization_id: { S: org },
          endpoint: { S: `${TRAFFIC_SORT_KEY_PREFIX}${windowOf(nowMs, policy)}` },
        },
      }),
    );
    return Item;
  };

  it('adds every call when it samples each one: two containers see one total', async () => {
    const now = 1_700_000_000_000;
    const one = counter(dynamo.client, () => 0, 1);
    const two = counter(dynamo.client, () => 0, 1);
    expect(await one.add('org-exact', 3, now)).toBe(3);
    expect(await two.add('org-exact', 4, now)).toBe(7);
    expect(await one.add('org-exact', 1, now)).toBe(8);
    const item = await stored('org-exact', now);
    expect(item?.count?.N).toBe('8');
    // Forgotten a minute after its window ends.
    expect(Number(item?.expires_at?.N)).toBe((windowOf(now, policy) + 1) * policy.windowSeconds + 60);
    // The next window starts from nothing.
    expect(await two.add('org-exact', 2, now + 10_000)).toBe(2);
  });

  it('writes one call in ten, adding ten times its deliveries, and counts locally in between', async () => {
    const now = 1_700_000_100_000;
    const draws = [0.5, 0.5, 0.05, 0.9];
    const sampled = counter(dynamo.client, () => draws.shift() ?? 0.9);
    expect(await sampled.add('org-sampled', 2, now)).toBe(2);
    expect(await sampled.add('org-sampled', 2, now)).toBe(4);
    expect(await stored('org-sampled', now)).toBeUndefined();
    // The sample: +20 in the table; the container's own count stays exact (6), nothing else wrote.
    expect(await sampled.add('org-sampled', 2, now)).toBe(6);
    expect((await stored('org-sampled', now))?.count?.N).toBe('20');
    expect(await sampled.add('org-sampled', 1, now)).toBe(7);
    // Another container's sample (+50) is the others' part the next sample reads back.
    const other = counter(dynamo.client, () => 0);
    expect(await other.add('org-sampled', 5, now)).toBe(5 + 20);
    draws.push(0.05);
    expect(await sampled.add('org-sampled', 1, now)).toBe(8 + 50);
  });

  it('answers its own count when the table fails, so deliveries take the main lane', async () => {
    const broken = createDynamoTrafficCounter({
      client: dynamo.client,
      tableName: 'no-such-table',
      policy,
      log: quiet,
      random: () => 0,
    });
    expect(await broken.add('org-x', 1, 0)).toBe(1);
  });

  it('is not listed as an endpoint', async () => {
    const health = createDynamoEndpointHealthStore({ client: dynamo.client, tableName: 'health', retentionDays: 30 });
    expect(await health.list()).toEqual([]);
    expect(await health.list('org-exact')).toEqual([]);
  });
});

describe('a campaign from one organization on the local pipeline', () => {
  let stack: LocalStack;
  let receiver: Receiver;
  const sentTo = new Map<string, string[]>();

  beforeAll(async () => {
    receiver = await startReceiver();
    stack = await startLocalStack({
      secrets: {},
      requestTimeoutMs: 5_000,
      slowLane: { fairShareDeliveries: policy.deliveries, fairShareWindowSeconds: 60 },
    });
    stack.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'SendMessageBatchCommand') {
          const input = args.input as SendMessageBatchCommandInput;
          const list = sentTo.get(input.QueueUrl ?? '') ?? [];
          for (const e of input.Entries ?? []) list.push(JSON.parse(e.MessageBody ?? '{}').organization_id);
          sentTo.set(input.QueueUrl ?? '', list);
        }
        return next(args);
      },
      { step: 'initialize', name: 'countLanes' },
    );
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  it('puts what is past its fair share on the slow lane, keeps another organization on the main queue, and delivers all once', async () => {
    const node = (org: string) =>
      makeNodeJson({ data: { endpoint_url: `${receiver.origin}/hook/${org}`, credential_uuid: null } });
    const campaign = Array.from({ length: 150 }, (_, i) =>
      stack.emit(
        makeEventJson({ detail: { organization_id: 'org-campaign', workflow_run_id: 10_000 + i, nodes: [node('a')] } }),
      ),
    );
    const renderedA = (await Promise.all(campaign)).flat();
    const renderedB = await stack.emit(
      makeEventJson({ detail: { organization_id: 'org-quiet', workflow_run_id: 99, nodes: [node('b')] } }),
    );
    const ids = [...renderedA, ...renderedB].map((r) => r.delivery_id);
    const records = await stack.waitUntilFinal(ids, 90_000);
    expect(records.filter((r) => r.status !== 'delivered').map((r) => [r.status, r.last_error])).toEqual([]);

    const main = sentTo.get(stack.queues.delivery.url) ?? [];
    const slow = sentTo.get(stack.queues.slow.url) ?? [];
    // At most the share on the main queue (a sample can count ahead, never behind), the rest on the slow lane.
    expect(main.filter((o) => o === 'org-campaign').length).toBeLessThanOrEqual(policy.deliveries);
    expect(slow.filter((o) => o === 'org-campaign').length).toBeGreaterThanOrEqual(150 - policy.deliveries);
    expect(main).toContain('org-quiet');
    expect(slow).not.toContain('org-quiet');
    // Every delivery reached its endpoint exactly once.
    const runs = receiver
      .to('/hook/a')
      .map((r) => JSON.parse(r.body).workflow_run_id ?? r.headers['x-dograh-workflow-run-id']);
    expect(receiver.to('/hook/a')).toHaveLength(150);
    expect(new Set(runs).size).toBe(150);
    expect(receiver.to('/hook/b')).toHaveLength(1);
  }, 120_000);
});
