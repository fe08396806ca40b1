import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import type { CredentialStore } from '../../shared/ports/credential-store.ts';
import type { DeliveryRecord, DeliveryStore } from '../../shared/ports/delivery-store.ts';
import type { Credential } from '../../shared/schemas/credential.ts';
import type { DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

/** Faults injected through the ports, switched per test. */
const faults = {
  /** The next 'delivered' record never completes: the worker died between send and record. */
  crashBeforeRecord: false,
  releaseCrashed: [] as (() => void)[],
  /** Every 'delivered' record fails: DynamoDB refuses the write after the endpoint took the request. */
  failDeliveredRecord: false,
  /** The next move to the dead-letter queue fails: SQS refuses SendMessage after the failure is recorded. */
  failNextDeadLetter: false,
};
const claimed: DeliveryMessage[] = [];
let rotatingToken = 'token-v1';

function faultyStore(inner: DeliveryStore): DeliveryStore {
  return {
    ...inner,
    claim: (message, now, lease) => {
      claimed.push(message);
      return inner.claim(message, now, lease);
    },
    recordAttempt: (message, attempt, next, now) => {
      if (next.status === 'delivered' && faults.crashBeforeRecord) {
        faults.crashBeforeRecord = false;
        return new Promise<void>((resolve) => faults.releaseCrashed.push(resolve));
      }
      if (next.status === 'delivered' && faults.failDeliveredRecord)
        return Promise.reject(new Error('ProvisionedThroughputExceeded (injected)'));
      return inner.recordAttempt(message, attempt, next, now);
    },
  };
}

/** A credential store that caches like the real one, over a secret that rotates when the test says so. */
function rotatingCredentials(inner: CredentialStore): CredentialStore {
  const cache = new Map<string, Credential>();
  return {
    async get(org, uuid) {
      if (uuid !== 'rotating') return inner.get(org, uuid);
      const hit = cache.get(uuid);
      if (hit !== undefined) return hit;
      const fresh: Credential = { type: 'BEARER_TOKEN', token: rotatingToken };
      cache.set(uuid, fresh);
      return fresh;
    },
    invalidate(org, uuid) {
      cache.delete(uuid);
      inner.invalidate(org, uuid);
    },
    signingSecrets: (org, uuid) => inner.signingSecrets(org, uuid),
  };
}

let stack: LocalStack;
let receiver: Receiver;
const lines: string[] = [];
let nextRun = 9000;

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: {
      endpoint_url: `${receiver.origin}${path}`,
      credential_uuid: null,
      retry_config: { max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 1, max_delay_seconds: 5 },
      ...data,
    },
  });
}

async function emit(nodes: NodeJson[]): Promise<string[]> {
  const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: nextRun++, nodes } }));
  return rendered.map((r) => r.delivery_id);
}

/** A final delivery that comes back to life is final before and after: wait for the status wanted. */
async function waitForStatus(id: string, status: string): Promise<DeliveryRecord | undefined> {
  const deadline = Date.now() + 10_000;
  while ((await stack.store.get(id))?.status !== status && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  return stack.store.get(id);
}

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startLocalStack({
    secrets: {},
    requestTimeoutMs: 1000,
    // Short, so a crashed attempt's message comes back within the test.
    visibilityTimeoutSeconds: 2,
    logSink: (line) => lines.push(line),
    adaptDeliverDeps: (deps: DeliverDeps) => ({
      ...deps,
      store: faultyStore(deps.store),
      actions: {
        delay: (handle, seconds) => deps.actions.delay(handle, seconds),
        deadLetter: (body, reason, id) => {
          if (faults.failNextDeadLetter) {
            faults.failNextDeadLetter = false;
            return Promise.reject(new Error('SQS unavailable (injected)'));
          }
          return deps.actions.deadLetter(body, reason, id);
        },
      },
      credentials: rotatingCredentials(deps.credentials),
      leaseMarginMs: 500,
    }),
  });
});

afterAll(async () => {
  for (const release of faults.releaseCrashed) release();
  await stack?.stop();
  await receiver?.close();
});

describe('pipeline under faults', () => {
  it('does not send again when SQS redelivers a message of a delivered delivery', async () => {
    const [id] = await emit([node('redeliver', '/redeliver')]);
    await stack.waitUntilFinal([id!], 10_000);
    const message = claimed.find((m) => m.delivery_id === id);
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queues.delivery.url, MessageBody: JSON.stringify(message) }),
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(claimed.filter((m) => m.delivery_id === id).length).toBeGreaterThanOrEqual(2);
    expect(receiver.to('/redeliver')).toHaveLength(1);
    expect(await stack.store.get(id!)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('loses nothing when the worker dies between send and record: the message comes back and is sent again under the same id', async () => {
    faults.crashBeforeRecord = true;
    const [id] = await emit([node('crash', '/crash')]);
    const [record] = await stack.waitUntilFinal([id!], 20_000);
    // The takeover resends the lost attempt under its own number: a crash costs no attempt.
    expect(record).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(record?.attempt_log.map((a) => a.attempt)).toEqual([1]);
    const requests = receiver.to('/crash');
    expect(requests.map((r) => r.headers['x-dograh-delivery-attempt'])).toEqual(['1', '1']);
    expect(requests.every((r) => r.headers['x-dograh-delivery-id'] === id)).toBe(true);
  });

  it('neither resends nor marks failed a delivery the endpoint took when its record cannot be written', async () => {
    faults.failDeliveredRecord = true;
    try {
      const [id] = await emit([node('unrecorded', '/unrecorded')]);
      await receiver.waitFor('/unrecorded', 1);
      // Longer than the visibility timeout: an unacknowledged message would have come back.
      await new Promise((r) => setTimeout(r, 3500));
      expect(receiver.to('/unrecorded')).toHaveLength(1);
      const record = await stack.store.get(id!);
      expect(record?.status).not.toBe('failed');
      expect(lines.some((l) => l.includes('delivered, but the outcome could not be recorded') && l.includes(id!))).toBe(
        true,
      );
    } finally {
      faults.failDeliveredRecord = false;
    }
  });

  it('follows a rotated secret at once: a refused cached credential is fetched again and the request resent', async () => {
    receiver.on('/rotating', (req) => ({
      status: req.headers['authorization'] === `Bearer ${rotatingToken}` ? 200 : 401,
    }));
    const [first] = await emit([node('rot1', '/rotating', { credential_uuid: 'rotating' })]);
    await stack.waitUntilFinal([first!], 10_000);
    rotatingToken = 'token-v2';
    const [second] = await emit([node('rot2', '/rotating', { credential_uuid: 'rotating' })]);
    const [record] = await stack.waitUntilFinal([second!], 10_000);
    expect(record).toMatchObject({ status: 'delivered', attempts: 1 });
    // Both requests of attempt 1 are on record: the refused one by its status.
    expect(record!.attempt_log).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 200, error_class: 'none', resent_after_status: 401 }),
    ]);
    expect(first && (await stack.store.get(first))?.attempt_log[0]).not.toHaveProperty('resent_after_status');
    expect(receiver.to('/rotating').map((r) => r.headers['authorization'])).toEqual([
      'Bearer token-v1',
      'Bearer token-v1',
      'Bearer token-v2',
    ]);
  });

  it("marks the delivery's log line with the status that refused a cached credential before the resend, and an ordinary attempt's not", async () => {
    receiver.on('/rotating-log', (req) => ({
      status: req.headers['authorization'] === `Bearer ${rotatingToken}` ? 200 : 403,
    }));
    // The cached credential is the current one (whether or not an earlier test rotated it).
    const before = rotatingToken;
    const [ordinary] = await emit([node('rotlog1', '/rotating-log', { credential_uuid: 'rotating' })]);
    await stack.waitUntilFinal([ordinary!], 10_000);
    rotatingToken = `${before}-rotated`;
    const [resent] = await emit([node('rotlog2', '/rotating-log', { credential_uuid: 'rotating' })]);
    await stack.waitUntilFinal([resent!], 10_000);
    expect(receiver.to('/rotating-log').map((r) => r.headers['authorization'])).toEqual([
      `Bearer ${before}`,
      `Bearer ${before}`,
      `Bearer ${rotatingToken}`,
    ]);
    const delivered = (id: string) =>
      lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.function === 'deliver' && l.message === 'delivered' && l.delivery_id === id);
    expect(delivered(resent!)).toEqual([
      expect.objectContaining({ level: 'info', attempt: 1, status_code: 200, resent_after_status: 403 }),
    ]);
    expect(delivered(ordinary!)).toEqual([expect.objectContaining({ level: 'info', attempt: 1, status_code: 200 })]);
    expect(delivered(ordinary!)[0]).not.toHaveProperty('resent_after_status');
  });

  it('starts a new series of attempts when an operator redrives a dead letter', async () => {
    let up = false;
    receiver.on('/redrive', () => ({ status: up ? 200 : 500 }));
    const [id] = await emit([node('redrive', '/redrive', { retry_config: null })]);
    expect((await stack.waitUntilFinal([id!], 10_000))[0]).toMatchObject({ status: 'failed', attempts: 1 });
    // What StartMessageMoveTask does on AWS: the dead letter, attributes and all, back on the delivery queue.
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.queues.deadLetter.url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    const letter = Messages.find((m) => m.MessageAttributes?.['delivery_id']?.StringValue === id);
    expect(letter?.MessageAttributes?.['dead_lettered_at']?.StringValue).toBeDefined();
    up = true;
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.delivery.url,
        MessageBody: letter!.Body!,
        MessageAttributes: letter!.MessageAttributes as Record<string, MessageAttributeValue>,
      }),
    );
    await stack.sqs.send(
      new DeleteMessageCommand({ QueueUrl: stack.queues.deadLetter.url, ReceiptHandle: letter!.ReceiptHandle! }),
    );
    await receiver.waitFor('/redrive', 2);
    const record = await waitForStatus(id!, 'delivered');
    expect(record).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200 });
    expect(record?.attempt_log.map((a) => a.status_code)).toEqual([500, 200]);
  });

  it('sends a node that failed to render once its fixed run is emitted again, under the same id', async () => {
    const runId = nextRun++;
    const broken = node('fixable', '/fixable/{{initial_context.missing}}');
    const first = await stack.emit(makeEventJson({ detail: { workflow_run_id: runId, nodes: [broken] } }));
    expect(first[0]).toMatchObject({ status: 'failed' });
    // The fixed node needs a second attempt: its series must get the fixed node's retry_config.
    receiver.on('/fixable/ok', (_, n) => ({ status: n === 1 ? 503 : 200 }));
    const fixed = node('fixable', '/fixable/ok');
    const second = await stack.emit(makeEventJson({ detail: { workflow_run_id: runId, nodes: [fixed] } }));
    expect(second[0]?.delivery_id).toBe(first[0]?.delivery_id);
    const record = await waitForStatus(first[0]!.delivery_id, 'delivered');
    expect(record).toMatchObject({ status: 'delivered', attempts: 2, max_attempts: 3 });
    expect(receiver.to('/fixable/ok')).toHaveLength(2);
  });

  it('puts a final failure on the dead-letter queue even when the first move fails', async () => {
    receiver.on('/dlq-retry', () => ({ status: 404 }));
    faults.failNextDeadLetter = true;
    const [id] = await emit([node('dlq-retry', '/dlq-retry', { retry_config: null })]);
    // Recorded failed at once; the move is pending until the message comes back (visibility 2 s).
    const deadline = Date.now() + 15_000;
    let record = await stack.store.get(id!);
    while ((record?.status !== 'failed' || record.dead_letter_pending) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      record = await stack.store.get(id!);
    }
    expect(record).toMatchObject({ status: 'failed', attempts: 1, dead_letter_pending: false });
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.queues.deadLetter.url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    expect(Messages.filter((m) => m.MessageAttributes?.['delivery_id']?.StringValue === id)).toHaveLength(1);
    expect(receiver.to('/dlq-retry')).toHaveLength(1);
  });

  it('parks an unreadable queue message on the dead-letter queue with its reason', async () => {
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queues.delivery.url, MessageBody: '{"v":1,"delivery_id":"x"}' }),
    );
    const deadline = Date.now() + 10_000;
    let parked: string | undefined;
    while (parked === undefined && Date.now() < deadline) {
      const { Messages = [] } = await stack.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.queues.deadLetter.url,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      parked = Messages.find((m) => m.Body === '{"v":1,"delivery_id":"x"}')?.MessageAttributes?.['reason']?.StringValue;
    }
    expect(parked).toMatch(/^not a delivery message: organization_id: required/);
  });
});
