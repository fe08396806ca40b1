import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/**
 * Standard Webhooks signatures (symmetric, `v1`): HMAC-SHA256 over
 * `msg_id.timestamp.body` with a `whsec_<base64>` secret, written as
 * `v1,<base64>`; several secrets during a rotation give several signatures,
 * separated by spaces. Pure (a cache of decoded keys aside): time comes in as an argument.
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 */

export const SIGNING_SECRET_PREFIX = 'whsec_';
/** The spec's key size: between 24 and 64 random bytes. */
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;
/** A rotation needs two; a few more leave room for an overlap. Bounds the header and the work per request. */
export const MAX_SIGNING_SECRETS = 5;

export const WEBHOOK_ID = 'webhook-id';
export const WEBHOOK_TIMESTAMP = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE = 'webhook-signature';

// Standard base64 with its padding; linear (no nested quantifiers).
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why a `whsec_` secret cannot sign, or undefined when it can. Never quotes the secret. */
export function signingSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SIGNING_SECRET_PREFIX)) return `must start with ${SIGNING_SECRET_PREFIX}`;
  const encoded = secret.slice(SIGNING_SECRET_PREFIX.length);
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0)
    return `must be ${SIGNING_SECRET_PREFIX} followed by standard base64`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    return `must hold ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes once decoded (it holds ${bytes})`;
  }
  return undefined;
}

/** The key bytes of a `whsec_` secret. Call `signingSecretProblem` first: this does not check. */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.slice(SIGNING_SECRET_PREFIX.length), 'base64');
}

// Decoded keys by secret: an HMAC keyed with a KeyObject costs about a sixth of one keyed
// with raw bytes on Node 24 (bench/signing.bench.ts). Bounded: cleared when full.
const MAX_KEYS = 1000;
const keys = new Map<string, KeyObject>();

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    key = createSecretKey(signingKey(secret));
    keys.set(secret, key);
  }
  return key;
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, space-separated. */
export function signatureOf(id: string, timestampSeconds: number, body: string, secrets: readonly string[]): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', keyOf(secret)).update(content, 'utf8').digest('base64')}`)
    .join(' ');
}

/**
 * The three Standard Webhooks headers of a request. `id` and the timestamp are
 * ours, never a tenant's (the spec: no `.` in them); `body` is exactly the text
 * sent, "" for a request without one.
 */
export function signatureHeaders(
  id: string,
  timestampSeconds: number,
  body: string | null,
  secrets: readonly string[],
): Record<string, string> {
  return {
    [WEBHOOK_ID]: id,
    [WEBHOOK_TIMESTAMP]: String(timestampSeconds),
    [WEBHOOK_SIGNATURE]: signatureOf(id, timestampSeconds, body ?? '', secrets),
  };
}
