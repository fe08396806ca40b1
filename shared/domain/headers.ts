import { InvalidTemplateError } from '../errors.ts';

/** RFC 9110 token characters: anything else cannot be a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Secrets belong in a stored credential, not in a workflow definition that is
// exported, shared and logged: custom headers named like one are dropped, as
// Dograh does. Headers the transport or this system sets are dropped too.
const SECRET_LIKE = /(authori[sz]ation|cookie|token|secret|passw(or)?d|api[-_]?key|credential|signature|private[-_]?key|session)/i;
const RESERVED = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);
const OWN_PREFIX = 'x-dograh-';

/** Why a custom header is dropped, or undefined when it is kept. */
export function dropReason(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (SECRET_LIKE.test(lower)) return 'looks like a secret: put it in a credential';
  if (RESERVED.has(lower)) return 'set by the transport';
  if (lower.startsWith(OWN_PREFIX)) return 'X-Dograh-* headers are set by the delivery system';
  return undefined;
}

/** Throws unless `name` is a valid header name and `value` holds no CR, LF or NUL (header injection). */
export function checkHeader(name: string, value: string, where: string): void {
  if (!HEADER_NAME.test(name)) throw new InvalidTemplateError(where, `"${name}" is not a valid header name`);
  if (/[\r\n\0]/.test(value)) throw new InvalidTemplateError(where, `the value of header "${name}" contains a line break or NUL`);
}
