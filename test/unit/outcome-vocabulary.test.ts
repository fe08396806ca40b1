import { describe, expect, it } from 'vitest';
import { DELIVERY_OUTCOMES, DELIVERY_STATUSES, FINAL_STATUSES } from '../../shared/domain/outcome.ts';
import type { DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { deliverMessage } from '../../shared/use-cases/deliver-message.ts';
import type { Log } from '../../shared/use-cases/observability.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

/** Every word one attempt left behind: in the log lines, the Deliveries metric and the record. */
async function wordsOf(status: number) {
  const logged: unknown[] = [];
  const counted: unknown[] = [];
  const recorded: unknown[] = [];
  const { d } = fakeDeliverDeps({ status });
  const log: Log = {
    debug: (_m, f) => void logged.push(f?.outcome),
    info: (_m, f) => void logged.push(f?.outcome),
    warn: (_m, f) => void logged.push(f?.outcome),
    error: (_m, f) => void logged.push(f?.outcome),
    child: () => log,
  };
  const store = {
    ...d.store,
    recordAttempt: async (_m: unknown, _a: unknown, next: { status: string }) => void recorded.push(next.status),
  } as unknown as DeliveryStore;
  const retry = { max_attempts: 3, backoff: 'fixed' as const, initial_delay_seconds: 30, max_delay_seconds: 60 };
  await deliverMessage(
    { body: JSON.stringify(makeDeliveryMessage(0, { retry })), receiptHandle: 'r', receivedAtMs: NOW },
    {
      ...d,
      log,
      store,
      metrics: { ...d.metrics, count: (name, _v, dims) => void (name === 'Deliveries' && counted.push(dims?.Outcome)) },
    },
  );
  return { logged: logged.filter((o) => o !== undefined), counted, recorded };
}

describe('one outcome vocabulary', () => {
  it.each([
    [200, 'delivered'],
    [503, 'retrying'],
    [404, 'failed'],
  ])(
    'an attempt answered %i is %s alike in the log lines, the Deliveries metric and the record',
    async (status, word) => {
      const { logged, counted, recorded } = await wordsOf(status);
      expect(new Set(logged)).toEqual(new Set([word]));
      expect(counted).toEqual([word]);
      expect(recorded).toEqual([word]);
    },
  );

  it('words every outcome as a status a record can hold, and every final status as an outcome', () => {
    for (const outcome of DELIVERY_OUTCOMES) expect(DELIVERY_STATUSES).toContain(outcome);
    for (const status of FINAL_STATUSES) expect(DELIVERY_OUTCOMES).toContain(status);
  });
});
