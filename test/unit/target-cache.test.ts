import { describe, expect, it } from 'vitest';
import { TargetCache } from '../../shared/adapters/guarded-http-sender.ts';
import { BlockedRequestError } from '../../shared/errors.ts';

describe("the sender's cache of parsed endpoint URLs", () => {
  it('gives the same parse as a first parse, and keeps it', () => {
    const cache = new TargetCache(2);
    const first = cache.of('https://hooks.example.com:8443/a/b?x=1');
    expect(first).toEqual({
      protocol: 'https:',
      host: 'hooks.example.com',
      port: 8443,
      path: '/a/b?x=1',
      literalIp: false,
      display: 'https://hooks.example.com:8443',
    });
    expect(cache.of('https://hooks.example.com:8443/a/b?x=1')).toBe(first);
    expect(cache.of('http://[::1]/')).toMatchObject({ host: '::1', port: 80, literalIp: true });
  });

  it('stays bounded: past its capacity the least recently used URL is parsed anew', () => {
    const cache = new TargetCache(2);
    const a = cache.of('https://a.example/');
    const b = cache.of('https://b.example/');
    expect(cache.of('https://a.example/')).toBe(a); // a is now the most recent
    cache.of('https://c.example/'); // drops b
    expect(cache.of('https://a.example/')).toBe(a);
    expect(cache.of('https://b.example/')).not.toBe(b);
    expect(cache.of('https://b.example/')).toEqual(b);
  });

  it('keeps no URL that does not parse: it is refused every time, in our words', () => {
    const cache = new TargetCache(2);
    for (let i = 0; i < 2; i++) {
      expect(() => cache.of('not a url')).toThrow(new BlockedRequestError('endpoint URL is not a valid URL'));
      expect(() => cache.of('ftp://files.example/')).toThrow(BlockedRequestError);
    }
  });
});
