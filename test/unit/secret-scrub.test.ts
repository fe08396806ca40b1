import { describe, expect, it } from 'vitest';
import { credentialSecrets, scrubSecrets } from '../../shared/domain/secret-scrub.ts';
import { growthRatio, LINEAR_GROWTH_LIMIT } from '../fixtures/linear-time.ts';

const SECRET = 'sk-live_Ab/9+Zq"x é';
const R = '[redacted]';

describe('scrubSecrets', () => {
  it.each([
    ['as sent', SECRET],
    ['URL-encoded', encodeURIComponent(SECRET)],
    ['form-encoded', encodeURIComponent(SECRET).replaceAll('%20', '+')],
    ['URL-encoded with lower-case escapes', encodeURIComponent(SECRET).toLowerCase()],
    ['JSON-escaped', JSON.stringify(SECRET).slice(1, -1)],
    ['JSON-escaped with escaped slashes', JSON.stringify(SECRET).slice(1, -1).replaceAll('/', '\\/')],
    ['JSON-escaped as ASCII', '"sk-live_Ab/9+Zq\\"x \\u00e9"'.slice(1, -1)],
    ['HTML-escaped', 'sk-live_Ab/9+Zq&quot;x é'],
    ['upper-cased', SECRET.toUpperCase()],
    ['lower-cased', SECRET.toLowerCase()],
    ['base64', Buffer.from(SECRET).toString('base64')],
    ['base64url', Buffer.from(SECRET).toString('base64url')],
  ])('removes a secret echoed %s', (_form, echoed) => {
    const out = scrubSecrets(`{"echo":"${echoed}","ok":false}`, [SECRET]);
    expect(out).toContain(R);
    expect(out).not.toContain('Ab/9');
    expect(out?.toLowerCase()).not.toContain('sk-live_ab');
    expect(out).toContain('"ok":false');
  });

  it('removes a secret inside a longer base64 blob, at every alignment', () => {
    for (const before of ['', 'a', 'ab']) {
      const blob = Buffer.from(`${before}Authorization: Bearer ${SECRET} and more`).toString('base64');
      const out = scrubSecrets(blob, [SECRET]) ?? '';
      // What is left around the mark decodes to the neighbours, never to the secret.
      expect(out).toContain(R);
      expect(Buffer.from(out.replace(R, ''), 'base64').toString('latin1')).not.toContain('Ab/9');
    }
  });

  it('removes a secret cut off at a quote or at the end of the text, from 8 characters on', () => {
    const secret = 'tok_0123456789abcdef';
    expect(scrubSecrets(`{"key":"${secret.slice(0, 12)}"}`, [secret])).toBe(`{"key":"${R}"}`);
    expect(scrubSecrets(`debug: header was ${secret.slice(0, 10)}`, [secret])).toBe(`debug: header was ${R}`);
    expect(scrubSecrets(`masked "…${secret.slice(-9)}"`, [secret])).toBe(`masked "…${R}"`);
    // Seven characters are not a cut secret; a longer run that goes on differently is not one either.
    expect(scrubSecrets(`"${secret.slice(0, 7)}"`, [secret])).toBe(`"${secret.slice(0, 7)}"`);
    expect(scrubSecrets(`"${secret.slice(0, 12)}XYZ"`, [secret])).toBe(`"${secret.slice(0, 12)}XYZ"`);
  });

  it('leaves short values and text without secrets alone, and null as null', () => {
    expect(scrubSecrets('pin 123 ok', ['123'])).toBe('pin 123 ok');
    expect(scrubSecrets('nothing to see', [SECRET])).toBe('nothing to see');
    expect(scrubSecrets(null, [SECRET])).toBeNull();
  });

  it('keeps positions right around characters whose lower case is longer', () => {
    expect(scrubSecrets('İİ secret-value-1 İ', ['SECRET-VALUE-1'])).toBe(`İİ ${R} İ`);
  });

  it('runs in linear time on a hostile echo of a hostile secret', () => {
    // The tenant owns both the endpoint and the secret: a naive search would be O(text x secret).
    const secret = `${'a'.repeat(2000)}b`;
    expect(growthRatio((text) => scrubSecrets(text, [secret]), 'a')).toBeLessThan(LINEAR_GROWTH_LIMIT);
    expect(growthRatio((text) => scrubSecrets(text, [secret]), 'aaaaaaaa"')).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });
});

describe('credentialSecrets', () => {
  it('gives the Basic-auth password, the pair and the header form, so each is scrubbed', () => {
    const secrets = credentialSecrets({ type: 'BASIC_AUTH', username: 'ops', password: 'hunter2-pw' });
    const header = Buffer.from('ops:hunter2-pw').toString('base64');
    expect(secrets).toContain(header);
    expect(scrubSecrets(`Authorization: Basic ${header}`, secrets)).toBe(`Authorization: Basic ${R}`);
    expect(scrubSecrets('you sent ops:hunter2-pw', secrets)).toBe(`you sent ${R}`);
  });

  it('gives an OAuth2 client secret whole and as the token endpoint saw it in HTTP Basic, form-encoded', () => {
    const credential = {
      type: 'OAUTH2_CLIENT_CREDENTIALS',
      token_url: 'https://auth.example.com/token',
      client_id: 'app id',
      client_secret: 's3cret/value+x',
      client_auth: 'basic',
    } as const;
    const secrets = credentialSecrets(credential);
    const basic = Buffer.from('app+id:s3cret%2Fvalue%2Bx').toString('base64');
    expect(scrubSecrets(`token endpoint said: bad client s3cret/value+x`, secrets)).toBe(
      `token endpoint said: bad client ${R}`,
    );
    expect(scrubSecrets(`echo: Basic ${basic}`, secrets)).not.toContain(basic);
  });
});
