import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { devStatePath, writeDevState } from '../../cli/target.ts';
import { makeHandler, wireDeliverDeps } from '../../functions/deliver/handler.ts';
import { STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createDynamoEndpointHealthStore } from '../../shared/adapters/dynamo-endpoint-health-store.ts';
import { createFileCredentialStore } from '../../shared/adapters/file-credential-store.ts';
import { createSqsDeliveryQueue } from '../../shared/adapters/sqs-delivery-queue.ts';
import { DeliverConfigSchema, ENV, parseConfig } from '../../shared/config/config.ts';
import { createOutcomeTable, startDynalite, type LocalDynamo } from '../../shared/local/dynalite.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import { createEndpointHealthTable } from '../../shared/local/endpoint-health-table.ts';
import {
  createDeliveryQueues,
  startSqsEmulator,
  type DeliveryQueues,
  type LocalSqs,
} from '../../shared/local/fauxqs.ts';
import { LOCAL_ADDRESS_POLICY } from '../../shared/net/address-policy.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { errorLine, runCli, type Run } from '../fixtures/cli.ts';
import { quiet } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startFakeCloudFormation } from '../fixtures/fake-cloudformation.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// Tenant isolation (issue 8) on the emulators with loopback receivers: early settling of a
// batch, per-node timeouts, endpoint circuits, gone endpoints and `webhooks endpoints`.

async function queueCounts(
  client: SQSClient,
  url: string,
): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(a.ApproximateNumberOfMessages),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed),
  };
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a batch with one hanging endpoint and nine fast ones', () => {
  let sqs: LocalSqs;
  let dynamo: LocalDynamo;
  let queues: DeliveryQueues;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    receiver.on('/hang', () => ({ status: 200, delayMs: 120_000 }));
    sqs = await startSqsEmulator();
    dynamo = await startDynalite();
    await createOutcomeTable(dynamo.client, 'outcomes');
    await createEndpointHealthTable(dynamo.client, 'health');
    queues = await createDeliveryQueues(sqs.client, { visibilityTimeoutSeconds: 300, maxReceiveCount: 100 });
  });

  afterAll(async () => {
    await receiver?.close();
    await sqs?.stop();
    await dynamo?.stop();
  });

  it('deletes the nine as they settle while the one still hangs, and the hanging one times out at its node timeout', async () => {
    const config = parseConfig(DeliverConfigSchema, {
      [ENV.deliveryQueueUrl]: queues.delivery.url,
      [ENV.deadLetterQueueUrl]: queues.deadLetter.url,
      [ENV.outcomeTableName]: 'outcomes',
      [ENV.endpointHealthTableName]: 'health',
      // The stack's timeout is 30 s; the hanging node asks for 6.
      [ENV.requestTimeoutMs]: '30000',
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
    const once = { max_attempts: 1, backoff: 'fixed' as const, initial_delay_seconds: 1, max_delay_seconds: 1 };
    const messages = Array.from({ length: 10 }, (_, i) =>
      makeDeliveryMessage(
        i,
        i === 0
          ? { url: `${receiver.origin}/hang`, retry: once, timeout_seconds: 6 }
          : { url: `${receiver.origin}/fast`, retry: once },
      ),
    );
    await createSqsDeliveryQueue({ client: sqs.client, queueUrl: queues.delivery.url }).enqueue(messages);
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: queues.delivery.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages).toHaveLength(10);
    const event: SQSEvent = {
      Records: Messages.map((m) => ({
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
        eventSourceARN: queues.delivery.arn,
        awsRegion: 'us-east-1',
      })),
    };
    const startedAt = Date.now();
    let finished = false;
    const response = handler(event).finally(() => {
      finished = true;
    });

    await receiver.waitFor('/fast', 9);
    await receiver.waitFor('/hang', 1);
    // The nine leave the queue; the hanging one is the only message still in flight.
    await until(
      async () => (await queueCounts(sqs.client, queues.delivery.url)).inFlight === 1,
      'the nine fast messages to be deleted',
      5_000,
    );
    expect(finished).toBe(false);
    expect(await queueCounts(sqs.client, queues.delivery.url)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });

    expect(await response).toEqual({ batchItemFailures: [] });
    const store = createDynamoDeliveryStore({ client: dynamo.client, tableName: 'outcomes', retentionDays: 30 });
    const hung = await store.get(messages[0]!.delivery_id);
    expect(hung).toMatchObject({ status: 'failed', attempt_log: [{ error_class: 'timeout' }] });
    // Cut at the node's 6 s, not the stack's 30 s.
    expect(hung!.attempt_log[0]!.duration_ms).toBeGreaterThanOrEqual(5_500);
    expect(Date.now() - startedAt).toBeLessThan(29_000);
    for (const m of messages.slice(1)) expect((await store.get(m.delivery_id))?.status).toBe('delivered');
  });
});

describe('endpoint circuits on the local pipeline', () => {
  let stack: LocalStack;
  let receiver: Receiver;
  let dir: string;
  let nextRun = 9000;
  const lines: string[] = [];

  function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
    return makeNodeJson({
      id,
      data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
    });
  }
  async function emit(org: string, nodes: NodeJson[]): Promise<string[]> {
    const rendered = await stack.emit(
      makeEventJson({ detail: { organization_id: org, workflow_run_id: nextRun++, nodes } }),
    );
    return rendered.map((r) => r.delivery_id);
  }
  async function deliver(org: string, nodes: NodeJson[]): Promise<DeliveryRecord[]> {
    return stack.waitUntilFinal(await emit(org, nodes), 20_000);
  }
  function webhooks(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
    const base = {
      PATH: process.env['PATH'] ?? '',
      HOME: dir,
      NO_COLOR: '1',
      AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    return runCli(args, { cwd: dir, env: { ...base, ...env }, timeoutMs: 30_000 });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'webhooks-isolation-'));
    receiver = await startReceiver();
    receiver.on('/down', () => ({ status: 503 }));
    receiver.on('/gone', () => ({ status: 410 }));
    // A short health cache: the CLI runs in-process, and resets faster than the default 5 s cache expires.
    stack = await startLocalStack({
      secrets: {},
      requestTimeoutMs: 2000,
      logSink: (line) => void lines.push(line),
      circuit: { cooldownMinSeconds: 600, cacheTtlMs: 200 },
    });
    await writeDevState(
      {
        pid: process.pid,
        intake: 'http://127.0.0.1:9/',
        sqsEndpoint: stack.sqsEndpoint,
        dynamoEndpoint: stack.dynamoEndpoint,
        tableName: LOCAL_TABLE_NAME,
        healthTableName: stack.healthTableName,
        busName: 'default',
        source: 'dograh.workflows',
        detailType: 'Workflow Run Completed',
        queues: stack.queues,
      },
      devStatePath(dir),
    );
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('opens after five transient failures in a row and then moves deliveries to the slow lane, delayed, without an attempt or a request', async () => {
    for (let i = 0; i < 5; i++) expect((await deliver('org-down', [node('n', '/down')]))[0]?.status).toBe('failed');
    expect(receiver.to('/down')).toHaveLength(5);
    const health = createDynamoEndpointHealthStore({
      client: stack.dynamo,
      tableName: stack.healthTableName,
      retentionDays: 30,
    });
    expect(await health.get('org-down', receiver.origin)).toMatchObject({
      state: 'open',
      consecutive_failures: 5,
      opens: 1,
    });
    expect(lines.some((l) => l.includes('endpoint circuit opened'))).toBe(true);
    expect(lines.some((l) => l.includes('"CircuitTransitions"') && l.includes('"open"'))).toBe(true);

    const [deferred] = await emit('org-down', [node('n', '/down')]);
    await until(() => lines.some((l) => l.includes('"DivertedDeliveries"')), 'a diverted delivery');
    // Diverted: no request, no claim, no attempt; the message waits on the slow lane for the
    // cool-down (delayed), and nothing of it is left on the main queue.
    expect(receiver.to('/down')).toHaveLength(5);
    expect(await stack.store.get(deferred!)).toBeUndefined();
    await until(
      async () => (await queueCounts(stack.sqs, stack.queues.delivery.url)).inFlight === 0,
      'the main queue to let go of the diverted message',
    );
    expect(await queueCounts(stack.sqs, stack.queues.delivery.url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await queueCounts(stack.sqs, stack.queues.slow.url)).toMatchObject({ visible: 0, delayed: 1 });

    // Another organization's deliveries to the same endpoint are its own: they go.
    expect((await deliver('org-other', [node('n', '/down')]))[0]?.attempts).toBe(1);
    expect(receiver.to('/down')).toHaveLength(6);
  });

  it('a 410 marks the endpoint gone: the next delivery fails at once, a changed node goes, and an operator resets it', async () => {
    const [first] = await deliver('org-gone', [node('g', '/gone')]);
    expect(first).toMatchObject({ status: 'failed', last_status_code: 410 });
    const [second] = await deliver('org-gone', [node('g', '/gone')]);
    expect(second).toMatchObject({
      status: 'failed',
      attempt_log: [{ error_class: 'endpoint_gone', status_code: null }],
    });
    expect(second!.last_error).toContain(`webhooks endpoints reset 127.0.0.1`);
    expect(receiver.to('/gone')).toHaveLength(1);

    // Listed and shown, on the local stack and through the stack outputs.
    const listed = JSON.parse(
      (await webhooks(['endpoints', '--local', '--org', 'org-gone', '--json'])).stdout,
    ) as Array<{ state: string; endpoint: string }>;
    expect(listed).toEqual([expect.objectContaining({ state: 'gone', endpoint: receiver.origin })]);
    const table = await webhooks(['endpoints', '--local']);
    expect(table.stdout).toMatch(/org-gone\s+http:\/\/127\.0\.0\.1:\d+\s+gone/);
    expect(table.stdout).toMatch(/org-down\s+http:\/\/127\.0\.0\.1:\d+\s+open\s+5/);
    const inspected = await webhooks(['inspect', second!.delivery_id, '--local']);
    expect(inspected.stdout).toMatch(/circuit\s+gone \(410/);
    const failures = JSON.parse(
      (await webhooks(['failures', '--local', '--org', 'org-gone', '--json'])).stdout,
    ) as Array<{ circuit: string }>;
    expect(failures.map((f) => f.circuit)).toEqual(['gone', 'gone']);

    const aws = await awsPath(stack);
    try {
      const viaStack = JSON.parse(
        (await webhooks(['endpoints', '--stack', aws.stackName, '--json'], aws.env)).stdout,
      ) as Array<{ organization_id: string }>;
      expect(viaStack.map((e) => e.organization_id).sort()).toEqual(['org-down', 'org-gone', 'org-other']);
      expect(
        errorLine(await webhooks(['endpoints', 'reset', 'nowhere.example.com', '--stack', aws.stackName], aws.env)),
      ).toMatch(/^error: no tracked endpoint matches nowhere\.example\.com/);
      const reset = await webhooks(
        ['endpoints', 'reset', '127.0.0.1', '--org', 'org-gone', '--stack', aws.stackName, '--json'],
        aws.env,
      );
      expect(JSON.parse(reset.stdout)).toEqual({
        reset: [expect.objectContaining({ organization_id: 'org-gone', state: 'gone' })],
      });
    } finally {
      await aws.close();
    }
    // Cleared: the next delivery is sent again (and marks it gone again).
    await deliver('org-gone', [node('g', '/gone')]);
    expect(receiver.to('/gone')).toHaveLength(2);

    // A changed node (another path) is not held to the old node's 410.
    const [changed] = await deliver('org-gone', [node('g', '/gone-moved')]);
    expect(changed).toMatchObject({ status: 'delivered' });
  });

  it('renders a node timeout_seconds into its message: the request is cut there, not at the stack timeout', async () => {
    receiver.on('/slow', () => ({ status: 200, delayMs: 1_500 }));
    const [slow] = await deliver('org-timeout', [node('t', '/slow', { timeout_seconds: 1 })]);
    expect(slow).toMatchObject({ status: 'failed', attempt_log: [{ error_class: 'timeout' }] });
    const [patient] = await deliver('org-timeout', [node('u', '/slow')]);
    expect(patient).toMatchObject({ status: 'delivered' });
  });

  it('reset with --local closes an open circuit', async () => {
    const result = await webhooks(['endpoints', 'reset', '127.0.0.1', '--org', 'org-down', '--local']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^reset org-down http:\/\/127\.0\.0\.1:\d+ \(was open\)/);
    const listed = JSON.parse(
      (await webhooks(['endpoints', '--local', '--org', 'org-down', '--json'])).stdout,
    ) as unknown[];
    expect(listed).toEqual([]);
  });
});

/** A loopback CloudFormation that serves the local stack's names as a deployed stack's outputs, and the env to reach it. */
async function awsPath(
  stack: LocalStack,
): Promise<{ stackName: string; env: Record<string, string>; close(): Promise<void> }> {
  const stackName = 'DograhWebhooks-isolation';
  const outputs: Record<string, string> = {
    [STACK_OUTPUTS.outcomeTableName]: LOCAL_TABLE_NAME,
    [STACK_OUTPUTS.endpointHealthTableName]: stack.healthTableName,
    [STACK_OUTPUTS.deliveryQueueUrl]: stack.queues.delivery.url,
    [STACK_OUTPUTS.deliveryQueueArn]: stack.queues.delivery.arn,
    [STACK_OUTPUTS.deadLetterQueueUrl]: stack.queues.deadLetter.url,
    [STACK_OUTPUTS.deadLetterQueueArn]: stack.queues.deadLetter.arn,
    [STACK_OUTPUTS.eventBusName]: 'default',
    [STACK_OUTPUTS.eventSource]: 'dograh.workflows',
    [STACK_OUTPUTS.eventDetailType]: 'Workflow Run Completed',
  };
  const cloudFormation = await startFakeCloudFormation(new Map([[stackName, outputs]]));
  const origin = cloudFormation.origin;
  return {
    stackName,
    env: {
      AWS_ENDPOINT_URL_CLOUDFORMATION: origin,
      AWS_ENDPOINT_URL_SQS: stack.sqsEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoEndpoint,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
    close: () => cloudFormation.close(),
  };
}
