import { describe, expect, it } from 'vitest';
import {
  LOCAL_ADDRESS_POLICY,
  STRICT_ADDRESS_POLICY,
  addressRange,
  classifyAddress,
  parseIpAddress,
} from '../../shared/net/address-policy.ts';
import type { AddressPolicy } from '../../shared/net/address-policy.ts';

const PRIVATE_OPT_IN: AddressPolicy = { allowLoopback: false, allowPrivate: true };
const EVERYTHING_OPTED_IN: AddressPolicy = { allowLoopback: true, allowPrivate: true };

function reasonOf(ip: string, policy: AddressPolicy = STRICT_ADDRESS_POLICY): string | undefined {
  const verdict = classifyAddress(ip, policy);
  return verdict.allowed ? undefined : verdict.reason;
}

describe('classifyAddress, strict policy', () => {
  // [address, text the reason must contain]; first and last address of each range
  // where it matters, so an off-by-one prefix length shows up.
  const blockedV4: ReadonlyArray<readonly [string, string]> = [
    ['0.0.0.0', '0.0.0.0/8'],
    ['0.255.255.255', '0.0.0.0/8'],
    ['10.0.0.0', 'private 10.0.0.0/8'],
    ['10.255.255.255', 'private 10.0.0.0/8'],
    ['100.64.0.0', '100.64.0.0/10'],
    ['100.127.255.255', '100.64.0.0/10'],
    ['127.0.0.1', 'loopback 127.0.0.0/8'],
    ['127.255.255.254', 'loopback 127.0.0.0/8'],
    ['169.254.0.1', 'link-local 169.254.0.0/16'],
    ['169.254.169.254', 'metadata 169.254.169.254'],
    ['169.254.170.2', 'link-local'],
    ['172.16.0.0', 'private 172.16.0.0/12'],
    ['172.31.255.255', 'private 172.16.0.0/12'],
    ['192.0.0.8', '192.0.0.0/24'],
    ['192.0.2.1', 'documentation 192.0.2.0/24'],
    ['192.168.0.1', 'private 192.168.0.0/16'],
    ['192.168.255.255', 'private 192.168.0.0/16'],
    ['198.18.0.1', 'benchmarking 198.18.0.0/15'],
    ['198.19.255.255', 'benchmarking 198.18.0.0/15'],
    ['198.51.100.7', 'documentation 198.51.100.0/24'],
    ['203.0.113.9', 'documentation 203.0.113.0/24'],
    ['224.0.0.1', 'multicast 224.0.0.0/4'],
    ['239.255.255.250', 'multicast 224.0.0.0/4'],
    ['240.0.0.1', 'reserved 240.0.0.0/4'],
    ['255.255.255.254', 'reserved 240.0.0.0/4'],
    ['255.255.255.255', 'broadcast 255.255.255.255'],
  ];
  it.each(blockedV4)('blocks IPv4 %s (%s)', (ip, reason) => {
    expect(reasonOf(ip)).toContain(reason);
  });

  const allowedV4 = [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.255',
    '192.0.3.0',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '203.0.112.255',
    '223.255.255.255',
  ];
  it.each(allowedV4)('allows public IPv4 %s', (ip) => {
    expect(classifyAddress(ip)).toEqual({ allowed: true });
  });

  const blockedV6: ReadonlyArray<readonly [string, string]> = [
    ['::', 'unspecified'],
    ['::1', 'loopback ::1'],
    ['0:0:0:0:0:0:0:1', 'loopback ::1'],
    ['[::1]', 'loopback ::1'],
    ['fe80::1', 'link-local fe80::/10'],
    ['febf:ffff::1', 'link-local fe80::/10'],
    ['fe80::1%eth0', 'link-local fe80::/10'],
    ['fc00::1', 'unique-local fc00::/7'],
    ['fdff:ffff::1', 'unique-local fc00::/7'],
    ['fd00:ec2::254', 'metadata fd00:ec2::'],
    ['FD00:EC2:0:0:0:0:0:254', 'metadata fd00:ec2::'],
    ['ff02::1', 'multicast ff00::/8'],
    ['ff05::1:3', 'multicast ff00::/8'],
    ['2001:db8::1', 'documentation 2001:db8::/32'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation 2001:db8::/32'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'IETF protocol assignments 2001::/23'],
    ['3fff::1', 'documentation 3fff::/20'],
    ['fec0::1', 'site-local'],
    ['100::1', 'discard-only'],
    ['4000::1', 'not global unicast'],
  ];
  it.each(blockedV6)('blocks IPv6 %s (%s)', (ip, reason) => {
    expect(reasonOf(ip)).toContain(reason);
  });

  const allowedV6 = ['2606:4700:4700::1111', '2a00:1450:4001:82a::200e', '2600::', '3ffe::1', '2001:4860:4860::8888'];
  it.each(allowedV6)('allows public IPv6 %s', (ip) => {
    expect(classifyAddress(ip)).toEqual({ allowed: true });
  });
});

describe('classifyAddress, globally reachable addresses inside special-purpose blocks (IANA registry)', () => {
  it.each([
    '192.0.0.9',
    '192.0.0.10',
    '::ffff:192.0.0.9',
    '2001:1::1',
    '2001:1::2',
    '2001:1::3',
    '2001:3::1',
    '2001:3:ffff::1',
    '2001:4:112::1',
    '2001:4:112:ffff::1',
    '2001:20::1',
    '2001:2f:ffff::1',
    '2001:30::1',
    '2001:3f::1',
  ])('allows %s', (ip) => {
    expect(classifyAddress(ip)).toEqual({ allowed: true });
  });

  it.each([
    ['192.0.0.8', '192.0.0.0/24'],
    ['192.0.0.11', '192.0.0.0/24'],
    ['192.0.0.170', '192.0.0.0/24'],
    ['2001:1::4', '2001::/23'],
    ['2001:0:4136:e378::1', '2001::/23'], // Teredo
    ['2001:2::1', '2001::/23'], // benchmarking
    ['2001:4:113::1', '2001::/23'],
    ['2001:10::1', '2001::/23'], // deprecated ORCHID
    ['2001:40::1', '2001::/23'],
  ])('still blocks its neighbour %s (%s)', (ip, reason) => {
    expect(reasonOf(ip)).toContain(reason);
  });
});

describe('classifyAddress, IPv4 inside IPv6', () => {
  const blocked: ReadonlyArray<readonly [string, string]> = [
    ['::ffff:127.0.0.1', 'IPv4-mapped ::ffff:0:0/96 embedding loopback 127.0.0.0/8'],
    ['::ffff:7f00:1', 'IPv4-mapped ::ffff:0:0/96 embedding loopback 127.0.0.0/8'],
    ['::FFFF:7F00:0001', 'loopback 127.0.0.0/8'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'metadata 169.254.169.254'],
    ['::ffff:169.254.169.254', 'metadata 169.254.169.254'],
    ['::ffff:10.0.0.1', 'private 10.0.0.0/8'],
    ['::ffff:c0a8:101', 'private 192.168.0.0/16'],
    ['::ffff:0.0.0.0', '0.0.0.0/8'],
    ['::127.0.0.1', 'IPv4-compatible ::/96'],
    ['::7f00:1', 'IPv4-compatible ::/96'],
    ['::8.8.8.8', 'IPv4-compatible ::/96'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['64:ff9b::127.0.0.1', 'NAT64 64:ff9b::/96 embedding loopback 127.0.0.0/8'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 64:ff9b::/96 embedding cloud metadata 169.254.169.254'],
    ['64:ff9b::10.1.2.3', 'NAT64 64:ff9b::/96 embedding private 10.0.0.0/8'],
    ['64:ff9b:1::a00:1', 'local-use NAT64'],
    ['2002:7f00:1::1', '6to4 2002::/16 embedding loopback 127.0.0.0/8'],
    ['2002:a9fe:a9fe::', '6to4 2002::/16 embedding cloud metadata'],
    ['2002:c0a8:0101::1', '6to4 2002::/16 embedding private 192.168.0.0/16'],
  ];
  it.each(blocked)('blocks %s (%s)', (ip, reason) => {
    expect(reasonOf(ip)).toContain(reason);
  });

  it.each(['::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::8.8.8.8', '64:ff9b::5db8:d822', '2002:808:808::1'])(
    'allows %s, which embeds a public IPv4 address',
    (ip) => {
      expect(classifyAddress(ip)).toEqual({ allowed: true });
    },
  );
});

describe('classifyAddress, IPv4 number encodings', () => {
  const loopbackSpellings = [
    '2130706433', // decimal
    '0177.0.0.1', // octal
    '0177.0000.0000.0001',
    '0x7f.1', // hex, short form
    '0x7F.0.0.1',
    '0x7f000001',
    '017700000001',
    '127.1', // short form: last number fills three bytes
    '127.0.1',
    '127.0.0.1.', // trailing dot
    '0x7f.0x0.0x0.0x1',
  ];
  it.each(loopbackSpellings)('reads %s as loopback', (ip) => {
    expect(reasonOf(ip)).toBe('loopback 127.0.0.0/8');
  });

  it.each([
    ['2852039166', 'metadata 169.254.169.254'],
    ['0xA9.0xFE.0xA9.0xFE', 'metadata 169.254.169.254'],
    ['0251.0376.0251.0376', 'metadata 169.254.169.254'],
    ['169.16689662', 'metadata 169.254.169.254'],
    ['10.1', 'private 10.0.0.0/8'],
    ['0xa000001', 'private 10.0.0.0/8'],
    ['0', '0.0.0.0/8'],
    ['0x', '0.0.0.0/8'],
  ])('reads %s as %s', (ip, reason) => {
    expect(reasonOf(ip)).toContain(reason);
  });

  it('reads a public address in decimal form as public', () => {
    expect(classifyAddress('134744072')).toEqual({ allowed: true }); // 8.8.8.8
    expect(parseIpAddress('134744072')).toEqual(Uint8Array.of(8, 8, 8, 8));
  });

  it.each([
    '256.0.0.1',
    '1.2.3.4.5',
    '4294967296', // 2^32
    '1.16777216', // last part too large for three bytes
    '08.0.0.1', // 8 is not an octal digit
    '0x7g.0.0.1',
    '127.0.0.1 ',
    ' 127.0.0.1',
    '1..2.3',
    '',
    'localhost',
    'example.com',
    '::ffff:0177.0.0.1', // no number encodings inside IPv6 text
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '12345::1',
    'fe80::1::',
  ])('fails closed on %j, which is not an IP address', (ip) => {
    expect(classifyAddress(ip, EVERYTHING_OPTED_IN)).toEqual({ allowed: false, reason: 'not an IP address' });
  });
});

describe('WHATWG URL host normalization, which the sender relies on', () => {
  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['https://0xA9.0xFE.0xA9.0xFE/', '169.254.169.254'],
    ['http://127.0.0.1./', '127.0.0.1'],
    ['http://[0:0:0:0:0:0:0:1]/', '[::1]'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[::FFFF:A9FE:A9FE]/', '[::ffff:a9fe:a9fe]'],
  ])('%s has hostname %s', (url, hostname) => {
    const parsed = new URL(url).hostname;
    expect(parsed).toBe(hostname);
    expect(classifyAddress(parsed).allowed).toBe(false);
  });

  it.each(['http://256.0.0.1/', 'http://1.2.3.4.5/', 'http://0x100000000/'])('%s is not a valid URL', (url) => {
    expect(() => new URL(url)).toThrow(TypeError);
  });
});

describe('classifyAddress, policies', () => {
  it('blocks loopback under the strict policy and allows it in local mode', () => {
    expect(classifyAddress('127.0.0.1', STRICT_ADDRESS_POLICY).allowed).toBe(false);
    expect(classifyAddress('127.0.0.1', LOCAL_ADDRESS_POLICY)).toEqual({ allowed: true });
    expect(classifyAddress('127.8.9.10', LOCAL_ADDRESS_POLICY)).toEqual({ allowed: true });
    expect(classifyAddress('::1', LOCAL_ADDRESS_POLICY)).toEqual({ allowed: true });
    expect(classifyAddress('::ffff:127.0.0.1', LOCAL_ADDRESS_POLICY)).toEqual({ allowed: true });
  });

  it('defaults to the strict policy', () => {
    expect(STRICT_ADDRESS_POLICY).toEqual({ allowLoopback: false, allowPrivate: false });
    expect(classifyAddress('127.0.0.1').allowed).toBe(false);
    expect(classifyAddress('10.0.0.1').allowed).toBe(false);
  });

  const privateAddresses = ['10.0.0.1', '172.16.5.4', '192.168.1.1', '::ffff:192.168.1.1', 'fd12:3456::1'];
  it.each([...privateAddresses, '169.254.169.254', 'fe80::1'])('local mode still blocks %s', (ip) => {
    expect(classifyAddress(ip, LOCAL_ADDRESS_POLICY).allowed).toBe(false);
  });

  it.each([...privateAddresses, '100.64.0.1', '64:ff9b:1::a00:1'])('the private opt-in allows %s', (ip) => {
    expect(classifyAddress(ip, PRIVATE_OPT_IN)).toEqual({ allowed: true });
  });

  it.each([
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['127.0.0.1', 'loopback'], // the Lambda runtime API listens on 127.0.0.1:9001
    ['::1', 'loopback'],
    ['0.0.0.0', '0.0.0.0/8'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.1', 'documentation'],
  ])('the private opt-in still blocks %s (%s)', (ip, reason) => {
    expect(reasonOf(ip, PRIVATE_OPT_IN)).toContain(reason);
  });

  it.each([
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', '0.0.0.0/8'],
    ['255.255.255.255', 'broadcast'],
    // A translator's own loopback or private network is not ours to open up.
    ['64:ff9b::127.0.0.1', 'NAT64'],
    ['64:ff9b::10.0.0.1', 'NAT64'],
    ['2002:0a00:0001::', '6to4'],
  ])('no policy unlocks %s (%s)', (ip, reason) => {
    expect(reasonOf(ip, EVERYTHING_OPTED_IN)).toContain(reason);
  });
});

describe('addressRange, a row of the range tables', () => {
  it.each([
    ['10.0.0/8'],
    ['10.0.0.256/8'],
    ['fc00::zz/7'],
    ['10.0.0.0/33'],
    ['fc00::/129'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/8.5'],
    ['10.0.0.0'],
    ['/8'],
  ])('refuses the malformed block %s, naming it', (cidr) => {
    expect(() => addressRange(cidr, 'x', 'never')).toThrow(`address-policy: bad range ${cidr}`);
  });

  it('matches the addresses of its block and no others, in either family', () => {
    const v4 = addressRange('100.64.0.0/10', 'carrier-grade NAT', 'private');
    expect([v4.list.check('100.64.0.0', 'ipv4'), v4.list.check('100.127.255.255', 'ipv4')]).toEqual([true, true]);
    expect(v4.list.check('100.128.0.0', 'ipv4')).toBe(false);
    const v6 = addressRange('fe80::/10', 'link-local', 'never');
    expect([
      v6.list.check('fe80::1', 'ipv6'),
      v6.list.check('febf::1', 'ipv6'),
      v6.list.check('fec0::1', 'ipv6'),
    ]).toEqual([true, true, false]);
  });
});
