import { describe, expect, it } from 'vitest';
import type { EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import type { EndpointHealthStore } from '../../shared/ports/endpoint-health-store.ts';
import { createEndpointHealthGuard } from '../../shared/use-cases/endpoint-health.ts';
import { NOW, quiet } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// The guard's costs and failure modes, on an in-memory store and a fake clock.
function memoryStore() {
  const items = new Map<string, EndpointHealth>();
  const calls = { get: 0, put: 0 };
  let failing = false;
  const key = (org: string, endpoint: string) => `${org}|${endpoint}`;
  const store: EndpointHealthStore = {
    async get(org, endpoint) {
      calls.get++;
      if (failing) throw new Error('DynamoDB unavailable');
      return items.get(key(org, endpoint));
    },
    async put(next, expected) {
      calls.put++;
      const current = items.get(key(next.organization_id, next.endpoint));
      if ((current?.version ?? 0) !== expected) return false;
      items.set(key(next.organization_id, next.endpoint), { ...next, version: expected + 1 });
      return true;
    },
    async remove(org, endpoint) {
      return items.delete(key(org, endpoint));
    },
    async list() {
      return [...items.values()];
    },
  };
  return { store, calls, fail: () => void (failing = true) };
}

const transient = { kind: 'transient', errorClass: 'timeout', status: null, message: 'timed out' } as const;
const success = { kind: 'success', status: 200 } as const;

function setup() {
  let now = NOW;
  const memory = memoryStore();
  const guard = createEndpointHealthGuard({
    store: memory.store,
    clock: { now: () => now },
    metrics: { count() {}, duration() {}, flush() {} },
    random: () => 0,
  });
  return { guard, ...memory, advance: (ms: number) => void (now += ms) };
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
});
