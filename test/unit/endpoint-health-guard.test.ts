import { describe, expect, it, vi } from 'vitest';
import { createEndpointHealthGuard } from '../../shared/use-cases/endpoint-health.ts';
import { NOW, quiet } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { memoryHealthStore } from '../fixtures/memory-health-store.ts';

// The guard's costs and failure modes, on an in-memory store and a fake clock.
const transient = { kind: 'transient', errorClass: 'timeout', status: null, message: 'timed out' } as const;
const success = { kind: 'success', status: 200 } as const;

function setup(slowAfterMs?: number) {
  let now = NOW;
  const memory = memoryHealthStore();
  const counted: string[] = [];
  const guard = createEndpointHealthGuard({
    store: memory.store,
    clock: { now: () => now },
    metrics: { count: (name) => void counted.push(name), duration() {}, flush() {} },
    random: () => 0,
    ...(slowAfterMs === undefined ? {} : { slowAfterMs }),
  });
  return { guard, ...memory, counted, advance: (ms: number) => void (now += ms) };
}

describe('the endpoint health guard', () => {
  const message = makeDeliveryMessage(1);

  it('reads once per endpoint per cache TTL, and a success on a healthy endpoint writes nothing', async () => {
    const { guard, calls, advance } = setup();
    for (let i = 0; i < 20; i++) {
      expect(await guard.before(message, 60_000, quiet)).toEqual({ kind: 'send' });
      await guard.after(message, success, quiet);
    }
    expect(calls).toEqual({ get: 1, put: 0 });
    advance(5_000);
    await guard.before(message, 60_000, quiet);
    expect(calls).toEqual({ get: 2, put: 0 });
  });

  it('opens after five failures, then defers without reading the store again', async () => {
    const { guard, calls } = setup();
    for (let i = 0; i < 5; i++) await guard.after(message, transient, quiet);
    expect(calls.put).toBe(5);
    const reads = calls.get;
    expect(await guard.before(message, 60_000, quiet)).toEqual({ kind: 'defer', seconds: 30, state: 'open' });
    expect(calls.get).toBe(reads);
  });

  it('lets exactly one probe go after the cool-down, and closes on its success', async () => {
    const { guard, advance } = setup();
    for (let i = 0; i < 5; i++) await guard.after(message, transient, quiet);
    advance(30_000);
    expect((await guard.before(message, 60_000, quiet)).kind).toBe('probe');
    expect((await guard.before(makeDeliveryMessage(2), 60_000, quiet)).kind).toBe('defer');
    await guard.after(message, success, quiet);
    expect(await guard.before(makeDeliveryMessage(3), 60_000, quiet)).toEqual({ kind: 'send' });
  });

  it('sends when the store fails: health is an optimisation, never a reason to hold a delivery', async () => {
    const { guard, fail } = setup();
    fail();
    expect(await guard.before(message, 60_000, quiet)).toEqual({ kind: 'send' });
    await expect(guard.after(message, transient, quiet)).resolves.toBeUndefined();
  });

  it('diverts from the main lane while the circuit is open, and defers on the slow lane', async () => {
    const { guard } = setup();
    for (let i = 0; i < 5; i++) await guard.after(message, transient, quiet);
    expect(await guard.before(message, 60_000, quiet, false, 'main')).toEqual({
      kind: 'divert',
      seconds: 30,
      cause: 'open',
      otherwise: { kind: 'defer', seconds: 30, state: 'open' },
    });
    expect(await guard.before(message, 60_000, quiet, false, 'slow')).toEqual({
      kind: 'defer',
      seconds: 30,
      state: 'open',
    });
  });
});

describe('slow marks', () => {
  const message = makeDeliveryMessage(1);
  const other = makeDeliveryMessage(2, { url: 'https://other.example.com/hook' });

  it('marks the endpoint once while several requests to it hang, and the next main-lane delivery is diverted without a read', async () => {
    const { guard, calls, counted } = setup(10);
    const stops = [guard.watch(message, quiet), guard.watch(makeDeliveryMessage(3), quiet)];
    await vi.waitFor(() => expect(counted).toContain('SlowEndpointMarks'));
    // Both timers have fired once the other endpoint's has (timers of one delay fire in order).
    const stopOther = guard.watch(other, quiet);
    await vi.waitFor(() => expect(counted.filter((c) => c === 'SlowEndpointMarks')).toHaveLength(2));
    for (const stop of [...stops, stopOther]) stop();
    expect(calls.put).toBe(2);
    const reads = calls.get;
    expect(await guard.before(makeDeliveryMessage(4), 60_000, quiet, false, 'main')).toEqual({
      kind: 'divert',
      seconds: 0,
      cause: 'slow',
      otherwise: { kind: 'send' },
    });
    expect(await guard.before(makeDeliveryMessage(4), 60_000, quiet, false, 'slow')).toEqual({ kind: 'send' });
    expect(calls.get).toBe(reads);
  });

  it('marks nothing for a request answered before the threshold', async () => {
    const { guard, calls, counted } = setup(20);
    guard.watch(message, quiet)();
    // A later timer of the same delay fires after the cleared one would have.
    guard.watch(other, quiet);
    await vi.waitFor(() => expect(counted).toContain('SlowEndpointMarks'));
    expect(calls.put).toBe(1);
    expect((await guard.before(message, 60_000, quiet, false, 'main')).kind).toBe('send');
  });

  it('marks again once the mark has run out', async () => {
    const { guard, calls, advance } = setup(10);
    guard.watch(message, quiet);
    await vi.waitFor(() => expect(calls.put).toBe(1));
    advance(60_000);
    guard.watch(message, quiet);
    await vi.waitFor(() => expect(calls.put).toBe(2));
  });

  it('never fails the request when the store fails, and marks nothing without a threshold', async () => {
    const failing = setup(10);
    failing.fail();
    failing.guard.watch(message, quiet);
    await vi.waitFor(() => expect(failing.calls.get).toBe(1));
    const off = setup();
    off.guard.watch(message, quiet)();
    expect(off.calls).toEqual({ get: 0, put: 0 });
  });
});
