import { describe, expect, it } from 'vitest';
import { parseCredential } from '../../shared/adapters/file-credential-store.ts';
import { authHeader } from '../../shared/domain/build-request.ts';
import { credentialHeaderProblem, dropReason } from '../../shared/domain/headers.ts';
import { CredentialError } from '../../shared/errors.ts';
import type { AttemptRecord } from '../../shared/ports/delivery-store.ts';
import { CredentialSchema, type Credential } from '../../shared/schemas/credential.ts';
import { deliverMessage } from '../../shared/use-cases/deliver-message.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';

const RESERVED = [
  'Host',
  'connection',
  'Upgrade',
  'Expect',
  'Content-Type',
  'CONTENT-LENGTH',
  'Transfer-Encoding',
  'Keep-Alive',
  'TE',
  'Trailer',
  'Proxy-Connection',
  'X-Dograh-Delivery-Id',
  'x-dograh-anything',
];

describe("a credential's header_name follows the custom-header rule", () => {
  it.each(RESERVED)('refuses %s for API_KEY and CUSTOM_HEADER credentials', (name) => {
    expect(CredentialSchema.safeParse({ type: 'api_key', api_key: 'k', header_name: name }).success).toBe(false);
    expect(CredentialSchema.safeParse({ type: 'CUSTOM_HEADER', header_name: name, header_value: 'v' }).success).toBe(
      false,
    );
  });

  it.each(RESERVED)('is the same set a custom header %s is dropped for', (name) => {
    expect(dropReason(name)).toBeDefined();
    expect(credentialHeaderProblem(name)).toBeDefined();
  });

  it.each(['Authorization', 'X-API-Key', 'X-Tenant-Auth', 'api-key'])(
    'accepts %s, a name a credential is meant for',
    (name) => {
      expect(CredentialSchema.safeParse({ type: 'API_KEY', api_key: 'k', header_name: name }).success).toBe(true);
    },
  );

  it('names the credential and the field, never the value, when a secret holds a reserved header_name', () => {
    const read = () =>
      parseCredential('webhooks/credentials/org-1/cred-1', {
        type: 'API_KEY',
        api_key: 'sk-live-1234567890',
        header_name: 'Host',
      });
    expect(read).toThrow(CredentialError);
    expect(read).toThrow(
      /^credential webhooks\/credentials\/org-1\/cred-1: not a valid credential: header_name: names a header the transport sets \(Host/,
    );
    expect(read).not.toThrow(/sk-live/);
  });

  it('is checked again where the auth header is made', () => {
    const unchecked = {
      type: 'CUSTOM_HEADER',
      header_name: 'X-Dograh-Delivery-Attempt',
      header_value: '1',
    } as Credential;
    expect(() => authHeader(unchecked, 'webhooks/credentials/org-1/cred-1')).toThrow(
      'credential webhooks/credentials/org-1/cred-1: header_name names an X-Dograh-* header, which the delivery system sets',
    );
  });

  it('fails the delivery for good, with the reason, and never sends', async () => {
    const { d } = fakeDeliverDeps();
    const sent: unknown[] = [];
    const records: AttemptRecord[] = [];
    const deps = {
      ...d,
      sender: {
        send: async (request: unknown) => (
          sent.push(request), { status: 200, headers: {}, bodySnippet: '', durationMs: 1 }
        ),
      },
      credentials: {
        get: async () =>
          parseCredential('webhooks/credentials/org-1/cred-1', {
            type: 'CUSTOM_HEADER',
            header_name: 'Transfer-Encoding',
            header_value: 'chunked',
          }),
        invalidate() {},
        signingSecrets: async () => null,
      },
      store: { ...d.store, recordAttempt: async (_m: unknown, record: AttemptRecord) => void records.push(record) },
    };
    const body = JSON.stringify(makeDeliveryMessage(0, { credential_uuid: 'cred-1' }));
    expect(await deliverMessage({ body, receiptHandle: 'r', receivedAtMs: NOW }, deps)).toBe('delete');
    expect(sent).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ error_class: 'credential', status_code: null });
    expect(records[0]?.error_message).toMatch(
      /^credential webhooks\/credentials\/org-1\/cred-1: not a valid credential: header_name: names a header the transport sets/,
    );
  });
});
