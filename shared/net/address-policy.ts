import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses a webhook may be delivered to.
 *
 * Webhook URLs are tenant input, so every address the sender is about to dial is
 * checked here: a URL must not be able to reach the Lambda's own machine, the VPC,
 * the cloud metadata service, or anything else that is not a public host.
 *
 * Pure functions only: no DNS, no sockets. Addresses reach this module already
 * canonical (a resolver's answer, or a URL host the WHATWG parser normalised), so
 * `node:net` reads them (`isIPv4`, `isIPv6`) and matches them (`BlockList`, which also
 * matches IPv4-mapped IPv6 against IPv4 ranges). Other IPv4 spellings (`0x7f.1`,
 * `2130706433`) are canonicalised by the same WHATWG host parser the sender's URLs
 * went through, so both always agree. The range table below, with a reason for each
 * range, follows the IANA special-purpose address registries
 * (https://www.iana.org/assignments/iana-ipv4-special-registry,
 * https://www.iana.org/assignments/iana-ipv6-special-registry): a range is blocked
 * unless the registry marks it globally reachable.
 */

/** What a stack opts in to. Both false means: public unicast addresses only. */
export interface AddressPolicy {
  /**
   * Allow 127.0.0.0/8 and ::1. For `webhooks local` only, where the endpoints under
   * test run on this machine; a deployed stack never sets it (on Lambda the runtime
   * API listens on loopback).
   */
  readonly allowLoopback: boolean;
  /**
   * Allow private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): the
   * stack's opt-in for endpoints inside its VPC. Loopback, link-local and the cloud
   * metadata addresses stay blocked even then.
   */
  readonly allowPrivate: boolean;
}

/** Nothing private, nothing loopback: what a deployed stack uses unless it opts in. */
export const STRICT_ADDRESS_POLICY: AddressPolicy = Object.freeze({ allowLoopback: false, allowPrivate: false });

/** `webhooks local`: loopback endpoints allowed, every other private range still blocked. */
export const LOCAL_ADDRESS_POLICY: AddressPolicy = Object.freeze({ allowLoopback: true, allowPrivate: false });

/** The answer for one address; `reason` names the range that blocked it. */
export type AddressVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * Which policy switch, if any, can unlock a range. `never` ranges stay blocked
 * whatever the policy says.
 */
type Unlock = 'loopback' | 'private' | 'never';

/** A row of the table: blocked unless `unlock` is opened, or `global`: reachable, allowed under every policy. */
interface Range {
  readonly list: BlockList;
  readonly reason: string;
  readonly unlock: Unlock | 'global';
}

const ALLOWED: AddressVerdict = Object.freeze({ allowed: true });

function deny(reason: string): AddressVerdict {
  return { allowed: false, reason };
}

/**
 * Decides whether `ip` may be dialled under `policy`.
 *
 * Accepts IPv4 in every form the WHATWG URL parser and `inet_aton` accept
 * (`127.0.0.1`, `127.1`, `0177.0.0.1`, `0x7f.1`, `2130706433`, trailing dot) and IPv6
 * (with or without brackets and zone id, with embedded dotted IPv4). Anything that
 * does not parse as an IP address is refused: callers pass resolved addresses, so
 * an unparseable one means something is wrong, and failing closed is the safe side.
 */
export function classifyAddress(ip: string, policy: AddressPolicy = STRICT_ADDRESS_POLICY): AddressVerdict {
  const address = canonicalAddress(ip);
  if (address === undefined) return deny('not an IP address');
  return address.family === 'ipv4' ? classifyIpv4(address.text, 'ipv4', policy) : classifyIpv6(address.text, policy);
}

/**
 * Parses an IPv4 or IPv6 address into its 4 or 16 bytes; `undefined` when `text`
 * is not an address (a host name, or malformed).
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  const address = canonicalAddress(text);
  if (address === undefined) return undefined;
  if (address.family === 'ipv4') return Uint8Array.from(address.text.split('.').map(Number));
  const bytes = new Uint8Array(16);
  ipv6Words(address.text).forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

interface CanonicalAddress {
  readonly family: 'ipv4' | 'ipv6';
  /** Dotted quad, or the WHATWG serialisation of IPv6 (lower-case hex words, `::` for the longest zero run). */
  readonly text: string;
}

/** The characters of the IPv4 number forms: digits, hex digits, `x` and dots; no spaces, which the URL parser would trim. */
const IPV4_NUMBER_FORM = /^[0-9a-fx.]+$/i;

function canonicalAddress(text: string): CanonicalAddress | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (isIPv4(s)) return { family: 'ipv4', text: s };
  if (s.includes(':')) {
    // The zone picks an interface, not a range: fe80::1%eth0 is still link-local.
    const zone = s.indexOf('%');
    const bare = zone >= 0 ? s.slice(0, zone) : s;
    // isIPv6 refuses number forms inside IPv6 text (`::ffff:0177.0.0.1`), as it should.
    if (!isIPv6(bare)) return undefined;
    return { family: 'ipv6', text: whatwgHost(`[${bare}]`)?.slice(1, -1) ?? bare.toLowerCase() };
  }
  if (!IPV4_NUMBER_FORM.test(s)) return undefined;
  const host = whatwgHost(s);
  return host !== undefined && isIPv4(host) ? { family: 'ipv4', text: host } : undefined;
}

/** The host as the WHATWG URL parser serialises it, or undefined when it refuses it. */
function whatwgHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** The eight 16-bit words of an IPv6 address in WHATWG serialisation (hex words and at most one `::`). */
function ipv6Words(text: string): number[] {
  const [head = '', tail] = text.split('::');
  const words = (part: string) => (part === '' ? [] : part.split(':').map((w) => Number.parseInt(w, 16)));
  const first = words(head);
  const last = tail === undefined ? [] : words(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

// Ordered most specific first: the first range that matches gives the verdict.
const IPV4_RANGES: readonly Range[] = [
  addressRange('169.254.169.254/32', 'cloud metadata 169.254.169.254', 'never'),
  addressRange('0.0.0.0/8', '"this network" 0.0.0.0/8', 'never'),
  addressRange('10.0.0.0/8', 'private 10.0.0.0/8', 'private'),
  addressRange('100.64.0.0/10', 'carrier-grade NAT 100.64.0.0/10', 'private'),
  addressRange('127.0.0.0/8', 'loopback 127.0.0.0/8', 'loopback'),
  addressRange('169.254.0.0/16', 'link-local 169.254.0.0/16', 'never'),
  addressRange('172.16.0.0/12', 'private 172.16.0.0/12', 'private'),
  // Globally reachable in the registry, inside the block that is not (RFC 7723, RFC 8155).
  addressRange('192.0.0.9/32', 'Port Control Protocol anycast 192.0.0.9', 'global'),
  addressRange('192.0.0.10/32', 'TURN anycast 192.0.0.10', 'global'),
  addressRange('192.0.0.0/24', 'IETF protocol assignments 192.0.0.0/24', 'never'),
  addressRange('192.0.2.0/24', 'documentation 192.0.2.0/24', 'never'),
  addressRange('192.88.99.0/24', '6to4 relay anycast 192.88.99.0/24', 'never'),
  addressRange('192.168.0.0/16', 'private 192.168.0.0/16', 'private'),
  addressRange('198.18.0.0/15', 'benchmarking 198.18.0.0/15', 'never'),
  addressRange('198.51.100.0/24', 'documentation 198.51.100.0/24', 'never'),
  addressRange('203.0.113.0/24', 'documentation 203.0.113.0/24', 'never'),
  addressRange('224.0.0.0/4', 'multicast 224.0.0.0/4', 'never'),
  addressRange('255.255.255.255/32', 'broadcast 255.255.255.255', 'never'),
  addressRange('240.0.0.0/4', 'reserved 240.0.0.0/4', 'never'),
];

const IPV4_MAPPED = addressRange('::ffff:0:0/96', 'IPv4-mapped ::ffff:0:0/96', 'never');
const NAT64 = addressRange('64:ff9b::/96', 'NAT64 64:ff9b::/96', 'never');
const SIX_TO_FOUR = addressRange('2002::/16', '6to4 2002::/16', 'never');
const GLOBAL_UNICAST = addressRange('2000::/3', 'global unicast 2000::/3', 'never');

// Checked after the ranges above that embed an IPv4 address; most specific first.
const IPV6_RANGES: readonly Range[] = [
  addressRange('::/128', 'unspecified ::', 'never'),
  addressRange('::1/128', 'loopback ::1', 'loopback'),
  // Deprecated (RFC 4291); nothing legitimate resolves to these.
  addressRange('::/96', 'IPv4-compatible ::/96', 'never'),
  addressRange('::ffff:0:0:0/96', 'IPv4-translated ::ffff:0:0:0/96', 'never'),
  addressRange('64:ff9b:1::/48', 'local-use NAT64 64:ff9b:1::/48', 'private'),
  addressRange('100::/64', 'discard-only 100::/64', 'never'),
  // The whole AWS block, not only the metadata address: it also holds the VPC DNS
  // resolver and the time service, none of which is a webhook endpoint.
  addressRange('fd00:ec2::/32', 'cloud metadata fd00:ec2::/32 (fd00:ec2::254)', 'never'),
  addressRange('fc00::/7', 'unique-local fc00::/7', 'private'),
  addressRange('fe80::/10', 'link-local fe80::/10', 'never'),
  addressRange('fec0::/10', 'site-local fec0::/10', 'never'),
  addressRange('ff00::/8', 'multicast ff00::/8', 'never'),
  // Globally reachable in the registry, inside 2001::/23, which is not.
  addressRange('2001:1::1/128', 'Port Control Protocol anycast 2001:1::1', 'global'),
  addressRange('2001:1::2/128', 'TURN anycast 2001:1::2', 'global'),
  addressRange('2001:1::3/128', 'DNS-SD service registration anycast 2001:1::3', 'global'),
  addressRange('2001:3::/32', 'AMT 2001:3::/32', 'global'),
  addressRange('2001:4:112::/48', 'AS112-v6 2001:4:112::/48', 'global'),
  addressRange('2001:20::/28', 'ORCHIDv2 2001:20::/28', 'global'),
  addressRange('2001:30::/28', 'drone remote ID tags 2001:30::/28', 'global'),
  // Teredo (which hides an IPv4 address), benchmarking, the deprecated ORCHID, ...
  addressRange('2001::/23', 'IETF protocol assignments 2001::/23', 'never'),
  addressRange('2001:db8::/32', 'documentation 2001:db8::/32', 'never'),
  addressRange('3fff::/20', 'documentation 3fff::/20', 'never'),
];

/** `family` is how `address` is checked: an IPv4-mapped IPv6 address matches the IPv4 ranges as it is. */
function classifyIpv4(address: string, family: 'ipv4' | 'ipv6', policy: AddressPolicy): AddressVerdict {
  const hit = IPV4_RANGES.find((r) => r.list.check(address, family));
  return verdictOf(hit, policy);
}

function classifyIpv6(address: string, policy: AddressPolicy): AddressVerdict {
  if (IPV4_MAPPED.list.check(address, 'ipv6')) {
    // A socket dialling ::ffff:a.b.c.d reaches a.b.c.d on this host's own IPv4
    // stack, so the IPv4 rules apply exactly, policy included.
    return embedded(IPV4_MAPPED, classifyIpv4(address, 'ipv6', policy));
  }
  // A translator dials these on our behalf. Loopback or private there means the
  // translator's own network, which no policy of ours can vouch for: strict rules.
  const words = ipv6Words(address);
  if (NAT64.list.check(address, 'ipv6'))
    return embedded(NAT64, classifyIpv4(ipv4Of(words[6], words[7]), 'ipv4', STRICT_ADDRESS_POLICY));
  if (SIX_TO_FOUR.list.check(address, 'ipv6'))
    return embedded(SIX_TO_FOUR, classifyIpv4(ipv4Of(words[1], words[2]), 'ipv4', STRICT_ADDRESS_POLICY));

  const hit = IPV6_RANGES.find((r) => r.list.check(address, 'ipv6'));
  if (hit !== undefined) return verdictOf(hit, policy);
  if (!GLOBAL_UNICAST.list.check(address, 'ipv6')) return deny('not global unicast (outside 2000::/3)');
  return ALLOWED;
}

function verdictOf(hit: Range | undefined, policy: AddressPolicy): AddressVerdict {
  if (hit === undefined || hit.unlock === 'global') return ALLOWED;
  return unlocked(hit.unlock, policy) ? ALLOWED : deny(hit.reason);
}

/** The dotted quad held in two 16-bit words. */
function ipv4Of(high = 0, low = 0): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

function embedded(outer: Range, inner: AddressVerdict): AddressVerdict {
  return inner.allowed ? inner : deny(`${outer.reason} embedding ${inner.reason}`);
}

function unlocked(unlock: Unlock, policy: AddressPolicy): boolean {
  if (unlock === 'loopback') return policy.allowLoopback;
  if (unlock === 'private') return policy.allowPrivate;
  return false;
}

/** One row of the range tables: the `cidr` block, why it is refused and what may unlock it; throws on a malformed block. */
export function addressRange(cidr: string, reason: string, unlock: Range['unlock']): Range {
  const [address = '', bitsText = ''] = cidr.split('/');
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  const bits = Number(bitsText);
  const list = new BlockList();
  // A typo in the tables above must fail at load, not quietly match nothing. BlockList checks
  // the address itself: the first isIPv6 call compiles node's IPv6 pattern (~6 ms of cold
  // start), which only an IPv6 address to classify should pay for.
  if (bitsText === '' || !Number.isInteger(bits) || bits < 0 || bits > (family === 'ipv4' ? 32 : 128)) {
    throw new Error(`address-policy: bad range ${cidr}`);
  }
  try {
    list.addSubnet(address, bits, family);
  } catch (error) {
    throw new Error(`address-policy: bad range ${cidr}`, { cause: error });
  }
  return { list, reason, unlock };
}
