import { describe, expect, it } from 'vitest';
import {
  classifyError,
  classifyStatus,
  nextAttempt,
  parseRetryAfter,
  type AttemptVerdict,
} from '../../shared/domain/retry-policy.ts';
import {
  BlockedRequestError,
  CredentialError,
  CredentialUnavailableError,
  InvalidTemplateError,
  NetworkError,
  TransientDeliveryError,
} from '../../shared/errors.ts';
import { NO_RETRY, type RetryConfig } from '../../shared/schemas/node.ts';

const exponential: RetryConfig = {
  max_attempts: 5,
  backoff: 'exponential',
  initial_delay_seconds: 30,
  max_delay_seconds: 3600,
};
const fixed: RetryConfig = { max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 10, max_delay_seconds: 3600 };
const transient = (retryAfterSeconds?: number): AttemptVerdict => ({
  kind: 'transient',
  errorClass: 'http_transient',
  status: 503,
  message: 'endpoint answered 503',
  ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
});
const MIDDLE = 0.5; // no jitter: 0.9 + 0.2 * 0.5 = 1

describe('classifyStatus', () => {
  it.each([200, 201, 204, 299])('treats %i as success', (status) => {
    expect(classifyStatus(status).kind).toBe('success');
  });
  it.each([408, 425, 429, 500, 502, 503, 504, 599])('treats %i as transient', (status) => {
    expect(classifyStatus(status)).toMatchObject({ kind: 'transient', errorClass: 'http_transient', status });
  });
  it.each([301, 302, 304, 400, 401, 403, 404, 409, 410, 422, 499])('treats %i as permanent', (status) => {
    expect(classifyStatus(status)).toMatchObject({ kind: 'permanent', errorClass: 'http_permanent', status });
  });
  it('carries Retry-After on a transient status', () => {
    expect(classifyStatus(429, 12)).toMatchObject({ kind: 'transient', retryAfterSeconds: 12 });
  });
});

describe('classifyError', () => {
  it('treats a timeout as transient of class timeout', () => {
    expect(classifyError(new NetworkError('timeout', 'timed out'))).toMatchObject({
      kind: 'transient',
      errorClass: 'timeout',
    });
  });
  it('treats refused and reset connections as transient', () => {
    expect(classifyError(new NetworkError('connection', 'refused'))).toMatchObject({
      kind: 'transient',
      errorClass: 'connection',
    });
    expect(classifyError(new NetworkError('dns', 'not found'))).toMatchObject({
      kind: 'transient',
      errorClass: 'connection',
    });
  });
  it('treats a blocked address as permanent', () => {
    expect(classifyError(new BlockedRequestError('loopback'))).toMatchObject({
      kind: 'permanent',
      errorClass: 'blocked',
    });
  });
  it('treats a missing credential as permanent, naming it', () => {
    const outcome = classifyError(new CredentialError('webhooks/credentials/1/abc', 'not found'));
    expect(outcome).toMatchObject({ kind: 'permanent', errorClass: 'credential' });
    expect(outcome.kind !== 'success' && outcome.message).toContain('webhooks/credentials/1/abc');
  });
  it('treats a credential store that cannot answer now as a transient credential failure, naming the secret', () => {
    const outcome = classifyError(
      new CredentialUnavailableError(
        'webhooks/credentials/1/abc',
        'Secrets Manager could not answer (ThrottlingException)',
      ),
    );
    expect(outcome).toMatchObject({ kind: 'transient', errorClass: 'credential', status: null });
    expect(outcome.kind !== 'success' && outcome.message).toContain('webhooks/credentials/1/abc');
  });
  it('keeps the status and Retry-After of any other transient delivery error', () => {
    expect(classifyError(new TransientDeliveryError('busy', { status: 503, retryAfterSeconds: 7 }))).toEqual({
      kind: 'transient',
      errorClass: 'http_transient',
      status: 503,
      message: 'busy',
      retryAfterSeconds: 7,
    });
  });
  it('treats a template error as permanent', () => {
    expect(classifyError(new InvalidTemplateError('data.endpoint_url', 'bad'))).toMatchObject({
      kind: 'permanent',
      errorClass: 'invalid',
    });
  });
  it('treats an unknown error as transient, so nothing is lost to a bug in a dependency', () => {
    expect(classifyError(new TypeError('boom'))).toMatchObject({ kind: 'transient', errorClass: 'unknown' });
  });
});

describe('nextAttempt', () => {
  it('is delivered on success', () => {
    expect(nextAttempt({ kind: 'success', status: 200 }, 1, exponential, MIDDLE)).toEqual({ outcome: 'delivered' });
  });
  it('fails at once on a permanent outcome, whatever attempts are left', () => {
    const decision = nextAttempt(
      { kind: 'permanent', errorClass: 'http_permanent', status: 404, message: 'endpoint answered 404' },
      1,
      exponential,
      MIDDLE,
    );
    expect(decision).toEqual({ outcome: 'failed', reason: 'endpoint answered 404' });
  });
  it('gives exactly one attempt without retry_config', () => {
    expect(nextAttempt(transient(), 1, NO_RETRY, MIDDLE)).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('the only attempt'),
    });
  });
  it('doubles the exponential delay from the initial delay', () => {
    expect([1, 2, 3, 4].map((n) => nextAttempt(transient(), n, exponential, MIDDLE))).toEqual([
      { outcome: 'retrying', delaySeconds: 30 },
      { outcome: 'retrying', delaySeconds: 60 },
      { outcome: 'retrying', delaySeconds: 120 },
      { outcome: 'retrying', delaySeconds: 240 },
    ]);
  });
  it('waits the same delay with fixed backoff', () => {
    expect(nextAttempt(transient(), 1, fixed, MIDDLE)).toEqual({ outcome: 'retrying', delaySeconds: 10 });
    expect(nextAttempt(transient(), 2, fixed, MIDDLE)).toEqual({ outcome: 'retrying', delaySeconds: 10 });
  });
  it('caps the delay at max_delay_seconds', () => {
    const config = { ...exponential, max_attempts: 25, max_delay_seconds: 100 };
    expect(nextAttempt(transient(), 10, config, 0.999)).toEqual({ outcome: 'retrying', delaySeconds: 100 });
  });
  it('spreads delays by at most ten percent either way', () => {
    expect(nextAttempt(transient(), 2, exponential, 0)).toEqual({ outcome: 'retrying', delaySeconds: 54 });
    expect(nextAttempt(transient(), 2, exponential, 0.9999)).toEqual({ outcome: 'retrying', delaySeconds: 66 });
  });
  it('fails after the last attempt', () => {
    expect(nextAttempt(transient(), 5, exponential, MIDDLE)).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('all 5 attempts'),
    });
  });
  it('honours a Retry-After longer than the backoff', () => {
    expect(nextAttempt(transient(600), 1, exponential, MIDDLE)).toEqual({ outcome: 'retrying', delaySeconds: 600 });
  });
  it('honours Retry-After only up to the node maximum delay', () => {
    expect(nextAttempt(transient(99_999), 1, exponential, MIDDLE)).toEqual({ outcome: 'retrying', delaySeconds: 3600 });
  });
  it('keeps the backoff when Retry-After is shorter', () => {
    expect(nextAttempt(transient(1), 2, exponential, MIDDLE)).toEqual({ outcome: 'retrying', delaySeconds: 60 });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');
  it('reads delay seconds', () => expect(parseRetryAfter(' 120 ', now)).toBe(120));
  it('reads an HTTP date', () => expect(parseRetryAfter('Fri, 27 Nov 2026 10:01:30 GMT', now)).toBe(90));
  it('turns a date in the past into zero', () => expect(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', now)).toBe(0));
  it('ignores what it cannot read', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
