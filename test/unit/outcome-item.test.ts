import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { claimedAttempt, parseItem, parseKey, stateOf, toRecord } from '../../shared/adapters/outcome-item.ts';
import { WebhookError } from '../../shared/errors.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

// An item as the claim of attempt 1 leaves it, and one as a failure index returns it.
const claimed = {
  pk: 'whd_1',
  organization_id: 'org-1',
  workflow_id: 7,
  workflow_run_id: 42,
  run_key: '42',
  node_id: 'webhook-1',
  node_name: 'Notify',
  method: 'POST',
  endpoint_host: 'https://crm.example.com',
  created_at: '2026-11-27T10:00:00.000Z',
  attempt_log: [],
  attempts: 1,
  max_attempts: 3,
  status: 'sending',
  lease_until: Date.parse('2026-11-27T10:01:00.000Z'),
  claim_id: 'c-1',
  pending_shard: '3',
  pending_until: '2026-11-27T10:01:00.000Z',
  updated_at: '2026-11-27T10:00:00.000Z',
  expires_at: 1_800_000_000,
};
const summary = {
  pk: 'whd_2',
  organization_id: 'org-1',
  workflow_id: 7,
  workflow_run_id: 42,
  node_id: 'webhook-2',
  node_name: 'Notify',
  method: 'POST',
  endpoint_host: 'https://crm.example.com',
  status: 'failed',
  attempts: 3,
  max_attempts: 3,
  last_status_code: 503,
  last_error: 'endpoint answered 503',
  created_at: '2026-11-27T10:00:00.000Z',
  updated_at: '2026-11-27T10:05:00.000Z',
  final_at: '2026-11-27T10:05:00.000Z',
  fail_org: 'org-1',
  request_kept: true,
};

describe('parseItem', () => {
  it('reads an item as a record, absent attributes as the port says (null, empty, false)', () => {
    expect(toRecord(parseItem(marshall(claimed)))).toEqual({
      delivery_id: 'whd_1',
      organization_id: 'org-1',
      workflow_id: 7,
      workflow_run_id: 42,
      node_id: 'webhook-1',
      node_name: 'Notify',
      method: 'POST',
      endpoint_host: 'https://crm.example.com',
      status: 'sending',
      attempts: 1,
      max_attempts: 3,
      last_status_code: null,
      last_error: null,
      created_at: '2026-11-27T10:00:00.000Z',
      updated_at: '2026-11-27T10:00:00.000Z',
      next_attempt_at: null,
      final_at: null,
      attempt_log: [],
      replayed_at: [],
      request: null,
      request_kept: false,
      dead_letter_pending: false,
      lease_until: '2026-11-27T10:01:00.000Z',
      pending_until: '2026-11-27T10:01:00.000Z',
      reconciled_at: [],
      stranded: false,
    });
  });

  it('reads a failure index summary, which carries no attempt log and no request', () => {
    expect(toRecord(parseItem(marshall(summary)))).toMatchObject({
      status: 'failed',
      last_status_code: 503,
      attempt_log: [],
      request: null,
      request_kept: true,
    });
  });

  it('gives the state rules the lease, the due time and the claim id', () => {
    expect(stateOf(parseItem(marshall({ ...claimed, next_attempt_at: 5 })))).toEqual({
      status: 'sending',
      attempts: 1,
      leaseUntilMs: claimed.lease_until,
      nextAttemptAtMs: 5,
      claimId: 'c-1',
    });
  });

  it('reads the kept request and the empty placeholders, each only if it still reads as one', () => {
    const message = makeDeliveryMessage(1);
    const empty = [{ field: 'data.payload_template', placeholder: '{{ x }}', reason: 'missing' }];
    const kept = { ...summary, request: JSON.stringify(message), empty_placeholders: JSON.stringify(empty) };
    expect(toRecord(parseItem(marshall(kept)))).toMatchObject({ request: message, empty_placeholders: empty });
    const stale = { ...summary, request: '{"v":2}', empty_placeholders: 'not json' };
    const record = toRecord(parseItem(marshall(stale)));
    expect(record.request).toBeNull();
    expect(record).not.toHaveProperty('empty_placeholders');
  });

  it('reads an attempt resent after a refused credential with the status that refused it', () => {
    const entry = {
      attempt: 1,
      at: '2026-11-27T10:00:00.000Z',
      duration_ms: 5,
      status_code: 200,
      error_class: 'none',
      error_message: null,
      response_snippet: 'ok',
    };
    const item = { ...claimed, attempt_log: [entry, { ...entry, attempt: 2, resent_after_status: 401 }] };
    const [first, second] = toRecord(parseItem(marshall(item))).attempt_log;
    expect(first).not.toHaveProperty('resent_after_status');
    expect(second).toEqual({ ...entry, attempt: 2, resent_after_status: 401 });
  });

  it('refuses a status outside the vocabulary, naming the delivery and the attribute', () => {
    expect(() => parseItem(marshall({ ...claimed, status: 'lost' }))).toThrow(
      /^outcome record whd_1: not a record this store writes: status: /,
    );
  });

  it('says what is wrong with an attribute in our words, whatever else the process has loaded', () => {
    // The reasons come from our error map (issues.ts), not from a zod locale, which the
    // deliver function, built on zod/mini, never loads.
    const { attempts: _, ...noCount } = claimed;
    expect(() => parseItem(marshall({ ...noCount, status: 'lost' }))).toThrow(
      'outcome record whd_1: not a record this store writes: status: must be one of pending, sending, retrying, delivered, failed, skipped, not the text "lost"; attempts: required (number)',
    );
  });

  it('names every bad attribute at once, in the attempt log too', () => {
    const { attempts: _, ...noCount } = claimed;
    const badAttempt = {
      attempt: 1,
      at: '2026-11-27T10:00:00.000Z',
      duration_ms: 5,
      status_code: null,
      error_class: 'gremlins',
      error_message: null,
      response_snippet: null,
    };
    let error: unknown;
    try {
      parseItem(marshall({ ...noCount, workflow_id: '7', attempt_log: [badAttempt] }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebhookError);
    const text = (error as Error).message;
    expect(text).toMatch(/workflow_id: /);
    expect(text).toMatch(/attempts: /);
    expect(text).toMatch(/attempt_log\.0\.error_class: /);
  });

  it('says so when an item has no id either', () => {
    expect(() => parseItem(marshall({ status: 'sending' }))).toThrow(/^outcome record \(no id\): /);
  });
});

describe('parseKey and claimedAttempt', () => {
  it('reads the delivery id of a keys-only index item', () => {
    expect(parseKey(marshall({ pk: 'whd_1', run_key: '42', node_id: 'webhook-1' }))).toBe('whd_1');
    expect(() => parseKey(marshall({ run_key: '42' }))).toThrow(/pk: /);
  });

  it('reads the attempt count the claim set, or nothing', () => {
    expect(claimedAttempt(marshall({ attempts: 2, status: 'sending' }))).toBe(2);
    expect(claimedAttempt(undefined)).toBeUndefined();
    expect(claimedAttempt(marshall({ attempts: 'two' }))).toBeUndefined();
  });
});
