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

const isWordCode = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95; // [A-Za-z0-9_]
const isJwtCode = (c: number): boolean => isWordCode(c) || c === 45; // base64url: [\w-]

/** The end of the run of base64url characters that starts at `from`. */
function jwtRunEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && isJwtCode(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Replaces every JWT (`eyJ<b64url>.eyJ<b64url>.<b64url>`, at a word start) with {@link REDACTED}.
 * A scanner, not the regex `\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*`: on `-eyJ` repeated that regex
 * retried from every `eyJ` and ran each attempt to the end of the run, quadratic time (64 KiB in
 * 3-4 s). Here a failed start skips the run it scanned: every start inside that run would reach
 * the same end and fail the same way, so each character is read at most twice.
 */
export function maskJwts(text: string): string {
  let out = '';
  let copied = 0;
  let from = 0;
  for (;;) {
    const start = text.indexOf('eyJ', from);
    if (start < 0) break;
    if (start > 0 && isWordCode(text.charCodeAt(start - 1))) {
      from = start + 1;
      continue;
    }
    const headerEnd = jwtRunEnd(text, start + 3);
    if (headerEnd === start + 3 || text[headerEnd] !== '.' || !text.startsWith('eyJ', headerEnd + 1)) {
      from = Math.max(headerEnd, start + 1);
      continue;
    }
    const payloadEnd = jwtRunEnd(text, headerEnd + 4);
    if (payloadEnd === headerEnd + 4 || text[payloadEnd] !== '.') {
      from = headerEnd + 1;
      continue;
    }
    const end = jwtRunEnd(text, payloadEnd + 1);
    out += text.slice(copied, start) + REDACTED;
    copied = end;
    from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
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
  if (out.includes('eyJ')) out = maskJwts(out);
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
