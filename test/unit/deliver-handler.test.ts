import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { makeHandler } from '../../functions/deliver/handler.ts';
import type { HttpSender } from '../../shared/ports/http-sender.ts';
import { fakeDeliverDeps } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {},
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: 'us-east-1',
  } as unknown as SQSRecord;
}
const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

describe('the deliver handler', () => {
  it('sends the messages of a batch concurrently', async () => {
    let inFlight = 0;
    let most = 0;
    const sender: HttpSender = {
      send: async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return { status: 200, headers: {}, bodySnippet: '', durationMs: 20 };
      },
    };
    const { d } = fakeDeliverDeps({ sender });
    const records = [0, 1, 2, 3].map((i) => record(`m${i}`, JSON.stringify(makeDeliveryMessage(i))));
    await makeHandler(d)(event(...records));
    expect(most).toBe(4);
  });

  it('reports only the messages to come back as batch item failures, and flushes metrics', async () => {
    const { d, flushes } = fakeDeliverDeps({ status: 503 });
    const retrying = JSON.stringify(
      makeDeliveryMessage(0, {
        retry: { max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 5, max_delay_seconds: 5 },
      }),
    );
    const oneShot = JSON.stringify(
      makeDeliveryMessage(1, {
        retry: { max_attempts: 1, backoff: 'fixed', initial_delay_seconds: 5, max_delay_seconds: 5 },
      }),
    );
    const response = await makeHandler(d)(event(record('retry-me', retrying), record('final', oneShot)));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'retry-me' }] });
    expect(flushes).toHaveLength(1);
  });

  it('returns a message whose handling threw, so SQS brings it back', async () => {
    const { d } = fakeDeliverDeps();
    const broken = {
      ...d,
      store: { ...d.store, claim: async () => Promise.reject(new Error('DynamoDB unavailable')) },
    };
    const response = await makeHandler(broken)(
      event(record('a', JSON.stringify(makeDeliveryMessage(0))), record('b', JSON.stringify(makeDeliveryMessage(1)))),
    );
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['a', 'b']);
  });

  it('deletes the messages done while another still runs, and only those', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const sender: HttpSender = {
      send: async (request) => {
        if (request.url.endsWith('/slow')) await held;
        return { status: 200, headers: {}, bodySnippet: '', durationMs: 1 };
      },
    };
    const deleted: string[][] = [];
    const { d } = fakeDeliverDeps({ sender });
    const deps = {
      ...d,
      settleAfterMs: 10,
      settler: { delete: async (handles: readonly string[]) => (deleted.push([...handles]), []) },
    };
    const records = [0, 1, 2].map((i) =>
      record(`m${i}`, JSON.stringify(makeDeliveryMessage(i, i === 0 ? { url: 'https://crm.example.com/slow' } : {}))),
    );
    const response = makeHandler(deps)(event(...records));
    await vi.waitFor(() => expect(deleted).toEqual([['rh-m1', 'rh-m2']]));
    release();
    expect(await response).toEqual({ batchItemFailures: [] });
    // The slow one is left to the event source's delete at the end of the batch.
    expect(deleted).toEqual([['rh-m1', 'rh-m2']]);
  });

  it('costs no extra request when the whole batch ends at once', async () => {
    const deleted: string[][] = [];
    const { d } = fakeDeliverDeps();
    const deps = {
      ...d,
      settleAfterMs: 1000,
      settler: { delete: async (handles: readonly string[]) => (deleted.push([...handles]), []) },
    };
    await makeHandler(deps)(event(...[0, 1, 2].map((i) => record(`m${i}`, JSON.stringify(makeDeliveryMessage(i))))));
    expect(deleted).toEqual([]);
  });
});
