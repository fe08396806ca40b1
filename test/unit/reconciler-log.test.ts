import { describe, expect, it } from 'vitest';
import {
  addReconcilerLine,
  NO_RECONCILER_RUNS,
  sumReconcilerTallies,
  tallyReconcilerLines,
} from '../../bench/reconciler-log.ts';
import { createMemoryDeliveryStore } from '../../shared/adapters/memory-delivery-store.ts';
import { createLogger } from '../../shared/observability/logger.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from '../../shared/use-cases/reconcile.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// The soak's count of what the reconciler did, read from the lines the reconciler itself writes:
// the real use case with the logger `webhooks dev` gives it (cli/dev-server.ts), on a memory store.

const T0 = Date.parse('2026-11-27T10:00:00Z');
const LEASE = 60_000;
const GRACE = 60_000;

/** Runs of the real reconciler: one that puts one back and fails one, a paused one, an empty one. */
async function reconcilerOutput(): Promise<{ lines: string[]; reports: ReconcileReport[] }> {
  const lines: string[] = [];
  const store = createMemoryDeliveryStore();
  let now = T0;
  let waiting = 0;
  const deps: ReconcileDeps = {
    store,
    queries: store,
    enqueue: async () => undefined,
    clock: { now: () => now },
    log: createLogger({ base: { function: 'reconcile' }, sink: (line) => lines.push(line) }),
    metrics: { count() {}, duration() {}, flush() {} },
    graceMs: GRACE,
    backlog: async () => waiting,
  };
  // Lost at its first attempt (nothing kept to rebuild it from): failed as stranded.
  await store.claim(makeDeliveryMessage(1), T0, LEASE);
  // Waiting for its retry with its request kept, and its message gone: put back on the queue.
  const retrying = makeDeliveryMessage(2);
  await store.claim(retrying, T0, LEASE);
  await store.recordAttempt(
    retrying,
    {
      attempt: 1,
      at: new Date(T0).toISOString(),
      duration_ms: 1,
      status_code: 503,
      error_class: 'http_transient',
      error_message: 'endpoint answered 503',
      response_snippet: null,
    },
    { status: 'retrying', atMs: T0 + 30_000 },
    T0,
  );
  const reports: ReconcileReport[] = [];
  now = T0 + LEASE + GRACE + 1;
  reports.push(await reconcile(deps));
  waiting = 5_000;
  reports.push(await reconcile(deps));
  waiting = 0;
  reports.push(await reconcile(deps));
  return { lines, reports };
}

describe('the reconciler tally of the soak', () => {
  it("counts the real reconciler's runs, pauses, requeued and failed deliveries from its JSON lines", async () => {
    const { lines, reports } = await reconcilerOutput();
    // The runs did what the tally is to count (so the tally below can be wrong).
    expect(reports.map((r) => [r.requeued.length, r.failed.length, r.pausedAtBacklog])).toEqual([
      [1, 1, undefined],
      [0, 0, 5_000],
      [0, 0, undefined],
    ]);
    // Per-delivery lines too, which must not count twice.
    expect(lines.length).toBeGreaterThan(3);
    expect(tallyReconcilerLines(lines)).toEqual({ runs: 2, paused: 1, requeued: 1, failed: 1 });
  });

  it("ignores the line printed for people, other functions' lines and what is not a JSON object", async () => {
    const { lines } = await reconcilerOutput();
    const others = [
      '10:00:01 ⟲ reconciler: 1 stuck put back on the queue, 1 failed (webhooks failures --local)',
      JSON.stringify({
        level: 'info',
        message: 'reconciler run',
        function: 'deliver',
        examined: 9,
        requeued: 9,
        failed: 9,
        skipped: 0,
      }),
      JSON.stringify({
        level: 'info',
        message: 'x',
        function: 'reconcile',
        examined: 1,
        requeued: '1',
        failed: 0,
        skipped: 0,
      }),
      '{"level":"info","function":"reconcile","examined":1,"requeued":1,"failed":0,',
      '[1, 2]',
      'null',
      '',
    ];
    const mixed = lines.flatMap((line, i) => [line, others[i % others.length]!]);
    expect(tallyReconcilerLines([...mixed, ...others])).toEqual(tallyReconcilerLines(lines));
    for (const line of others) expect(addReconcilerLine(NO_RECONCILER_RUNS, line)).toBe(NO_RECONCILER_RUNS);
  });

  it('adds the tallies of the process killed and the one restarted after it', () => {
    expect(
      sumReconcilerTallies(
        { runs: 3, paused: 1, requeued: 2, failed: 0 },
        { runs: 4, paused: 0, requeued: 5, failed: 1 },
      ),
    ).toEqual({ runs: 7, paused: 1, requeued: 7, failed: 1 });
  });
});
