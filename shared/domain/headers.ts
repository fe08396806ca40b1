import { InvalidTemplateError } from '../errors.ts';

/**
 * The one owner of the header-name rules: which names are valid at all, which ones the
 * transport or this system sets (so neither a node's custom headers nor a credential may set
 * them), and which custom headers look like a secret. Used by the template check, the renderer,
 * the credential schema, the request builder and the HTTP sender.
 */

/** RFC 9110 token characters: anything else cannot be a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Secrets belong in a stored credential, not in a workflow definition that is
// exported, shared and logged: custom headers named like one are dropped, as
// Dograh does (its markers, `_SECRET_HEADER_MARKERS` in run_integrations.py, include
// a bare "auth": X-Auth, X-Custom-Auth), plus a few of our own. Headers the transport
// or this system sets are dropped too.
const SECRET_LIKE =
  /(auth|cookie|token|secret|passw(or)?d|api[-_]?key|access[-_]?key|credential|signature|private[-_]?key|session)/i;

/**
 * Set by the HTTP client from the request itself (Host, framing, Content-Type from the body), or
 * hop-by-hop (RFC 9110 section 7.6.1, plus the legacy Proxy-Connection and HTTP/2's upgrade
 * header): a value from a node or a credential could desynchronise the connection or change how
 * the body is read.
 */
const TRANSPORT_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'http2-settings',
  'te',
  'trailer',
  'expect',
]);
const OWN_PREFIX = 'x-dograh-';

/** Whether `name` is an RFC 9110 token, i.e. can be a header name at all. */
export function isHeaderName(name: string): boolean {
  return HEADER_NAME.test(name);
}

/** Why no one but the transport or the delivery system may set this header, or undefined when anyone may. */
export function reservedHeaderReason(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (TRANSPORT_HEADERS.has(lower)) return 'set by the transport';
  if (lower.startsWith(OWN_PREFIX)) return 'X-Dograh-* headers are set by the delivery system';
  return undefined;
}

/** Why a custom header is dropped, or undefined when it is kept. */
export function dropReason(name: string): string | undefined {
  if (SECRET_LIKE.test(name)) return 'looks like a secret: put it in a credential';
  return reservedHeaderReason(name);
}

/**
 * What is wrong with a credential's `header_name`, or undefined when it may be sent. The same
 * rule as custom headers, less the secret-like names (a credential is where they belong). The
 * reason never quotes the name: it comes from a secret.
 */
export function credentialHeaderProblem(name: string): string | undefined {
  if (!isHeaderName(name)) return 'is not a valid header name';
  const reserved = reservedHeaderReason(name);
  if (reserved === undefined) return undefined;
  return reserved === 'set by the transport'
    ? 'names a header the transport sets (Host, Content-Type, Content-Length, Transfer-Encoding, Connection, Upgrade, Expect or another hop-by-hop header)'
    : 'names an X-Dograh-* header, which the delivery system sets';
}

/** Throws unless `name` is a valid header name and `value` holds no CR, LF or NUL (header injection). */
export function checkHeader(name: string, value: string, where: string): void {
  if (!isHeaderName(name)) throw new InvalidTemplateError(where, `"${name}" is not a valid header name`);
  if (/[\r\n\0]/.test(value))
    throw new InvalidTemplateError(where, `the value of header "${name}" contains a line break or NUL`);
}
