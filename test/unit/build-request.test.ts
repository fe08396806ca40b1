import { describe, expect, it } from 'vitest';
import { buildRequest } from '../../shared/domain/build-request.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { CredentialError } from '../../shared/errors.ts';
import { CredentialSchema, type Credential } from '../../shared/schemas/credential.ts';
import { NO_RETRY } from '../../shared/schemas/node.ts';

const message: DeliveryMessage = {
  v: 1,
  delivery_id: 'whd_0123',
  organization_id: '42',
  workflow_id: 7,
  workflow_run_id: 1234,
  node_id: 'webhook-1',
  node_name: 'Notify CRM',
  method: 'POST',
  url: 'https://crm.example.com/hooks',
  headers: { 'X-Source': 'dograh' },
  body: '{"a":1}',
  credential_uuid: 'cred-1',
  retry: NO_RETRY,
  rendered_at: '2026-11-27T10:00:00.000Z',
};
const cred = (value: unknown): Credential => CredentialSchema.parse(value);

describe('buildRequest', () => {
  it('adds Content-Type, custom headers and the X-Dograh headers', () => {
    const request = buildRequest(message, cred({ type: 'NONE' }), 3, 30_000);
    expect(request).toMatchObject({ method: 'POST', url: message.url, body: '{"a":1}', timeoutMs: 30_000 });
    expect(request.headers).toMatchObject({
      'Content-Type': 'application/json',
      'X-Source': 'dograh',
      'X-Dograh-Delivery-Id': 'whd_0123',
      'X-Dograh-Workflow-Run-Id': '1234',
      'X-Dograh-Delivery-Attempt': '3',
    });
    expect(Object.keys(request.headers).map((h) => h.toLowerCase())).not.toContain('authorization');
  });
  it('sends no Content-Type without a body', () => {
    const request = buildRequest({ ...message, method: 'GET', body: null }, cred({ type: 'NONE' }), 1, 1000);
    expect(request.body).toBeNull();
    expect(request.headers['Content-Type']).toBeUndefined();
  });
  it('sends an API key in its header, X-API-Key by default', () => {
    expect(buildRequest(message, cred({ type: 'API_KEY', api_key: 'k1' }), 1, 1000).headers['X-API-Key']).toBe('k1');
    expect(
      buildRequest(message, cred({ type: 'api_key', api_key: 'k2', header_name: 'X-Key' }), 1, 1000).headers['X-Key'],
    ).toBe('k2');
  });
  it('sends a bearer token', () => {
    expect(buildRequest(message, cred({ type: 'bearer_token', token: 't0k' }), 1, 1000).headers['Authorization']).toBe(
      'Bearer t0k',
    );
  });
  it('sends basic auth as base64 of user:password', () => {
    const header = buildRequest(message, cred({ type: 'BASIC_AUTH', username: 'ada', password: 'p:ss' }), 1, 1000)
      .headers['Authorization'];
    expect(header).toBe(`Basic ${Buffer.from('ada:p:ss').toString('base64')}`);
  });
  it('sends a custom header credential', () => {
    expect(
      buildRequest(message, cred({ type: 'CUSTOM_HEADER', header_name: 'X-Tenant-Auth', header_value: 'v' }), 1, 1000)
        .headers['X-Tenant-Auth'],
    ).toBe('v');
  });
  it('lets the credential win over a custom header of the same name in any case', () => {
    const request = buildRequest(
      { ...message, headers: { 'x-key': 'from-node' } },
      cred({ type: 'API_KEY', api_key: 'secret', header_name: 'X-Key' }),
      1,
      1000,
    );
    expect(request.headers['x-key']).toBeUndefined();
    expect(request.headers['X-Key']).toBe('secret');
  });
  it('refuses a credential whose header value would inject a line', () => {
    expect(() =>
      buildRequest(
        message,
        cred({ type: 'CUSTOM_HEADER', header_name: 'X-A', header_value: 'v\r\nX-Evil: 1' }),
        1,
        1000,
      ),
    ).toThrow(CredentialError);
  });
  it('refuses a credential whose header name is not a token', () => {
    // Built past the schema, which refuses it already: the request builder is the last line.
    const unchecked = { type: 'API_KEY', api_key: 'k', header_name: 'X Bad' } as Credential;
    expect(() => buildRequest(message, unchecked, 1, 1000)).toThrow(CredentialError);
  });
});
