import { CreateQueueCommand, PurgeQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, LOCAL_TABLE_NAME, type LocalStack } from '../../cli/local-stack.ts';
import { startLocalReconciler, type LocalReconciler } from '../../cli/local-reconciler.ts';
import { nextStep } from '../../cli/commands/inspect.ts';
import { makeHandler as makeRenderHandler, wireRenderDeps } from '../../functions/render/handler.ts';
import { ENV, parseConfig, RenderConfigSchema } from '../../shared/config/config.ts';
import { emulatorClientConfig } from '../../shared/local/emulator-client-config.ts';
import { createLogger } from '../../shared/observability/logger.ts';
import type { DeliveryStore } from '../../shared/ports/delivery-store.ts';
import type { DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { account, logOf, startFaultReceiver, type FaultReceiver } from '../fixtures/fault-accounting.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';

// The queue side under faults: SQS refusing render's sends, a crash mid-batch, duplicate
// events, one message twice at once, and a purged delivery queue recovered by the reconciler.

let stack: LocalStack;
let receiver: FaultReceiver;
let reconciler: LocalReconciler;
const lines: string[] = [];
let nextRun = 7300;
/** Node ids whose next delivered outcome write never completes: the worker died after the 200. */
const crashOnDelivered = new Set<string>();

const retry = (max_attempts: number, delay = 1) => ({
  max_attempts,
  backoff: 'fixed' as const,
  initial_delay_seconds: delay,
  max_delay_seconds: delay,
});
const node = (id: string, path: string, max = 3, delay = 1): NodeJson =>
  makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: retry(max, delay) },
  });
const final = async (ids: string[]) => stack.waitUntilFinal(ids, 30_000);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function crashing(store: DeliveryStore): DeliveryStore {
  return {
    ...store,
    recordAttempt: (message, attempt, next, now) => {
      // The worker is gone: the outcome is never written. The promise ends later without
      // writing, only so the local poller's loop (two of them) is not held for good.
      if (next.status === 'delivered' && crashOnDelivered.delete(message.node_id)) return sleep(4000);
      return store.recordAttempt(message, attempt, next, now);
    },
  };
}

beforeAll(async () => {
  receiver = await startFaultReceiver();
  stack = await startLocalStack({
    secrets: {},
    requestTimeoutMs: 1000,
    visibilityTimeoutSeconds: 2,
    logSink: (line) => lines.push(line),
    logLevel: 'debug',
    adaptDeliverDeps: (deps: DeliverDeps) => ({ ...deps, store: crashing(deps.store), leaseMarginMs: 500 }),
  });
  reconciler = startLocalReconciler({
    sqs: stack.sqs,
    dynamo: stack.dynamo,
    queueUrl: stack.queues.delivery.url,
    tableName: LOCAL_TABLE_NAME,
    log: createLogger({ sink: (line) => lines.push(line), base: { function: 'reconcile' } }),
    // Runs only when a test asks; no grace, so a record is stuck as soon as its lease or due time passes.
    intervalMs: 3_600_000,
    firstRunMs: null,
    graceMs: 0,
  });
}, 60_000);

afterAll(async () => {
  await reconciler?.stop();
  await stack?.stop();
  await receiver?.close();
});

describe('render when SQS refuses its sends', () => {
  it('throws so the event is retried (Lambda retries it twice); the retry enqueues every delivery once, each sent once', async () => {
    let refuse = true;
    const sqs = new SQSClient(emulatorClientConfig(stack.sqsEndpoint));
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (refuse && context.commandName === 'SendMessageBatchCommand')
          throw Object.assign(new Error('injected: SQS unavailable'), {
            name: 'ServiceUnavailable',
            $fault: 'server',
            $metadata: {},
          });
        return next(args);
      },
      { step: 'deserialize', name: 'refuseSends' },
    );
    const config = parseConfig(RenderConfigSchema, {
      [ENV.deliveryQueueUrl]: stack.queues.delivery.url,
      [ENV.outcomeTableName]: LOCAL_TABLE_NAME,
    });
    const render = makeRenderHandler(
      wireRenderDeps(config, {
        sqs,
        dynamo: stack.dynamo,
        log: createLogger({ sink: (l) => lines.push(l) }),
        metricsSink: () => undefined,
      }),
    );
    const event = makeEventJson({
      detail: { workflow_run_id: nextRun++, nodes: [node('sqs-a', '/sqs-a'), node('sqs-b', '/sqs-b')] },
    });
    await expect(render(event as Parameters<typeof render>[0])).rejects.toThrow();
    refuse = false;
    const rendered = await render(event as Parameters<typeof render>[0]);
    expect(rendered.map((r) => r.status)).toEqual(['enqueued', 'enqueued']);
    const records = await final(rendered.map((r) => r.delivery_id));
    for (const record of records) {
      expect(account(record, receiver, lines)).toEqual({
        status: 'delivered',
        attempts: 1,
        recorded: ['1:none'],
        wire: [1],
        logged: ['1:delivered'],
      });
    }
    sqs.destroy();
  });
});

describe('duplicates', () => {
  it('the same event twice: one delivery per node, each sent once', async () => {
    const event = makeEventJson({
      detail: { workflow_run_id: nextRun++, nodes: [node('dup-a', '/dup-a'), node('dup-b', '/dup-b')] },
    });
    const [first, second] = await Promise.all([stack.emit(event), stack.emit(event)]);
    expect(second!.map((r) => r.delivery_id)).toEqual(first!.map((r) => r.delivery_id));
    const records = await final(first!.map((r) => r.delivery_id));
    await sleep(2500);
    for (const record of records) {
      expect(account(await stack.store.get(record.delivery_id), receiver, lines)).toEqual({
        status: 'delivered',
        attempts: 1,
        recorded: ['1:none'],
        wire: [1],
        logged: ['1:delivered'],
      });
      // The second copy was told apart by the outcome log: busy (lease held) or already final.
      expect(
        logOf(lines, record.delivery_id).some((l) =>
          /delivery busy or not yet due|duplicate message for a final delivery/.test(l.message),
        ),
      ).toBe(true);
    }
  });

  it('the same message twice at once: one attempt on the wire', async () => {
    const message = makeDeliveryMessage(731, { url: `${receiver.origin}/twice`, retry: retry(3) });
    const body = JSON.stringify(message);
    await Promise.all(
      [0, 1].map(() =>
        stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queues.delivery.url, MessageBody: body })),
      ),
    );
    const [record] = await final([message.delivery_id]);
    await sleep(2500);
    expect(account(await stack.store.get(message.delivery_id), receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 1,
      recorded: ['1:none'],
      wire: [1],
      logged: ['1:delivered'],
    });
    expect(record?.attempts).toBe(1);
  });
});

describe('a crash mid-batch', () => {
  it('loses nothing: the batch comes back, the delivered ones are dropped as final, the lost attempt is sent again under its own number', async () => {
    const nodes = ['batch-1', 'batch-2', 'batch-3', 'batch-4', 'batch-5'].map((id) => node(id, `/${id}`));
    crashOnDelivered.add('batch-3');
    const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: nextRun++, nodes } }));
    const records = await final(rendered.map((r) => r.delivery_id));
    for (const record of records) {
      const a = account(record, receiver, lines);
      expect(a.status, record.node_id).toBe('delivered');
      expect(record.attempts, record.node_id).toBe(1);
      // The crashed one was read twice as attempt 1 (a duplicate the receiver dedupes by X-Dograh-Delivery-Id); the rest once.
      expect(a.wire, record.node_id).toEqual(record.node_id === 'batch-3' ? [1, 1] : [1]);
    }
  });
});

describe('a purged delivery queue, recovered by the reconciler', () => {
  it('a retrying delivery whose message was purged is put back from its kept request and delivered as attempt 2', async () => {
    receiver.on('/purged', (n) => ({ kind: 'reply', status: n === 1 ? 503 : 200 }));
    const [r] = await stack.emit(
      makeEventJson({ detail: { workflow_run_id: nextRun++, nodes: [node('purged', '/purged', 3, 3)] } }),
    );
    const id = r!.delivery_id;
    while ((await stack.store.get(id))?.status !== 'retrying') await sleep(50);
    await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.queues.delivery.url }));
    // Past its due time with no message: nothing moves it.
    await sleep(4000);
    expect(await stack.store.get(id)).toMatchObject({ status: 'retrying', attempts: 1 });
    const report = await reconciler.runOnce();
    expect(report.requeued).toContain(id);
    const [record] = await final([id]);
    expect(account(record, receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 2,
      recorded: ['1:http_transient', '2:none'],
      wire: [1, 2],
      logged: ['1:retrying', '2:delivered'],
    });
    expect(record?.reconciled_at).toHaveLength(1);
    expect(logOf(lines, id).some((l) => l.message === 'stuck delivery put back on the queue by the reconciler')).toBe(
      true,
    );
    // Final: the next run finds nothing of it.
    expect((await reconciler.runOnce()).requeued).not.toContain(id);
  });

  it('a first attempt lost with its message (nothing kept to rebuild it) is failed with the reason, listed, and sent again when its run is emitted again', async () => {
    crashOnDelivered.add('stranded');
    const event = makeEventJson({ detail: { workflow_run_id: nextRun++, nodes: [node('stranded', '/stranded', 3)] } });
    const [r] = await stack.emit(event);
    const id = r!.delivery_id;
    while (receiver.attemptsOf(id).length === 0) await sleep(20);
    await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.queues.delivery.url }));
    // Past its lease (request timeout 1 s + margin 0.5 s).
    await sleep(2500);
    const report = await reconciler.runOnce();
    expect(report.failed).toContain(id);
    const failed = await stack.store.get(id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, stranded: true, pending_until: null });
    expect(failed?.last_error).toMatch(/^reconciler: stuck sending at attempt 1 with no queue message/);
    expect(nextStep(failed!, ' --local')).toMatch(/emit its run again/);
    const listed = await stack.queries.listFailures({
      since: new Date(Date.now() - 60_000).toISOString(),
      until: new Date().toISOString(),
    });
    expect(listed.find((l) => l.delivery_id === id)).toMatchObject({ stranded: true });
    // The run emitted again: a copy of its message reopens it.
    await stack.emit(event);
    const deadline = Date.now() + 20_000;
    while ((await stack.store.get(id))?.status !== 'delivered' && Date.now() < deadline) await sleep(50);
    expect(account(await stack.store.get(id), receiver, lines)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      wire: [1, 1],
    });
    expect(
      logOf(lines, id).some((l) => l.message === 'a delivery that was never sent is renderable now: sending it'),
    ).toBe(true);
  });
});

describe('the reconciler behind a backlog', () => {
  it('pauses while the queue it reads has a backlog, read from the queue itself', async () => {
    // A queue of its own, so the stack's poller does not drain it under the test.
    const { QueueUrl } = await stack.sqs.send(new CreateQueueCommand({ QueueName: `backlog-${Date.now()}` }));
    for (let i = 0; i < 3; i++) await stack.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `{"n":${i}}` }));
    const behind = startLocalReconciler({
      sqs: stack.sqs,
      dynamo: stack.dynamo,
      queueUrl: QueueUrl!,
      tableName: LOCAL_TABLE_NAME,
      log: createLogger({ sink: (line) => lines.push(line), base: { function: 'reconcile' } }),
      intervalMs: 3_600_000,
      firstRunMs: null,
      graceMs: 0,
      adapt: (deps) => ({ ...deps, pauseAtBacklog: 3 }),
    });
    try {
      const report = await behind.runOnce();
      expect(report).toMatchObject({ examined: 0, pausedAtBacklog: 3 });
      expect(lines.some((l) => l.includes('reconciler run paused: the delivery queue has a backlog'))).toBe(true);
    } finally {
      await behind.stop();
    }
  });
});

describe('the reconciler on a timer, as webhooks dev runs it', () => {
  it('finds a stuck delivery by itself and says so', async () => {
    receiver.on('/timer', (n) => ({ kind: 'reply', status: n === 1 ? 503 : 200 }));
    const [r] = await stack.emit(
      makeEventJson({ detail: { workflow_run_id: nextRun++, nodes: [node('timer', '/timer', 3, 2)] } }),
    );
    const id = r!.delivery_id;
    while ((await stack.store.get(id))?.status !== 'retrying') await sleep(50);
    await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.queues.delivery.url }));
    const reports: string[][] = [];
    const timed = startLocalReconciler({
      sqs: stack.sqs,
      dynamo: stack.dynamo,
      queueUrl: stack.queues.delivery.url,
      tableName: LOCAL_TABLE_NAME,
      log: createLogger({ sink: () => undefined }),
      intervalMs: 250,
      firstRunMs: null,
      graceMs: 0,
      onReport: (report) => void reports.push([...report.requeued]),
    });
    try {
      const deadline = Date.now() + 20_000;
      while ((await stack.store.get(id))?.status !== 'delivered' && Date.now() < deadline) await sleep(100);
    } finally {
      await timed.stop();
    }
    expect(reports.flat()).toContain(id);
    expect(account(await stack.store.get(id), receiver, lines)).toMatchObject({
      status: 'delivered',
      attempts: 2,
      wire: [1, 2],
    });
  });
});
