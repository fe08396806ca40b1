/**
 * Which IP addresses a webhook may be delivered to.
 *
 * Webhook URLs are tenant input, so every address the sender is about to dial is
 * checked here: a URL must not be able to reach the Lambda's own machine, the VPC,
 * the cloud metadata service, or anything else that is not a public host.
 *
 * Pure functions only: no DNS, no sockets. Parsing is hand-written (no `ipaddr.js`)
 * because the rules need the WHATWG IPv4 number forms (`0x7f.1`, `2130706433`, ...)
 * and fail-closed behaviour that a general-purpose parser does not promise.
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

interface Range {
  readonly bytes: Uint8Array;
  readonly bits: number;
  readonly reason: string;
  readonly unlock: Unlock;
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
  const bytes = parseIpAddress(ip);
  if (bytes === undefined) return deny('not an IP address');
  return bytes.length === 4 ? classifyIpv4(bytes, policy) : classifyIpv6(bytes, policy);
}

/**
 * Parses an IPv4 or IPv6 address into its 4 or 16 bytes; `undefined` when `text`
 * is not an address (a host name, or malformed).
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  return s.includes(':') ? parseIpv6(s) : parseIpv4(s);
}

// Ordered most specific first: the first range that matches gives the reason.
const IPV4_RANGES: readonly Range[] = [
  range('169.254.169.254/32', 'cloud metadata 169.254.169.254', 'never'),
  range('0.0.0.0/8', '"this network" 0.0.0.0/8', 'never'),
  range('10.0.0.0/8', 'private 10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'carrier-grade NAT 100.64.0.0/10', 'private'),
  range('127.0.0.0/8', 'loopback 127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local 169.254.0.0/16', 'never'),
  range('172.16.0.0/12', 'private 172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments 192.0.0.0/24', 'never'),
  range('192.0.2.0/24', 'documentation 192.0.2.0/24', 'never'),
  range('192.88.99.0/24', '6to4 relay anycast 192.88.99.0/24', 'never'),
  range('192.168.0.0/16', 'private 192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking 198.18.0.0/15', 'never'),
  range('198.51.100.0/24', 'documentation 198.51.100.0/24', 'never'),
  range('203.0.113.0/24', 'documentation 203.0.113.0/24', 'never'),
  range('224.0.0.0/4', 'multicast 224.0.0.0/4', 'never'),
  range('255.255.255.255/32', 'broadcast 255.255.255.255', 'never'),
  range('240.0.0.0/4', 'reserved 240.0.0.0/4', 'never'),
];

const IPV4_MAPPED = range('::ffff:0:0/96', 'IPv4-mapped ::ffff:0:0/96', 'never');
const NAT64 = range('64:ff9b::/96', 'NAT64 64:ff9b::/96', 'never');
const SIX_TO_FOUR = range('2002::/16', '6to4 2002::/16', 'never');
const GLOBAL_UNICAST = range('2000::/3', 'global unicast 2000::/3', 'never');

// Checked after the ranges above that embed an IPv4 address; most specific first.
const IPV6_RANGES: readonly Range[] = [
  range('::/128', 'unspecified ::', 'never'),
  range('::1/128', 'loopback ::1', 'loopback'),
  // Deprecated (RFC 4291); nothing legitimate resolves to these.
  range('::/96', 'IPv4-compatible ::/96', 'never'),
  range('::ffff:0:0:0/96', 'IPv4-translated ::ffff:0:0:0/96', 'never'),
  range('64:ff9b:1::/48', 'local-use NAT64 64:ff9b:1::/48', 'private'),
  range('100::/64', 'discard-only 100::/64', 'never'),
  // The whole AWS block, not only the metadata address: it also holds the VPC DNS
  // resolver and the time service, none of which is a webhook endpoint.
  range('fd00:ec2::/32', 'cloud metadata fd00:ec2::/32 (fd00:ec2::254)', 'never'),
  range('fc00::/7', 'unique-local fc00::/7', 'private'),
  range('fe80::/10', 'link-local fe80::/10', 'never'),
  range('fec0::/10', 'site-local fec0::/10', 'never'),
  range('ff00::/8', 'multicast ff00::/8', 'never'),
  // Teredo (which hides an IPv4 address), benchmarking, ORCHID, ...
  range('2001::/23', 'IETF protocol assignments 2001::/23', 'never'),
  range('2001:db8::/32', 'documentation 2001:db8::/32', 'never'),
  range('3fff::/20', 'documentation 3fff::/20', 'never'),
];

function classifyIpv4(bytes: Uint8Array, policy: AddressPolicy): AddressVerdict {
  const hit = IPV4_RANGES.find((r) => matches(bytes, r));
  if (hit === undefined) return ALLOWED;
  return unlocked(hit.unlock, policy) ? ALLOWED : deny(hit.reason);
}

function classifyIpv6(bytes: Uint8Array, policy: AddressPolicy): AddressVerdict {
  if (matches(bytes, IPV4_MAPPED)) {
    // A socket dialling ::ffff:a.b.c.d reaches a.b.c.d on this host's own IPv4
    // stack, so the IPv4 rules apply exactly, policy included.
    return embedded(IPV4_MAPPED, bytes.subarray(12, 16), policy);
  }
  // A translator dials these on our behalf. Loopback or private there means the
  // translator's own network, which no policy of ours can vouch for: strict rules.
  if (matches(bytes, NAT64)) return embedded(NAT64, bytes.subarray(12, 16), STRICT_ADDRESS_POLICY);
  if (matches(bytes, SIX_TO_FOUR)) return embedded(SIX_TO_FOUR, bytes.subarray(2, 6), STRICT_ADDRESS_POLICY);

  const hit = IPV6_RANGES.find((r) => matches(bytes, r));
  if (hit !== undefined) return unlocked(hit.unlock, policy) ? ALLOWED : deny(hit.reason);
  if (!matches(bytes, GLOBAL_UNICAST)) return deny('not global unicast (outside 2000::/3)');
  return ALLOWED;
}

function embedded(outer: Range, ipv4: Uint8Array, policy: AddressPolicy): AddressVerdict {
  const inner = classifyIpv4(ipv4, policy);
  return inner.allowed ? inner : deny(`${outer.reason} embedding ${inner.reason}`);
}

function unlocked(unlock: Unlock, policy: AddressPolicy): boolean {
  if (unlock === 'loopback') return policy.allowLoopback;
  if (unlock === 'private') return policy.allowPrivate;
  return false;
}

function matches(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  const whole = r.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== r.bytes[i]) return false;
  const rest = r.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole] ?? 0) & mask) === ((r.bytes[whole] ?? 0) & mask);
}

function range(cidr: string, reason: string, unlock: Unlock): Range {
  const [addr = '', bitsText = ''] = cidr.split('/');
  const bytes = parseIpAddress(addr);
  const bits = Number(bitsText);
  // A typo in the tables above must fail at load, not quietly match nothing.
  if (bytes === undefined || !Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) {
    throw new Error(`address-policy: bad range ${cidr}`);
  }
  return { bytes, bits, reason, unlock };
}

/**
 * IPv4 as the WHATWG URL host parser reads it (which is also what `inet_aton`
 * accepts): 1 to 4 dot-separated numbers, each decimal, octal (leading 0) or hex
 * (0x); the last one fills the remaining bytes; one trailing dot is allowed.
 */
function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  let value = last;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

function parseIpv4Number(part: string): number | undefined {
  let digits = part;
  let radix = 10;
  let pattern = /^[0-9]+$/;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    radix = 16;
    pattern = /^[0-9a-f]+$/i;
    // WHATWG reads a bare "0x" as zero.
    if (digits === '') return 0;
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1);
    radix = 8;
    pattern = /^[0-7]+$/;
  }
  if (!pattern.test(digits)) return undefined;
  const n = Number.parseInt(digits, radix);
  // Past 2^53 the value is far beyond any address; refuse rather than round.
  return Number.isSafeInteger(n) ? n : undefined;
}

/** RFC 4291 text form, with `::`, an optional trailing dotted IPv4, and an optional zone id. */
function parseIpv6(text: string): Uint8Array | undefined {
  // The zone picks an interface, not a range: fe80::1%eth0 is still link-local.
  const zone = text.indexOf('%');
  let s = zone >= 0 ? text.slice(0, zone) : text;

  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const quad = parseDottedQuad(tail);
    if (quad === undefined) return undefined;
    const hi = (((quad[0] ?? 0) << 8) | (quad[1] ?? 0)).toString(16);
    const lo = (((quad[2] ?? 0) << 8) | (quad[3] ?? 0)).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hi}:${lo}`;
  }

  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = groups(halves[0] ?? '');
  const rest = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || rest === undefined) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;

  const words = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

function groups(text: string): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  for (const g of text.split(':')) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    out.push(Number.parseInt(g, 16));
  }
  return out;
}

/** The strict a.b.c.d form allowed inside IPv6 text: four decimal bytes, no leading zeros. */
function parseDottedQuad(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}
