import { isSensitiveKey } from './redact-keys.ts';

/**
 * Redaction by string SHAPE: URLs keep only scheme and host, `Bearer ...` / Basic credentials,
 * JWTs, `token=...` pairs and e-mail addresses are masked wherever they appear, because error
 * messages and third-party bodies carry them under harmless names. One string at a time; the
 * walker in `redact.ts` applies this to every string of a structure.
 */

/** The marker that replaces every redacted value. */
export const REDACTED = '[redacted]';

// Schemes are short; the bound keeps a long `a.b.c.d...` run from costing quadratic time.
const WHOLE_URL = /^[a-z][a-z\d+.-]{0,31}:\/\//i;
const URL_IN_TEXT = /\b[a-z][a-z\d+.-]{0,31}:\/\/[^\s"'<>`]+/gi;
const AUTH_WORD = /bearer|basic|token|digest/i;
const AUTH_SCHEME = /\b(bearer|token|basic)(\s+)([\w~+/.=-]+)/gi;
const DIGEST_AUTH = /\bdigest\s+username\s*=[^\r\n]*/gi;
const JWT = /\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*/g;
// The quoted value's closing quote is optional so a snippet cut mid-string is still masked, and so
// a failed match never rescans the rest of the text (no quadratic time on hostile bodies).
const KEY_VALUE = /(["']?)([A-Za-z_][\w.-]{0,63})\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s&,;}"']+)/g;
// Bounded parts: RFC 5321 caps the local part at 64 and a label at 63, and the bounds keep a long
// run without `@` from costing quadratic time.
const EMAIL = /[\w.%+-]{1,64}@[a-z\d-]{1,63}(?:\.[a-z\d-]{1,63})+/gi;
// Dates first, so `2024-05-01 10:00` is kept while `+1 (555) 123-4567` and `4111 1111 1111 1111`
// are masked. A run inside an identifier (hex id, UUID) is left alone.
const DIGIT_RUN =
  /(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?)|(?<![\w-])\+?\(?\d(?:[ ()-]{0,2}\d){8,}(?!\w)/g;

function isHttp(protocol: string): boolean {
  return protocol === 'http:' || protocol === 'https:';
}

/** Keeps scheme, host and port; anything after the host becomes `/[redacted]`. */
function maskUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return REDACTED;
  }
  if (!isHttp(url.protocol)) return `${url.protocol}//${REDACTED}`;
  const hasRest = url.pathname !== '/' || url.search !== '' || url.hash !== '';
  return hasRest ? `${url.origin}/${REDACTED}` : url.origin;
}

/** A Basic credential is base64 of `user:password`; prose after the word "basic" is not. */
function looksLikeBasicCredential(token: string): boolean {
  if (!/^[A-Za-z\d+/]+={0,2}$/.test(token) || token.length < 4) return false;
  return Buffer.from(token, 'base64').toString('latin1').includes(':');
}

/** Masks one string; `maskDigits` also masks runs of 9+ digits (card and phone numbers), for third-party bodies. */
export function maskString(value: string, maskDigits: boolean): string {
  // Nothing secret-shaped fits in fewer characters than `a@b.c` or `pin=1`.
  if (value.length < 5) return value;
  const trimmed = value.trim();
  if (WHOLE_URL.test(trimmed)) return maskUrl(trimmed);
  // Each pattern runs only when its anchor text is present: most log strings are short and plain,
  // and this keeps a line cheap.
  let out = value;
  if (out.includes('://')) out = out.replace(URL_IN_TEXT, maskUrl);
  if (AUTH_WORD.test(out)) {
    out = out.replace(DIGEST_AUTH, `Digest ${REDACTED}`);
    out = out.replace(AUTH_SCHEME, (match: string, scheme: string, space: string, credential: string) => {
      const lower = scheme.toLowerCase();
      if (lower === 'basic' && !looksLikeBasicCredential(credential)) return match;
      // "Token <x>" is an auth scheme (Django REST, GitHub) but also an English word: mask only
      // credentials long enough to be one.
      if (lower === 'token' && credential.length < 16) return match;
      return `${scheme}${space}${REDACTED}`;
    });
  }
  if (out.includes('eyJ')) out = out.replace(JWT, REDACTED);
  if (out.includes('=') || out.includes(':')) {
    out = out.replace(KEY_VALUE, (match: string, quote: string, key: string, sep: string, val: string) => {
      if (!isSensitiveKey(key) || val === REDACTED) return match;
      const q = val.startsWith('"') ? '"' : val.startsWith("'") ? "'" : '';
      return `${quote}${key}${quote}${sep}${q}${REDACTED}${q}`;
    });
  }
  if (out.includes('@')) out = out.replace(EMAIL, REDACTED);
  if (maskDigits) {
    out = out.replace(DIGIT_RUN, (match: string, date: string | undefined) => (date === undefined ? REDACTED : match));
  }
  return out;
}

/**
 * Masks the secret-shaped parts of one string: URL paths and queries (scheme and host stay),
 * `Bearer` / Basic credentials, JWTs, `token=...` style pairs whose key is sensitive, and e-mail
 * addresses. A string that is a URL as a whole keeps only its origin. Used for log messages and
 * error messages; payload values go through {@link redact}.
 */
export function redactString(value: string): string {
  return maskString(value, false);
}
