import { describe, expect, it } from 'vitest';
import { nextStep, timeline } from '../../cli/commands/inspect.ts';
import { createStyle } from '../../cli/format.ts';
import type { AttemptRecord, DeliveryRecord, ErrorClass } from '../../shared/ports/delivery-store.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

const NOW = Date.parse('2026-11-27T10:00:00Z');
const attempt = (error_class: ErrorClass, status_code: number | null = null): AttemptRecord => ({
  attempt: 1,
  at: '2026-11-27T09:00:00.000Z',
  duration_ms: 5,
  status_code,
  error_class,
  error_message: 'x',
  response_snippet: null,
});
const record = (r: Partial<DeliveryRecord>): DeliveryRecord =>
  ({
    delivery_id: 'whd_1',
    status: 'failed',
    attempts: 1,
    max_attempts: 3,
    attempt_log: [],
    request: makeDeliveryMessage(1),
    replayed_at: [],
    ...r,
  }) as DeliveryRecord;

describe('inspect: what next, by failure class', () => {
  it('a missing or unreadable credential: fix the credential, not the endpoint', () => {
    const advice = nextStep(record({ attempt_log: [attempt('credential')] }), '');
    expect(advice).toMatch(/^fix the credential/);
    expect(advice).not.toMatch(/fix the endpoint/);
  });

  it('a credential the endpoint refused (401/403): update the secret', () => {
    expect(nextStep(record({ attempt_log: [attempt('http_permanent', 401)] }), '')).toMatch(
      /refused the credential \(401\): update the secret/,
    );
  });

  it('a blocked or invalid request: fix the node, since a replay would send the same request', () => {
    for (const c of ['blocked', 'invalid'] as const)
      expect(nextStep(record({ attempt_log: [attempt(c)] }), ''), c).toMatch(
        /fix the node's endpoint URL or headers, then emit its run again/,
      );
  });

  it('other permanent answers: fix the receiver or payload, then replay', () => {
    expect(nextStep(record({ attempt_log: [attempt('http_permanent', 410)] }), ' --local')).toBe(
      "the endpoint refused the request (410): fix the receiver or the node's payload, then: webhooks replay whd_1 --local (or webhooks redrive --local)",
    );
  });

  it('an endpoint that kept failing: fix the endpoint, then replay, or redrive when nothing is kept', () => {
    expect(nextStep(record({ attempts: 3, attempt_log: [attempt('timeout')] }), '')).toMatch(
      /^the endpoint kept failing for 3 attempts: fix the endpoint, then: webhooks replay whd_1/,
    );
    expect(nextStep(record({ attempt_log: [attempt('connection')], request: null }), '')).toMatch(
      /webhooks redrive \(no rendered request is kept here to replay\)$/,
    );
  });

  it('stranded by the reconciler: emit the run again; never sent: fix the node', () => {
    expect(nextStep(record({ stranded: true, attempt_log: [attempt('none', 200)] }), '')).toMatch(/emit its run again/);
    expect(nextStep(record({}), '')).toMatch(/^it never reached the endpoint: fix the node/);
  });

  it('in flight: wait, unless it is well past when it should have moved (stuck: the reconciler has it)', () => {
    expect(nextStep(record({ status: 'retrying', pending_until: new Date(NOW + 60_000).toISOString() }), '', NOW)).toBe(
      'wait: it is still being delivered',
    );
    expect(
      nextStep(record({ status: 'sending', pending_until: new Date(NOW - 15 * 60_000).toISOString() }), '', NOW),
    ).toMatch(/^it looks stuck .*the reconciler puts it back on the queue/);
  });
});

describe('inspect: the attempt table', () => {
  it('says when an attempt went on the wire twice, after a refused cached credential', () => {
    const resent: AttemptRecord = { ...attempt('none', 200), error_message: null, resent_after_status: 401 };
    const rows = timeline(record({ status: 'delivered', attempt_log: [resent] }), createStyle(false)).join('\n');
    expect(rows).toMatch(/\b200\s+none\s+resent after 401 \(cached credential refused\)/);
    const once = timeline(
      record({ status: 'delivered', attempt_log: [{ ...resent, resent_after_status: undefined }] }),
      createStyle(false),
    );
    expect(once.join('\n')).not.toContain('resent');
  });
});
