import { describe, expect, it } from 'vitest';
import {
  afterObservation,
  cooldownMs,
  DEFAULT_HEALTH_POLICY,
  gate,
  isSlow,
  markSlow,
  nodeConfigHash,
  observationOf,
  type EndpointHealth,
  type Observation,
} from '../../shared/domain/endpoint-health.ts';
import type { AttemptVerdict } from '../../shared/domain/retry-policy.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeEndpointHealth } from '../fixtures/endpoint-health.ts';

// Endpoint health decisions, table by table, on a fake clock (plain numbers).
const T0 = Date.parse('2026-11-27T10:00:00Z');
const policy = DEFAULT_HEALTH_POLICY;
const context = { organizationId: 'org-1', endpoint: 'https://crm.example.com', nodeHash: 'hash-a', error: 'HTTP 503' };

function health(overrides: Partial<EndpointHealth> = {}): EndpointHealth {
  return makeEndpointHealth(T0, overrides);
}

/** Applies observations one after the other, as the store would keep them. */
function replay(observations: Array<[Observation, number]>): {
  health: EndpointHealth | undefined;
  writes: number;
  transitions: string[];
} {
  let h: EndpointHealth | undefined;
  let writes = 0;
  const transitions: string[] = [];
  for (const [observation, at] of observations) {
    const change = afterObservation(h, observation, at, policy, context);
    if (change.kind === 'write') {
      writes++;
      h = { ...change.next, version: (h?.version ?? 0) + 1 };
      if (change.transition) transitions.push(`${change.transition.from}->${change.transition.to}`);
    }
  }
  return { health: h, writes, transitions };
}

describe('observationOf', () => {
  const cases: Array<[string, AttemptVerdict, Observation]> = [
    ['2xx', { kind: 'success', status: 204 }, 'success'],
    ['503', { kind: 'transient', errorClass: 'http_transient', status: 503, message: '' }, 'transient'],
    ['timeout', { kind: 'transient', errorClass: 'timeout', status: null, message: '' }, 'transient'],
    ['connection refused', { kind: 'transient', errorClass: 'connection', status: null, message: '' }, 'transient'],
    ['410 Gone', { kind: 'permanent', errorClass: 'http_permanent', status: 410, message: '' }, 'gone'],
    [
      '400: the endpoint is up',
      { kind: 'permanent', errorClass: 'http_permanent', status: 400, message: '' },
      'success',
    ],
    [
      'blocked address: nothing learnt',
      { kind: 'permanent', errorClass: 'blocked', status: null, message: '' },
      'neutral',
    ],
    [
      'credential rotated mid-attempt',
      { kind: 'transient', errorClass: 'credential', status: 401, message: '' },
      'neutral',
    ],
  ];
  it.each(cases)('%s', (_, outcome, expected) => expect(observationOf(outcome)).toBe(expected));
});

describe('cooldownMs', () => {
  it.each([
    [1, 30_000],
    [2, 60_000],
    [3, 120_000],
    [5, 480_000],
    [6, 600_000],
    [60, 600_000],
  ])('opening %i in a row waits %i ms', (opens, ms) => expect(cooldownMs(opens, policy)).toBe(ms));
});

describe('afterObservation', () => {
  it('writes nothing for a success on an endpoint that never failed', () => {
    expect(afterObservation(undefined, 'success', T0, policy, context)).toEqual({ kind: 'unchanged' });
    expect(afterObservation(health(), 'success', T0, policy, context)).toEqual({ kind: 'unchanged' });
  });

  it('counts transient failures and opens the circuit at the threshold', () => {
    const four = replay([1, 2, 3, 4].map((i) => ['transient', T0 + i]));
    expect(four.health?.state).toBe('closed');
    expect(four.health?.consecutive_failures).toBe(4);
    const five = replay([1, 2, 3, 4, 5].map((i) => ['transient', T0 + i]));
    expect(five.health).toMatchObject({
      state: 'open',
      consecutive_failures: 5,
      opens: 1,
      open_until_ms: T0 + 5 + 30_000,
    });
    expect(five.transitions).toEqual(['closed->open']);
  });

  it('a success in between starts the count again', () => {
    const r = replay([
      ['transient', T0],
      ['transient', T0 + 1],
      ['success', T0 + 2],
      ['transient', T0 + 3],
    ]);
    expect(r.health).toMatchObject({ state: 'closed', consecutive_failures: 1, last_success_ms: T0 + 2 });
  });

  it('ignores a late failure on an open circuit (a send that began before it opened)', () => {
    expect(
      afterObservation(
        health({ state: 'open', open_until_ms: T0 + 30_000, consecutive_failures: 5, opens: 1 }),
        'transient',
        T0 + 1,
        policy,
        context,
      ),
    ).toEqual({ kind: 'unchanged' });
  });

  it('a failed probe opens the circuit again for twice as long', () => {
    const change = afterObservation(
      health({ state: 'half_open', consecutive_failures: 5, opens: 1, probe_until_ms: T0 + 60_000 }),
      'transient',
      T0,
      policy,
      context,
    );
    expect(change).toMatchObject({
      kind: 'write',
      next: { state: 'open', opens: 2, open_until_ms: T0 + 60_000, probe_until_ms: null },
      transition: { from: 'half_open', to: 'open' },
    });
  });

  it('a successful probe closes the circuit and forgets the openings', () => {
    const change = afterObservation(
      health({ state: 'half_open', consecutive_failures: 9, opens: 3 }),
      'success',
      T0,
      policy,
      context,
    );
    expect(change).toMatchObject({
      kind: 'write',
      next: { state: 'closed', consecutive_failures: 0, opens: 0, last_success_ms: T0 },
      transition: { from: 'half_open', to: 'closed' },
    });
  });

  it('a 410 marks the endpoint gone with the hash of the node that got it', () => {
    const change = afterObservation(undefined, 'gone', T0, policy, context);
    expect(change).toMatchObject({
      kind: 'write',
      next: { state: 'gone', gone_at_ms: T0, gone_node_hash: 'hash-a' },
      transition: { from: 'closed', to: 'gone' },
    });
  });

  it('nothing but a reset or a changed node clears a gone mark', () => {
    const gone = health({ state: 'gone', gone_at_ms: T0, gone_node_hash: 'hash-a' });
    for (const observation of ['success', 'transient', 'gone', 'neutral'] as const) {
      expect(afterObservation(gone, observation, T0 + 1, policy, context)).toEqual({ kind: 'unchanged' });
    }
  });
});

describe('gate', () => {
  const lease = 60_000;
  it('sends to an unknown or closed endpoint', () => {
    expect(gate(undefined, T0, 'hash-a', lease)).toEqual({ kind: 'send' });
    expect(gate(health({ consecutive_failures: 4 }), T0, 'hash-a', lease)).toEqual({ kind: 'send' });
  });

  it('defers while the circuit is open, for the rest of the cool-down', () => {
    expect(gate(health({ state: 'open', open_until_ms: T0 + 12_500 }), T0, 'hash-a', lease)).toEqual({
      kind: 'defer',
      seconds: 13,
      state: 'open',
    });
  });

  it('lets one probe go once the cool-down is over, and defers the others for its lease', () => {
    const open = health({ state: 'open', open_until_ms: T0, opens: 1 });
    const probe = gate(open, T0, 'hash-a', lease);
    expect(probe).toMatchObject({ kind: 'probe', next: { state: 'half_open', probe_until_ms: T0 + lease } });
    const halfOpen = probe.kind === 'probe' ? probe.next : open;
    // The others look again every few seconds, so they follow soon after a successful probe.
    expect(gate(halfOpen, T0 + 1000, 'hash-a', lease)).toEqual({ kind: 'defer', seconds: 5, state: 'half_open' });
    expect(gate(halfOpen, T0 + lease - 2000, 'hash-a', lease)).toEqual({
      kind: 'defer',
      seconds: 2,
      state: 'half_open',
    });
    // The probe's worker died: after its lease another probe goes.
    expect(gate(halfOpen, T0 + lease, 'hash-a', lease)).toMatchObject({
      kind: 'probe',
      next: { probe_until_ms: T0 + 2 * lease },
    });
  });

  it('lets a redriven delivery go at once, open or half-open: the operator says the endpoint is fixed', () => {
    const open = health({ state: 'open', open_until_ms: T0 + 300_000, opens: 2 });
    expect(gate(open, T0, 'hash-a', lease).kind).toBe('defer');
    expect(gate(open, T0, 'hash-a', lease, true)).toEqual({ kind: 'send' });
    expect(gate(health({ state: 'half_open', probe_until_ms: T0 + lease }), T0, 'hash-a', lease, true)).toEqual({
      kind: 'send',
    });
    expect(gate(health({ state: 'gone', gone_node_hash: 'hash-a' }), T0, 'hash-a', lease, true).kind).toBe('gone');
  });

  it('fails deliveries of the node that got the 410, naming the reset command', () => {
    const decision = gate(health({ state: 'gone', gone_at_ms: T0, gone_node_hash: 'hash-a' }), T0 + 5, 'hash-a', lease);
    expect(decision.kind).toBe('gone');
    expect(decision.kind === 'gone' && decision.reason).toContain('webhooks endpoints reset crm.example.com');
  });

  it('clears the gone mark for a delivery from a changed node', () => {
    expect(gate(health({ state: 'gone', gone_node_hash: 'hash-a' }), T0, 'hash-b', lease)).toEqual({
      kind: 'clear_gone',
      next: null,
    });
  });
});

describe('gate with a slow lane', () => {
  const lease = 60_000;
  const open = health({ state: 'open', open_until_ms: T0 + 12_500, opens: 1 });
  const halfOpen = health({ state: 'half_open', probe_until_ms: T0 + lease });
  const slow = health({ slow_until_ms: T0 + 30_000 });

  it('diverts from the main lane what the circuit would defer, with the deferral as its delay and the deferral to fall back to', () => {
    expect(gate(open, T0, 'hash-a', lease, false, 'main')).toEqual({
      kind: 'divert',
      seconds: 13,
      cause: 'open',
      otherwise: { kind: 'defer', seconds: 13, state: 'open' },
    });
    expect(gate(halfOpen, T0, 'hash-a', lease, false, 'main')).toEqual({
      kind: 'divert',
      seconds: 5,
      cause: 'half_open',
      otherwise: { kind: 'defer', seconds: 5, state: 'half_open' },
    });
  });

  it('diverts from the main lane a delivery to an endpoint marked slow, at once, falling back to sending it', () => {
    expect(gate(slow, T0, 'hash-a', lease, false, 'main')).toEqual({
      kind: 'divert',
      seconds: 0,
      cause: 'slow',
      otherwise: { kind: 'send' },
    });
    // The mark has run out: the main lane again.
    expect(gate(slow, T0 + 30_000, 'hash-a', lease, false, 'main')).toEqual({ kind: 'send' });
  });

  it('sends a probe from the main lane, slow mark or not: the probe is the one the circuit lets go', () => {
    const due = health({ state: 'open', open_until_ms: T0, opens: 1, slow_until_ms: T0 + 30_000 });
    expect(gate(due, T0, 'hash-a', lease, false, 'main').kind).toBe('probe');
  });

  it('never diverts a redriven delivery: it goes at once', () => {
    expect(gate(open, T0, 'hash-a', lease, true, 'main')).toEqual({ kind: 'send' });
    expect(gate(slow, T0, 'hash-a', lease, true, 'main')).toEqual({ kind: 'send' });
  });

  it('on the slow lane, and without lanes, defers as before and sends to a slow endpoint', () => {
    for (const lane of ['slow', undefined] as const) {
      expect(gate(open, T0, 'hash-a', lease, false, lane)).toEqual({ kind: 'defer', seconds: 13, state: 'open' });
      expect(gate(slow, T0, 'hash-a', lease, false, lane)).toEqual({ kind: 'send' });
    }
  });

  it('fails a gone endpoint from either lane', () => {
    const gone = health({ state: 'gone', gone_node_hash: 'hash-a', slow_until_ms: T0 + 30_000 });
    expect(gate(gone, T0, 'hash-a', lease, false, 'main').kind).toBe('gone');
  });
});

describe('markSlow', () => {
  const where = { organizationId: 'org-1', endpoint: 'https://crm.example.com' };

  it('marks an untracked endpoint slow for a minute, with a fresh health and nothing else', () => {
    const next = markSlow(undefined, T0, where);
    expect(next).toMatchObject({
      organization_id: 'org-1',
      endpoint: 'https://crm.example.com',
      state: 'closed',
      consecutive_failures: 0,
      slow_until_ms: T0 + 60_000,
      version: 0,
    });
    expect(isSlow(next, T0 + 59_999)).toBe(true);
    expect(isSlow(next, T0 + 60_000)).toBe(false);
  });

  it('keeps the circuit as it is', () => {
    const open = health({ state: 'open', open_until_ms: T0 + 5_000, consecutive_failures: 5, opens: 1 });
    expect(markSlow(open, T0, where)).toEqual({ ...open, slow_until_ms: T0 + 60_000, updated_at_ms: T0 });
  });

  it('writes nothing while a mark holds, and marks again once it has run out', () => {
    const marked = health({ slow_until_ms: T0 + 60_000 });
    expect(markSlow(marked, T0 + 59_000, where)).toBeUndefined();
    expect(markSlow(marked, T0 + 60_000, where)?.slow_until_ms).toBe(T0 + 120_000);
  });

  it('writes nothing for a gone endpoint: nothing is sent to it', () => {
    expect(markSlow(health({ state: 'gone', gone_node_hash: 'hash-a' }), T0, where)).toBeUndefined();
  });

  it('survives the circuit changes after it: an attempt outcome keeps the mark', () => {
    const marked = health({ slow_until_ms: T0 + 60_000 });
    const change = afterObservation(marked, 'transient', T0 + 1, policy, context);
    expect(change.kind === 'write' && change.next.slow_until_ms).toBe(T0 + 60_000);
  });
});

describe('nodeConfigHash', () => {
  const base = makeDeliveryMessage(1);
  it('is the same for two runs of one node (payload and query differ)', () => {
    expect(nodeConfigHash(makeDeliveryMessage(2, { node_id: base.node_id, url: `${base.url}?run=2` }))).toBe(
      nodeConfigHash(base),
    );
  });
  it.each([
    ['the URL path', { url: 'https://crm.example.com/hooks/8' }],
    ['the method', { method: 'PUT' as const }],
    ['the credential', { credential_uuid: 'cred-2' }],
    ['a custom header', { headers: { 'X-Source': 'other' } }],
  ])('changes with %s', (_, change) => {
    expect(nodeConfigHash({ ...base, ...change })).not.toBe(nodeConfigHash(base));
  });
});
