import { describe, expect, it } from 'vitest';
import {
  decideClaim,
  decideReconcile,
  mayReopen,
  pendingUntil,
  type DeliveryState,
  type StuckCandidate,
} from '../../shared/domain/delivery-state.ts';

const NOW = Date.parse('2026-11-27T10:00:00Z');
const ask = { maxAttempts: 3, claimId: 'mine' };
const state = (s: Partial<DeliveryState> = {}): DeliveryState => ({ status: 'retrying', attempts: 1, ...s });

describe('decideClaim', () => {
  it('takes attempt 1 of a delivery seen for the first time', () => {
    expect(decideClaim(undefined, ask, NOW)).toEqual({ kind: 'next', attempt: 1 });
  });

  it('answers final for every final status, whatever the lease or count', () => {
    for (const status of ['delivered', 'failed', 'skipped'] as const) {
      expect(decideClaim(state({ status, attempts: 9, leaseUntilMs: NOW + 1000 }), ask, NOW)).toEqual({
        kind: 'final',
        status,
      });
    }
  });

  it('gives a retried claim its own attempt back, even with its lease held (the answer of the first try was lost)', () => {
    expect(
      decideClaim(state({ status: 'sending', attempts: 2, leaseUntilMs: NOW + 60_000, claimId: 'mine' }), ask, NOW),
    ).toEqual({ kind: 'own', attempt: 2 });
  });

  it('makes another claim wait while the lease is held, in whole seconds, at least 1', () => {
    const held = state({ status: 'sending', attempts: 2, leaseUntilMs: NOW + 10_500, claimId: 'theirs' });
    expect(decideClaim(held, ask, NOW)).toEqual({ kind: 'wait', seconds: 11 });
    expect(decideClaim({ ...held, leaseUntilMs: NOW + 1 }, ask, NOW)).toEqual({ kind: 'wait', seconds: 1 });
  });

  it('takes over a lost attempt under its own number, at the limit or past a lower one', () => {
    const lost = state({ status: 'sending', attempts: 3, leaseUntilMs: NOW, claimId: 'theirs' });
    expect(decideClaim(lost, ask, NOW)).toEqual({ kind: 'takeover', attempt: 3 });
    expect(decideClaim(lost, { ...ask, maxAttempts: 1 }, NOW)).toEqual({ kind: 'takeover', attempt: 3 });
    expect(decideClaim({ ...lost, leaseUntilMs: undefined }, ask, NOW)).toEqual({ kind: 'takeover', attempt: 3 });
  });

  it('answers exhausted when the series has no attempts left, before looking at the due time', () => {
    expect(decideClaim(state({ attempts: 3, nextAttemptAtMs: NOW + 60_000 }), ask, NOW)).toEqual({
      kind: 'exhausted',
      attempts: 3,
    });
  });

  it('waits for a retry that is not due, then takes the next attempt', () => {
    const retrying = state({ attempts: 1, nextAttemptAtMs: NOW + 30_000 });
    expect(decideClaim(retrying, ask, NOW)).toEqual({ kind: 'wait', seconds: 30 });
    expect(decideClaim(retrying, ask, NOW + 30_000)).toEqual({ kind: 'next', attempt: 2 });
  });

  it('starts a reopened (pending) series at attempt 1', () => {
    expect(decideClaim(state({ status: 'pending', attempts: 0 }), ask, NOW)).toEqual({ kind: 'next', attempt: 1 });
  });
});

describe('pendingUntil and mayReopen', () => {
  it('is the lease end while sending, the due time while retrying, else the fallback', () => {
    expect(pendingUntil(state({ status: 'sending', leaseUntilMs: 5 }), 9)).toBe(5);
    expect(pendingUntil(state({ status: 'retrying', nextAttemptAtMs: 7 }), 9)).toBe(7);
    expect(pendingUntil(state({ status: 'pending' }), 9)).toBe(9);
  });

  it('lets only delivered and failed deliveries be reopened', () => {
    expect(
      ['pending', 'sending', 'retrying', 'delivered', 'failed', 'skipped'].filter((s) => mayReopen(s as never)),
    ).toEqual(['delivered', 'failed']);
    expect(mayReopen(undefined)).toBe(false);
  });
});

describe('decideReconcile', () => {
  const options = { graceMs: 60_000, maxReconciles: 3 };
  const stuck = (c: Partial<StuckCandidate> = {}): StuckCandidate => ({
    status: 'retrying',
    attempts: 1,
    pendingUntilMs: NOW - 120_000,
    reconciled: 0,
    requestKept: true,
    ...c,
  });

  it('puts back a record past its due time plus the grace that keeps its request', () => {
    expect(decideReconcile(stuck(), NOW, options)).toEqual({ kind: 'requeue' });
    expect(decideReconcile(stuck({ status: 'sending', leaseUntilMs: NOW - 120_000 }), NOW, options)).toEqual({
      kind: 'requeue',
    });
    expect(decideReconcile(stuck({ status: 'pending', attempts: 0 }), NOW, options)).toEqual({ kind: 'requeue' });
  });

  it('leaves alone what is gone, final, not pending, within the grace or leased', () => {
    expect(decideReconcile(undefined, NOW, options).kind).toBe('skip');
    expect(decideReconcile(stuck({ status: 'delivered' }), NOW, options).kind).toBe('skip');
    expect(decideReconcile(stuck({ pendingUntilMs: undefined }), NOW, options).kind).toBe('skip');
    expect(decideReconcile(stuck({ pendingUntilMs: NOW - 59_000 }), NOW, options).kind).toBe('skip');
    expect(decideReconcile(stuck({ leaseUntilMs: NOW + 1 }), NOW, options).kind).toBe('skip');
  });

  it('fails, with the reason, one that cannot be rebuilt or was put back often enough', () => {
    expect(decideReconcile(stuck({ status: 'sending', requestKept: false }), NOW, options)).toEqual({
      kind: 'fail',
      reason: expect.stringMatching(
        /^reconciler: stuck sending at attempt 1 with no queue message, and its request was not kept/,
      ),
    });
    expect(decideReconcile(stuck({ reconciled: 3 }), NOW, options)).toEqual({
      kind: 'fail',
      reason: expect.stringMatching(/after being put back on the queue 3 times/),
    });
  });
});
