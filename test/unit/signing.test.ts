import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { buildRequest, signRequest } from '../../shared/domain/build-request.ts';
import type { DeliveryMessage } from '../../shared/domain/delivery.ts';
import { signatureHeaders, signatureOf, signingSecretProblem } from '../../shared/domain/signing.ts';
import { CredentialSchema, SigningSecretSchema } from '../../shared/schemas/credential.ts';
import { NO_RETRY } from '../../shared/schemas/node.ts';

// The known-answer vector of the Standard Webhooks reference libraries
// (libraries/javascript/src/webhook.test.ts, libraries/python/tests/test_webhooks.py: "sign function works").
const KAT = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  expected: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const SECRET_A = 'whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=';
const SECRET_B = 'whsec_K7SUYjEkNa+1UdX+mTyr1MUCIQfZlVD7';

const message: DeliveryMessage = {
  v: 1,
  delivery_id: 'whd_0123456789abcdef0123456789abcdef',
  organization_id: '42',
  workflow_id: 7,
  workflow_run_id: 1234,
  node_id: 'webhook-1',
  node_name: 'Notify CRM',
  method: 'POST',
  url: 'https://crm.example.com/hooks',
  headers: { 'X-Source': 'dograh', 'Webhook-Signature': 'v1,forged' },
  body: '{"name":"Zoë","run":1234}',
  credential_uuid: null,
  retry: NO_RETRY,
  rendered_at: '2026-11-27T10:00:00.000Z',
};

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('Standard Webhooks signatures', () => {
  it("matches the reference libraries' known-answer vector", () => {
    expect(signatureOf(KAT.id, KAT.timestamp, KAT.payload, [KAT.secret])).toBe(KAT.expected);
    // And the reference library itself agrees on the same input.
    expect(new Webhook(KAT.secret).sign(KAT.id, new Date(KAT.timestamp * 1000), KAT.payload)).toBe(KAT.expected);
  });

  it('writes one space-separated signature per secret, in order', () => {
    const both = signatureOf(KAT.id, KAT.timestamp, KAT.payload, [KAT.secret, SECRET_A]);
    const [first, second, ...rest] = both.split(' ');
    expect(first).toBe(KAT.expected);
    expect(second).toBe(signatureOf(KAT.id, KAT.timestamp, KAT.payload, [SECRET_A]));
    expect(rest).toEqual([]);
  });

  it('is verified by the standardwebhooks package as a receiver would, with every secret of a rotation', () => {
    const ts = nowSeconds();
    const headers = signatureHeaders(message.delivery_id, ts, message.body, [SECRET_A, SECRET_B]);
    expect(headers['webhook-id']).toBe(message.delivery_id);
    expect(headers['webhook-timestamp']).toBe(String(ts));
    // A receiver that knows only the old secret, or only the new one, both verify.
    expect(new Webhook(SECRET_A).verify(message.body as string, headers)).toEqual({ name: 'Zoë', run: 1234 });
    expect(new Webhook(SECRET_B).verify(message.body as string, headers)).toEqual({ name: 'Zoë', run: 1234 });
  });

  it('fails verification when a byte of the body differs, or with another secret', () => {
    const headers = signatureHeaders(message.delivery_id, nowSeconds(), message.body, [SECRET_A]);
    expect(() => new Webhook(SECRET_A).verify('{"name":"Zoe","run":1234}', headers)).toThrow(/signature/i);
    expect(() => new Webhook(SECRET_B).verify(message.body as string, headers)).toThrow(/signature/i);
  });

  it('signs a request without a body over the empty string', () => {
    const headers = signatureHeaders('whd_x', 1700000000, null, [SECRET_A]);
    expect(headers['webhook-signature']).toBe(signatureOf('whd_x', 1700000000, '', [SECRET_A]));
  });
});

describe('signRequest', () => {
  it('adds the three headers over exactly the body sent, replacing custom headers of the same names', () => {
    const ts = nowSeconds();
    const signed = signRequest(buildRequest(message, { type: 'NONE' }, 1, 1000), message.delivery_id, ts, [SECRET_A]);
    const names = Object.keys(signed.headers).map((h) => h.toLowerCase());
    expect(names.filter((h) => h === 'webhook-signature')).toEqual(['webhook-signature']);
    expect(signed.headers['X-Source']).toBe('dograh');
    expect(signed.body).toBe(message.body);
    expect(new Webhook(SECRET_A).verify(signed.body as string, signed.headers as Record<string, string>)).toBeTruthy();
  });

  it('leaves a request alone when there is no signing secret', () => {
    const request = buildRequest(message, { type: 'NONE' }, 1, 1000);
    expect(signRequest(request, message.delivery_id, 1, null)).toBe(request);
    expect(signRequest(request, message.delivery_id, 1, [])).toBe(request);
  });
});

describe('signing secrets', () => {
  it('accepts whsec_ secrets of 24 to 64 bytes', () => {
    expect(signingSecretProblem(KAT.secret)).toBeUndefined();
    expect(signingSecretProblem(SECRET_A)).toBeUndefined();
    expect(signingSecretProblem(`whsec_${Buffer.alloc(64, 7).toString('base64')}`)).toBeUndefined();
  });

  it.each([
    ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', /whsec_/],
    ['not base64', 'whsec_not*base64!', /base64/],
    ['too short', `whsec_${Buffer.alloc(16).toString('base64')}`, /24 to 64 bytes.*16/],
    ['too long', `whsec_${Buffer.alloc(65).toString('base64')}`, /24 to 64 bytes.*65/],
  ])('refuses a secret with %s, without quoting it', (_, secret, reason) => {
    const problem = signingSecretProblem(secret) ?? '';
    expect(problem).toMatch(reason);
    expect(problem).not.toContain(secret.slice(6));
  });

  it('parses a SIGNING secret (either case) and refuses a bad list', () => {
    expect(SigningSecretSchema.parse({ type: 'signing', secrets: [SECRET_A, SECRET_B] })).toEqual({
      type: 'SIGNING',
      secrets: [SECRET_A, SECRET_B],
    });
    expect(SigningSecretSchema.safeParse({ type: 'SIGNING', secrets: [] }).success).toBe(false);
    expect(SigningSecretSchema.safeParse({ type: 'SIGNING', secrets: ['whsec_short'] }).success).toBe(false);
    expect(SigningSecretSchema.safeParse({ type: 'SIGNING', secrets: Array(6).fill(SECRET_A) }).success).toBe(false);
  });
});

describe('OAuth2 client credentials schema', () => {
  it('defaults client_auth to basic and keeps scope and audience optional', () => {
    expect(
      CredentialSchema.parse({
        type: 'oauth2_client_credentials',
        token_url: 'https://auth.example/token',
        client_id: 'id',
        client_secret: 's',
      }),
    ).toEqual({
      type: 'OAUTH2_CLIENT_CREDENTIALS',
      token_url: 'https://auth.example/token',
      client_id: 'id',
      client_secret: 's',
      client_auth: 'basic',
    });
  });

  it('refuses a token URL that is not http(s) and an unknown client_auth', () => {
    const base = { type: 'OAUTH2_CLIENT_CREDENTIALS', client_id: 'id', client_secret: 's' };
    expect(CredentialSchema.safeParse({ ...base, token_url: 'file:///etc/passwd' }).success).toBe(false);
    expect(CredentialSchema.safeParse({ ...base, token_url: 'https://a/t', client_auth: 'jwt' }).success).toBe(false);
  });
});
