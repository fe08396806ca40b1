import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devStatePath, writeDevState } from '../../cli/target.ts';
import { makeHandler, wireDeliverDeps } from '../../functions/deliver/handler.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createDynamoEndpointHealthStore } from '../../shared/adapters/dynamo-endpoint-health-store.ts';
import { createFileCredentialStore } from '../../shared/adapters/file-credential-store.ts';
import { createSqsDeliveryQueue, DELIVERY_ID_ATTRIBUTE } from '../../shared/adapters/sqs-delivery-queue.ts';
import { DeliverConfigSchema, ENV, parseConfig } from '../../shared/config/config.ts';
import { endpointHost } from '../../shared/domain/endpoint.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { createEndpointHealthTable } from '../../shared/local/endpoint-health-table.ts';
import {
  createDeliveryQueues,
  startSqsEmulator,
  type DeliveryQueues,
  type LocalSqs,
} from '../../shared/local/fauxqs.ts';
import { LOCAL_ADDRESS_POLICY } from '../../shared/net/address-policy.ts';
import { runCliInProcess } from '../fixtures/cli.ts';
import { quiet } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeEndpointHealth } from '../fixtures/endpoint-health.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// The slow mark and the divert with the real wiring (wireDeliverDeps), fauxqs, dynalite and
// a loopback endpoint that never answers.
let sqs: LocalSqs;
let dynamo: LocalDynamo;
let queues: DeliveryQueues;
let slow: { url: string; arn: string };
let receiver: Receiver;
/** PutItem requests on the health table, failed ones too. */
let healthPuts = 0;

beforeAll(async () => {
  receiver = await startReceiver();
  receiver.on('/hang', () => ({ status: 200, delayMs: 120_000 }));
  sqs = await startSqsEmulator();
  dynamo = await startDynalite();
  await createOutcomeTable(dynamo.client, 'outcomes');
  await createEndpointHealthTable(dynamo.client, 'health');
  dynamo.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string };
      if (context.commandName === 'PutItemCommand' && input.TableName === 'health') healthPuts += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countHealthPuts' },
  );
  queues = await createDeliveryQueues(sqs.client, { visibilityTimeoutSeconds: 300, maxReceiveCount: 100 });
  const { QueueUrl = '' } = await sqs.client.send(new CreateQueueCommand({ QueueName: 'deliveries-slow' }));
  const { Attributes = {} } = await sqs.client.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  slow = { url: QueueUrl, arn: Attributes.QueueArn ?? '' };
});

afterAll(async () => {
  await receiver?.close();
  await sqs?.stop();
  await dynamo?.stop();
});

async function receiveAll(client: SQSClient, queueUrl: string, count: number): Promise<Message[]> {
  const messages: Message[] = [];
  const deadline = Date.now() + 20_000;
  while (messages.length < count && Date.now() < deadline) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    messages.push(...Messages);
  }
  return messages;
}

function eventOf(messages: readonly Message[], arn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '',
        SenderId: '',
        ApproximateFirstReceiveTimestamp: '',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: arn,
      awsRegion: 'us-east-1',
    })),
  };
}

describe('an endpoint that hangs, with a slow lane', () => {
  it('is marked slow once while two requests to it hang, and the next main-lane delivery to it goes to the slow lane unsent', async () => {
    const config = parseConfig(DeliverConfigSchema, {
      [ENV.deliveryQueueUrl]: queues.delivery.url,
      [ENV.deadLetterQueueUrl]: queues.deadLetter.url,
      [ENV.outcomeTableName]: 'outcomes',
      [ENV.endpointHealthTableName]: 'health',
      [ENV.requestTimeoutMs]: '30000',
      [ENV.slowDeliveryQueueUrl]: slow.url,
      [ENV.slowEndpointMs]: '100',
    });
    const handler = makeHandler(
      wireDeliverDeps(config, {
        sqs: sqs.client,
        dynamo: dynamo.client,
        credentials: createFileCredentialStore({}, 'webhooks/credentials'),
        policy: LOCAL_ADDRESS_POLICY,
        log: quiet,
        metricsSink: () => undefined,
      }),
    );
    const url = `${receiver.origin}/hang`;
    const [first, second, next] = [1, 2, 3].map((i) => makeDeliveryMessage(i, { url }));
    const main = createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url });
    await main.enqueue([first!, second!]);
    const hanging = handler(eventOf(await receiveAll(sqs.client, queues.delivery.url, 2), queues.delivery.arn));
    await receiver.waitFor('/hang', 2);

    const health = createDynamoEndpointHealthStore({ client: dynamo.client, tableName: 'health', retentionDays: 30 });
    const endpoint = endpointHost(url);
    const deadline = Date.now() + 20_000;
    while ((await health.get('org-1', endpoint))?.slow_until_ms == null) {
      if (Date.now() > deadline) throw new Error('the endpoint was never marked slow');
      await new Promise((r) => setTimeout(r, 50));
    }

    await main.enqueue([next!]);
    const response = await handler(eventOf(await receiveAll(sqs.client, queues.delivery.url, 1), queues.delivery.arn));
    // Diverted: settled as deleted on the main lane, on the slow lane instead, never sent, never claimed.
    expect(response).toEqual({ batchItemFailures: [] });
    const onSlowLane = await receiveAll(sqs.client, slow.url, 1);
    expect(onSlowLane.map((m) => m.MessageAttributes?.[DELIVERY_ID_ATTRIBUTE]?.StringValue)).toEqual([
      next!.delivery_id,
    ]);
    expect(JSON.parse(onSlowLane[0]?.Body ?? '')).toEqual(next);
    expect(receiver.to('/hang')).toHaveLength(2);
    const store = createDynamoDeliveryStore({ client: dynamo.client, tableName: 'outcomes', retentionDays: 30 });
    expect(await store.get(next!.delivery_id)).toBeUndefined();
    // One write for both hanging requests: the mark is the item's only version, and no other write was tried.
    expect(await health.get('org-1', endpoint)).toMatchObject({ version: 1, state: 'closed', consecutive_failures: 0 });
    expect(healthPuts).toBe(1);

    // The two hanging requests end (the endpoint drops them) and are retried as usual.
    await receiver.close();
    expect((await hanging).batchItemFailures).toHaveLength(2);
  });
});

describe('webhooks endpoints', () => {
  it('lists a slow mark while it holds, in the table and as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webhooks-slow-lane-'));
    try {
      await writeDevState(
        {
          pid: process.pid,
          intake: 'http://127.0.0.1:9/',
          sqsEndpoint: sqs.endpoint,
          dynamoEndpoint: dynamo.endpoint,
          tableName: 'outcomes',
          healthTableName: 'health',
          busName: 'default',
          source: 'dograh.workflows',
          detailType: 'Workflow Run Completed',
          queues,
        },
        devStatePath(dir),
      );
      const until = Date.parse('2126-01-01T10:20:30Z');
      const health = createDynamoEndpointHealthStore({ client: dynamo.client, tableName: 'health', retentionDays: 30 });
      await health.put(
        makeEndpointHealth(Date.now(), {
          organization_id: 'org-cli',
          endpoint: 'https://slow.example.com',
          slow_until_ms: until,
          version: 0,
        }),
        0,
      );
      const env = { PATH: process.env['PATH'] ?? '', HOME: dir, NO_COLOR: '1', AWS_EC2_METADATA_DISABLED: 'true' };
      const json = await runCliInProcess(['endpoints', '--local', '--org', 'org-cli', '--json'], { cwd: dir, env });
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject([
        { endpoint: 'https://slow.example.com', slow_until: new Date(until).toISOString() },
      ]);
      const table = await runCliInProcess(['endpoints', '--local', '--org', 'org-cli'], { cwd: dir, env });
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toContain('SLOW UNTIL (UTC)');
      expect(table.stdout).toMatch(/https:\/\/slow\.example\.com\s+closed\s+0\s+-\s+-\s+2126-01-01 10:20:30/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
