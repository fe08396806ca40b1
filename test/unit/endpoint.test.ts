import { describe, expect, it } from 'vitest';
import { endpointHost } from '../../shared/domain/endpoint.ts';

describe('endpointHost', () => {
  it.each([
    ['https://crm.example.com/hooks/1?token=abc#x', 'https://crm.example.com'],
    ['HTTPS://user:pw@CRM.Example.com:443/x', 'https://crm.example.com'],
    ['http://crm.example.com:8080/a/b', 'http://crm.example.com:8080'],
    ['http://[::1]:3000/cb', 'http://[::1]:3000'],
    ['http://127.0.0.1:9/x?y=1', 'http://127.0.0.1:9'],
  ])('gives %s as %s', (url, host) => {
    expect(endpointHost(url)).toBe(host);
  });

  it.each([['not a url'], [''], ['mailto:ada@example.com'], ['/relative/path?token=abc']])(
    'does not echo the unparseable %j',
    (input) => {
      expect(endpointHost(input)).toBe('');
    },
  );
});
