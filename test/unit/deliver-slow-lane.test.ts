import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { laneOf, makeHandler, queueNameOf } from '../../functions/deliver/handler.ts';
import { DEAD_LETTERED_AT_ATTRIBUTE } from '../../shared/adapters/sqs-message-actions.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import type { EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import type { HttpSender } from '../../shared/ports/http-sender.ts';
import type { DeliverDeps, SlowLaneDeps } from '../../shared/use-cases/deliver-message.ts';
import { createEndpointHealthGuard } from '../../shared/use-cases/endpoint-health.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { memoryHealthStore } from '../fixtures/memory-health-store.ts';
import { makeEndpointHealth } from '../fixtures/endpoint-health.ts';

// The deliver side's two lanes on fakes: what is diverted from the main lane, what is not,
// and that a message received from the slow lane is acted on in the slow lane's queue.
const MAIN_ARN = 'arn:aws:sqs:us-east-1:000000000000:deliveries';
const SLOW_ARN = 'arn:aws:sqs:us-east-1:000000000000:deliveries-slow';

function record(id: string, message: DeliveryMessage, arn: string, deadLetteredAt?: string): SQSRecord {
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: JSON.stringify(message),
    attributes: {},
    messageAttributes:
      deadLetteredAt === undefined
        ? {}
        : { [DEAD_LETTERED_AT_ATTRIBUTE]: { stringValue: deadLetteredAt, dataType: 'String' } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: 'us-east-1',
  } as unknown as SQSRecord;
}
const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

function health(overrides: Partial<EndpointHealth>): EndpointHealth {
  return makeEndpointHealth(NOW, overrides);
}
const openCircuit = health({ state: 'open', consecutive_failures: 5, opens: 1, open_until_ms: NOW + 30_000 });

interface Options {
  readonly stored?: EndpointHealth;
  readonly lanes?: boolean;
  readonly forwardFails?: boolean;
  readonly sender?: HttpSender;
}

/** Deliver deps on fakes with a real health guard on an in-memory store, and a recording slow lane. */
function setup(options: Options = {}) {
  const sent: string[] = [];
  const sender: HttpSender = options.sender ?? {
    send: async (request) => (sent.push(request.url), { status: 200, headers: {}, bodySnippet: '', durationMs: 1 }),
  };
  const { d, delays } = fakeDeliverDeps({ sender });
  const memory = memoryHealthStore();
  if (options.stored !== undefined) memory.items.set('org-1|https://crm.example.com', options.stored);
  const claims: string[] = [];
  const forwards: Array<{ body: string; deliveryId: string; seconds: number; deadLetteredAt?: string }> = [];
  const slowDelays: number[] = [];
  const counted: string[] = [];
  const metrics = { count: (name: string) => void counted.push(name), duration() {}, flush() {} };
  const slowLane: SlowLaneDeps = {
    queueName: 'deliveries-slow',
    queue: {
      async forward(received, message, seconds) {
        if (options.forwardFails) throw new Error('SQS unavailable');
        forwards.push({
          body: received.body,
          deliveryId: message.delivery_id,
          seconds,
          ...(received.deadLetteredAt === undefined ? {} : { deadLetteredAt: received.deadLetteredAt }),
        });
      },
    },
    actions: { delay: async (_, seconds) => void slowDelays.push(seconds), deadLetter: async () => undefined },
  };
  const deps: DeliverDeps = {
    ...d,
    metrics,
    store: { ...d.store, claim: async (m, ...rest) => (claims.push(m.delivery_id), d.store.claim(m, ...rest)) },
    health: createEndpointHealthGuard({ store: memory.store, clock: d.clock, metrics, random: () => 0 }),
    ...(options.lanes === false ? {} : { slowLane }),
  };
  return { deps, sent, delays, slowDelays, forwards, claims, counted };
}

describe('the main lane with a slow lane', () => {
  it('moves a delivery to an open circuit to the slow lane, hidden for the cool-down: no claim, no attempt, the original deleted', async () => {
    const { deps, sent, delays, forwards, claims, counted } = setup({ stored: openCircuit });
    const message = makeDeliveryMessage(1);
    const response = await makeHandler(deps)(event(record('m1', message, MAIN_ARN)));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(forwards).toEqual([{ body: JSON.stringify(message), deliveryId: message.delivery_id, seconds: 30 }]);
    expect({ sent, delays, claims }).toEqual({ sent: [], delays: [], claims: [] });
    expect(counted).toContain('DivertedDeliveries');
  });

  it('moves a delivery to an endpoint marked slow at once, and sends to a healthy one', async () => {
    const { deps, sent, forwards } = setup({ stored: health({ slow_until_ms: NOW + 60_000 }) });
    const other = makeDeliveryMessage(2, { url: 'https://other.example.com/hook' });
    const response = await makeHandler(deps)(
      event(record('m1', makeDeliveryMessage(1), MAIN_ARN), record('m2', other, MAIN_ARN)),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(forwards.map((f) => [f.deliveryId, f.seconds])).toEqual([[makeDeliveryMessage(1).delivery_id, 0]]);
    expect(sent).toEqual(['https://other.example.com/hook']);
  });

  it('sends a redriven dead letter at once, open circuit or not', async () => {
    const { deps, sent, forwards } = setup({ stored: openCircuit });
    const response = await makeHandler(deps)(
      event(record('m1', makeDeliveryMessage(1), MAIN_ARN, '2026-11-27T09:00:00.000Z')),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(forwards).toEqual([]);
    expect(sent).toEqual(['https://crm.example.com/hooks/7']);
  });

  it('keeps the delivery, hidden for the cool-down, when the slow lane does not take it', async () => {
    const { deps, delays, sent, claims, counted } = setup({ stored: openCircuit, forwardFails: true });
    const response = await makeHandler(deps)(event(record('m1', makeDeliveryMessage(1), MAIN_ARN)));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(delays).toEqual([30]);
    expect({ sent, claims }).toEqual({ sent: [], claims: [] });
    expect(counted).toContain('DeferredDeliveries');
    expect(counted).not.toContain('DivertedDeliveries');
  });

  it('sends a delivery to an endpoint marked slow when the slow lane does not take it', async () => {
    const { deps, sent } = setup({ stored: health({ slow_until_ms: NOW + 60_000 }), forwardFails: true });
    expect(await makeHandler(deps)(event(record('m1', makeDeliveryMessage(1), MAIN_ARN)))).toEqual({
      batchItemFailures: [],
    });
    expect(sent).toEqual(['https://crm.example.com/hooks/7']);
  });
});

describe('the slow lane', () => {
  it('defers a delivery to an open circuit by its visibility on the slow lane queue, never forwarding it again', async () => {
    const { deps, delays, slowDelays, forwards, claims } = setup({ stored: openCircuit });
    const response = await makeHandler(deps)(event(record('s1', makeDeliveryMessage(1), SLOW_ARN)));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 's1' }] });
    expect({ slowDelays, delays, forwards, claims }).toEqual({
      slowDelays: [30],
      delays: [],
      forwards: [],
      claims: [],
    });
  });

  it('sends a delivery to an endpoint marked slow, and a retry of it is hidden on the slow lane queue', async () => {
    const failing: HttpSender = {
      send: async () => ({ status: 503, headers: {}, bodySnippet: '', durationMs: 1 }),
    };
    const { deps, delays, slowDelays, forwards } = setup({
      stored: health({ slow_until_ms: NOW + 60_000 }),
      sender: failing,
    });
    const response = await makeHandler(deps)(event(record('s1', makeDeliveryMessage(1), SLOW_ARN)));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 's1' }] });
    expect(forwards).toEqual([]);
    expect(delays).toEqual([]);
    expect(slowDelays).toHaveLength(1);
  });

  it("deletes its settled messages early through the slow lane's settler", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const sender: HttpSender = {
      send: async (request) => {
        if (request.url.endsWith('/slow')) await held;
        return { status: 200, headers: {}, bodySnippet: '', durationMs: 1 };
      },
    };
    const { deps } = setup({ sender });
    const mainDeleted: string[][] = [];
    const slowDeleted: string[][] = [];
    const withSettlers: DeliverDeps = {
      ...deps,
      settleAfterMs: 10,
      settler: { delete: async (handles) => (mainDeleted.push([...handles]), []) },
      slowLane: { ...deps.slowLane!, settler: { delete: async (handles) => (slowDeleted.push([...handles]), []) } },
    };
    const response = makeHandler(withSettlers)(
      event(
        record('s0', makeDeliveryMessage(0, { url: 'https://other.example.com/slow' }), SLOW_ARN),
        record('s1', makeDeliveryMessage(1), SLOW_ARN),
      ),
    );
    await vi.waitFor(() => expect(slowDeleted).toEqual([['rh-s1']]));
    release();
    expect(await response).toEqual({ batchItemFailures: [] });
    expect(mainDeleted).toEqual([]);
  });
});

describe('without a slow lane', () => {
  it('defers a delivery to an open circuit on the main lane, as before', async () => {
    const { deps, delays, forwards } = setup({ stored: openCircuit, lanes: false });
    const response = await makeHandler(deps)(event(record('m1', makeDeliveryMessage(1), MAIN_ARN)));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect({ delays, forwards }).toEqual({ delays: [30], forwards: [] });
  });

  it('sends to an endpoint marked slow', async () => {
    const { deps, sent } = setup({ stored: health({ slow_until_ms: NOW + 60_000 }), lanes: false });
    await makeHandler(deps)(event(record('m1', makeDeliveryMessage(1), MAIN_ARN)));
    expect(sent).toEqual(['https://crm.example.com/hooks/7']);
  });
});

describe('laneOf', () => {
  const slow = {
    queueName: queueNameOf('https://sqs.eu-west-1.amazonaws.com/123456789012/Stack-SlowDeliveryQueue-AbC'),
  };
  it.each([
    ['arn:aws:sqs:eu-west-1:123456789012:Stack-SlowDeliveryQueue-AbC', slow, 'slow'],
    ['arn:aws:sqs:eu-west-1:123456789012:Stack-DeliveryQueue-XyZ', slow, 'main'],
    // A queue whose name only ends like the slow lane's is another queue.
    ['arn:aws:sqs:eu-west-1:123456789012:Other-Stack-SlowDeliveryQueue-AbC', slow, 'main'],
    [undefined, slow, 'main'],
    ['arn:aws:sqs:eu-west-1:123456789012:Stack-SlowDeliveryQueue-AbC', undefined, 'main'],
  ] as const)('%s is the %s lane', (arn, lane, expected) => {
    expect(laneOf(arn, lane)).toBe(expected);
  });

  it('reads the queue name of an emulator URL too', () => {
    expect(queueNameOf('http://127.0.0.1:4566/000000000000/dograh-webhooks-delivery-slow')).toBe(
      'dograh-webhooks-delivery-slow',
    );
  });
});
