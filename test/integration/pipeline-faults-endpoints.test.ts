import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import type { DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import {
  account,
  refusedOrigin,
  startFaultReceiver,
  startResetServer,
  type FaultReceiver,
} from '../fixtures/fault-accounting.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';

// Endpoints failing every way, all in one run through the local pipeline (fauxqs, dynalite,
// the real handlers). Each test ends with the account of every delivery it made: its final
// state, the attempts on record, the attempts the receiver read, and what the log says.

let stack: LocalStack;
let receiver: FaultReceiver;
let reset: Awaited<ReturnType<typeof startResetServer>>;
let refused: string;
const lines: string[] = [];
const records = new Map<string, DeliveryRecord>();
const ids = new Map<string, string>();

const retry = (max_attempts: number) => ({
  max_attempts,
  backoff: 'fixed' as const,
  initial_delay_seconds: 1,
  max_delay_seconds: 3,
});
const node = (id: string, url: string, max = 3): NodeJson =>
  makeNodeJson({ id, data: { endpoint_url: url, credential_uuid: null, retry_config: retry(max) } });
const HUGE = 'x'.repeat(2 * 1024 * 1024);

beforeAll(async () => {
  receiver = await startFaultReceiver();
  reset = await startResetServer();
  refused = await refusedOrigin();
  const o = receiver.origin;
  receiver.on('/5xx-run', (n) => ({ kind: 'reply', status: [500, 502, 503][n - 1] ?? 200 }));
  receiver.on('/5xx-forever', () => ({ kind: 'reply', status: 503 }));
  receiver.on('/429', (n) =>
    n === 1 ? { kind: 'reply', status: 429, headers: { 'retry-after': '2' } } : { kind: 'reply', status: 200 },
  );
  receiver.on('/hang', () => ({ kind: 'hang' }));
  receiver.on('/reset-after-read', (n) => (n === 1 ? { kind: 'reset' } : { kind: 'reply', status: 200 }));
  receiver.on('/huge-error', (n) =>
    n === 1 ? { kind: 'reply', status: 500, body: HUGE } : { kind: 'reply', status: 200 },
  );
  receiver.on('/huge-ok', () => ({ kind: 'reply', status: 200, body: HUGE }));
  receiver.on('/redirect', () => ({ kind: 'reply', status: 302, headers: { location: `${o}/elsewhere` } }));
  receiver.on('/gone', () => ({ kind: 'reply', status: 410 }));
  stack = await startLocalStack({
    secrets: {},
    requestTimeoutMs: 1000,
    // Visibility and lease margin well past the 1 s request timeout: on a loaded machine an
    // attempt's bookkeeping can take seconds, and a copy received meanwhile would take over its
    // lease (a real path, tested in pipeline-faults-queue), not the one this file checks.
    visibilityTimeoutSeconds: 6,
    logSink: (line) => lines.push(line),
    logLevel: 'debug',
    adaptDeliverDeps: (deps: DeliverDeps) => ({ ...deps, leaseMarginMs: 4_000 }),
  });
  const nodes = [
    node('5xx-run', `${o}/5xx-run`, 4),
    node('5xx-forever', `${o}/5xx-forever`, 3),
    node('429', `${o}/429`, 2),
    node('hang', `${o}/hang`, 2),
    node('reset-after-read', `${o}/reset-after-read`, 2),
    node('reset-before-read', `${reset.origin}/r`, 2),
    node('refused', `${refused}/r`, 2),
    node('huge-error', `${o}/huge-error`, 2),
    node('huge-ok', `${o}/huge-ok`, 1),
    node('redirect', `${o}/redirect`, 3),
    node('gone', `${o}/gone`, 3),
  ];
  const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: 7100, nodes } }));
  for (const r of rendered) ids.set(r.node_id, r.delivery_id);
  for (const record of await stack.waitUntilFinal([...ids.values()], 60_000)) records.set(record.node_id, record);
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  await reset?.close();
});

const of = (nodeId: string) => account(records.get(nodeId), receiver, lines);

describe('endpoints failing every way', () => {
  it('a run of 5xx answers: retried until the 200, every attempt on record and on the wire once', () => {
    expect(of('5xx-run')).toEqual({
      status: 'delivered',
      attempts: 4,
      recorded: ['1:http_transient', '2:http_transient', '3:http_transient', '4:none'],
      wire: [1, 2, 3, 4],
      logged: ['1:retrying', '2:retrying', '3:retrying', '4:delivered'],
    });
  });

  it('5xx for ever: failed after max_attempts, never one more', () => {
    expect(of('5xx-forever')).toEqual({
      status: 'failed',
      attempts: 3,
      recorded: ['1:http_transient', '2:http_transient', '3:http_transient'],
      wire: [1, 2, 3],
      logged: ['1:retrying', '2:retrying', '3:failed'],
    });
    expect(records.get('5xx-forever')?.last_error).toMatch(/503 \(all 3 attempts used\)/);
  });

  it('429 with Retry-After: the next attempt waits as long as asked', () => {
    expect(of('429')).toMatchObject({
      status: 'delivered',
      attempts: 2,
      wire: [1, 2],
      logged: ['1:retrying', '2:delivered'],
    });
    const [first, second] = receiver.seen.filter((s) => s.path === '/429');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1900);
  });

  it('a hang: each attempt times out at the request timeout and is on record as a timeout', () => {
    expect(of('hang')).toEqual({
      status: 'failed',
      attempts: 2,
      recorded: ['1:timeout', '2:timeout'],
      wire: [1, 2],
      logged: ['1:retrying', '2:failed'],
    });
  });

  it('a reset after the request was read: that attempt is on record as failed, and the next is attempt 2 (never the same attempt resent)', () => {
    expect(of('reset-after-read')).toEqual({
      status: 'delivered',
      attempts: 2,
      recorded: ['1:connection', '2:none'],
      wire: [1, 2],
      logged: ['1:retrying', '2:delivered'],
    });
  });

  it('a reset before the request was read, and a refused connection: connection failures, nothing read', () => {
    for (const name of ['reset-before-read', 'refused']) {
      expect(of(name), name).toEqual({
        status: 'failed',
        attempts: 2,
        recorded: ['1:connection', '2:connection'],
        wire: [],
        logged: ['1:retrying', '2:failed'],
      });
    }
    // One connection per attempt: the sender does not dial again within an attempt.
    expect(reset.connections()).toBe(2);
  });

  it('huge response bodies: read up to the cap only, a bounded snippet on record', () => {
    expect(of('huge-error')).toMatchObject({ status: 'delivered', attempts: 2, wire: [1, 2] });
    expect(of('huge-ok')).toMatchObject({ status: 'delivered', attempts: 1, wire: [1] });
    for (const name of ['huge-error', 'huge-ok']) {
      for (const a of records.get(name)!.attempt_log)
        expect(a.response_snippet?.length ?? 0, name).toBeLessThanOrEqual(2048);
    }
  });

  it('a redirect is not followed: a permanent failure after one attempt, the target never called', () => {
    expect(of('redirect')).toEqual({
      status: 'failed',
      attempts: 1,
      recorded: ['1:http_permanent'],
      wire: [1],
      logged: ['1:failed'],
    });
    expect(receiver.seen.some((s) => s.path === '/elsewhere')).toBe(false);
  });

  it('410: failed at once, sent once', () => {
    expect(of('gone')).toEqual({
      status: 'failed',
      attempts: 1,
      recorded: ['1:http_permanent'],
      wire: [1],
      logged: ['1:failed'],
    });
  });

  it('no request reached the wire without an attempt on record, and none past max_attempts', () => {
    for (const [name, record] of records) {
      const a = of(name);
      for (const n of a.wire)
        expect(
          a.recorded.map((r) => Number(r.split(':')[0])),
          name,
        ).toContain(n);
      expect(record.attempts, name).toBeLessThanOrEqual(record.max_attempts);
    }
    // Every request the receiver read was one attempt: no attempt number twice for one delivery.
    for (const id of ids.values()) {
      const wire = receiver.attemptsOf(id);
      expect(new Set(wire).size, id).toBe(wire.length);
    }
  });
});
