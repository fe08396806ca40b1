import { describe, expect, it } from 'vitest';
import { DeliveryStateError } from '../../shared/errors.ts';
import type { Claim, DeliveryRecord, DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { deliverMessage, type DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

const deps = fakeDeliverDeps;

const body = (
  retry = { max_attempts: 5, backoff: 'fixed' as const, initial_delay_seconds: 43_200, max_delay_seconds: 43_200 },
) => JSON.stringify(makeDeliveryMessage(0, { retry }));

describe('deliverMessage', () => {
  it('hides a message no longer than SQS allows from this receive, leaving the rest of a long wait to the next receive', async () => {
    const { d, delays } = deps({ claim: { kind: 'wait', seconds: 43_200 } });
    const received = { body: body(), receiptHandle: 'r', receivedAtMs: NOW - 100_000 };
    expect(await deliverMessage(received, d)).toBe('keep');
    // 12 h, less the 15 min margin, less the 100 s already spent since the receive.
    expect(delays).toEqual([43_200 - 900 - 100]);
  });

  it('caps a 12-hour backoff the same way', async () => {
    const { d, delays } = deps({ status: 503 });
    expect(await deliverMessage({ body: body(), receiptHandle: 'r', receivedAtMs: NOW - 2_000 }, d)).toBe('keep');
    expect(delays).toEqual([43_200 - 900 - 2]);
  });

  it('keeps a short backoff as it is', async () => {
    const { d, delays } = deps({ status: 503 });
    const short = body({ max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 60 });
    await deliverMessage({ body: short, receiptHandle: 'r', receivedAtMs: NOW }, d);
    expect(delays).toEqual([30]);
  });

  it('drops a copy that has no attempts left while another copy carries the series', async () => {
    const { d, delays, deadLetters } = deps({ claim: { kind: 'exhausted', attempts: 3 } });
    expect(await deliverMessage({ body: body(), receiptHandle: 'r', receivedAtMs: NOW }, d)).toBe('delete');
    expect(delays).toEqual([]);
    expect(deadLetters).toEqual([]);
  });

  it('keeps the response snippet of a refused attempt, not of a success, and redacts only what it keeps', async () => {
    const snippets: (string | null)[] = [];
    const redacted: string[] = [];
    for (const status of [200, 503]) {
      const { d } = deps({
        sender: { send: async () => ({ status, headers: {}, bodySnippet: `body of ${status}`, durationMs: 3 }) },
      });
      const store = {
        ...d.store,
        recordAttempt: async (_m: unknown, attempt: { response_snippet: string | null }) =>
          void snippets.push(attempt.response_snippet),
      } as unknown as DeliveryStore;
      await deliverMessage(
        { body: body(), receiptHandle: 'r', receivedAtMs: NOW },
        { ...d, store, snippet: (b) => (redacted.push(b), b) },
      );
    }
    expect(snippets).toEqual([null, 'body of 503']);
    expect(redacted).toEqual(['body of 503']);
  });

  it('dead-letters an unreadable message and lets it go', async () => {
    const { d, deadLetters } = deps();
    expect(await deliverMessage({ body: 'not json', receiptHandle: 'r', receivedAtMs: NOW }, d)).toBe('delete');
    expect(deadLetters).toEqual(['not json']);
  });

  it('keeps an unreadable message on the queue when the dead-letter queue refuses it', async () => {
    const { d } = deps({ actions: { deadLetter: async () => Promise.reject(new Error('SQS down')) } });
    expect(await deliverMessage({ body: '{"v":2}', receiptHandle: 'r', receivedAtMs: NOW }, d)).toBe('keep');
  });

  it('leaves a credential rotated too late in the attempt to a retry, not a permanent failure', async () => {
    const { d, delays, deadLetters } = deps();
    let now = NOW;
    let token = 'old';
    const sent: string[] = [];
    const late: DeliverDeps = {
      ...d,
      clock: { now: () => now },
      credentials: {
        get: async () => ({ type: 'BEARER_TOKEN', token }),
        invalidate: () => void (token = 'new'),
        signingSecrets: async () => null,
      },
      sender: {
        send: async (request) => {
          sent.push(request.headers['Authorization'] ?? '');
          now += 29_800; // the endpoint took almost the whole timeout to refuse
          return { status: 401, headers: {}, bodySnippet: '', durationMs: 29_800 };
        },
      },
    };
    const retrying = body({ max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 60 });
    const withCredential = JSON.stringify({ ...JSON.parse(retrying), credential_uuid: 'cred' });
    expect(await deliverMessage({ body: withCredential, receiptHandle: 'r', receivedAtMs: NOW }, late)).toBe('keep');
    expect(sent).toEqual(['Bearer old']);
    expect(delays).toEqual([30]);
    expect(deadLetters).toEqual([]);
  });

  it('reopens a redriven failure whose dead-letter mark was lost, instead of dead-lettering it again', async () => {
    const finalAt = '2026-11-27T09:00:00.000Z';
    const calls: string[] = [];
    const { d, deadLetters } = deps();
    let claims = 0;
    const store = {
      ...d.store,
      claim: async () =>
        (claims++ === 0 ? { kind: 'final', status: 'failed' } : { kind: 'claimed', attempt: 1 }) as Claim,
      get: async () =>
        ({ status: 'failed', attempts: 1, final_at: finalAt, dead_letter_pending: true }) as DeliveryRecord,
      markDeadLettered: async (_: string, seen: { final_at: string | null }) =>
        void calls.push(`mark ${seen.final_at}`),
      reopen: async (_: string, __: number, seen?: { final_at: string | null }) => {
        calls.push(`reopen ${seen?.final_at}`);
        return {} as DeliveryRecord;
      },
    } as unknown as DeliveryStore;
    const received = {
      body: body(),
      receiptHandle: 'r',
      receivedAtMs: NOW,
      deadLetteredAt: '2026-11-27T09:00:01.000Z',
    };
    expect(await deliverMessage(received, { ...d, store })).toBe('delete');
    expect(calls).toEqual([`mark ${finalAt}`, `reopen ${finalAt}`]);
    expect(deadLetters).toEqual([]);
  });
});

describe('recording an outcome', () => {
  /** A store whose recordAttempt fails the first `failures` times for `status`, then writes. */
  function flakyRecords(d: DeliverDeps, status: string, failures: number) {
    const writes: string[] = [];
    let left = failures;
    const store = {
      ...d.store,
      recordAttempt: async (_m: unknown, _a: unknown, next: { status: string }) => {
        if (next.status === status && left > 0) {
          left -= 1;
          writes.push(`${next.status}: refused`);
          throw new Error('ProvisionedThroughputExceededException (injected)');
        }
        writes.push(next.status);
      },
    } as unknown as DeliveryStore;
    return { deps: { ...d, store, recordRetries: 3 }, writes };
  }

  it('retries a failed outcome write, so a permanent failure is recorded and dead-lettered, not sent again', async () => {
    const { d, deadLetters } = deps({ status: 410 });
    const { deps: flaky, writes } = flakyRecords(d, 'failed', 1);
    expect(await deliverMessage({ body: body(), receiptHandle: 'r', receivedAtMs: NOW }, flaky)).toBe('delete');
    expect(writes).toEqual(['failed: refused', 'failed']);
    expect(deadLetters).toHaveLength(1);
  });

  it('retries a retrying outcome write before hiding the message', async () => {
    const { d, delays } = deps({ status: 503 });
    const { deps: flaky, writes } = flakyRecords(d, 'retrying', 2);
    const short = body({ max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 30, max_delay_seconds: 60 });
    expect(await deliverMessage({ body: short, receiptHandle: 'r', receivedAtMs: NOW }, flaky)).toBe('keep');
    expect(writes).toEqual(['retrying: refused', 'retrying: refused', 'retrying']);
    expect(delays).toEqual([30]);
  });

  it('lets the message come back when a failed outcome cannot be written at all, and never dead-letters an unrecorded failure', async () => {
    const { d, deadLetters } = deps({ status: 410 });
    const { deps: flaky, writes } = flakyRecords(d, 'failed', 10);
    await expect(deliverMessage({ body: body(), receiptHandle: 'r', receivedAtMs: NOW }, flaky)).rejects.toThrow(
      /injected/,
    );
    expect(writes).toHaveLength(4);
    expect(deadLetters).toEqual([]);
  });

  it('does not retry a write refused because the attempt is no longer ours', async () => {
    const { d } = deps({ status: 410 });
    let tries = 0;
    const store = {
      ...d.store,
      recordAttempt: async () => {
        tries += 1;
        throw new DeliveryStateError('whd_x', 'cannot record attempt 1: it is no longer in flight');
      },
    } as unknown as DeliveryStore;
    await expect(
      deliverMessage({ body: body(), receiptHandle: 'r', receivedAtMs: NOW }, { ...d, store }),
    ).rejects.toThrow(DeliveryStateError);
    expect(tries).toBe(1);
  });
});
