import { endpointHost } from '../domain/endpoint.ts';

/**
 * Redaction for everything that leaves the process as a log line or a stored snippet.
 *
 * Two layers, because neither is enough alone:
 * - by field NAME: a value under `password`, `accessToken`, `X-API-Key`, `billing_address`, ...
 *   is replaced, whatever it looks like (a phone number stored as a number is still a phone number);
 * - by string SHAPE: URLs keep only scheme and host, `Bearer ...` / Basic credentials, JWTs,
 *   `token=...` pairs and e-mail addresses are masked wherever they appear, because error messages
 *   and third-party bodies carry them under harmless names.
 *
 * Over-redaction costs a little debugging comfort; under-redaction leaks a tenant's secret or a
 * caller's personal data into CloudWatch, which is kept for months. Ties go to redaction.
 */

/** The marker that replaces every redacted value. */
export const REDACTED = '[redacted]';

/** Replaces an object that is its own ancestor. */
export const CIRCULAR = '[circular]';

/** Replaces an object nested deeper than `maxDepth`. */
export const TOO_DEEP = '[max depth]';

/** Appended to a snippet cut by {@link redactText}. */
export const TRUNCATED = '…[truncated]';

/** Options of {@link redact}. */
export interface RedactOptions {
  /** Objects nested deeper than this become {@link TOO_DEEP}. Default 12. */
  readonly maxDepth?: number;
  /** Keep (masked) stack traces of errors. Default false: stacks are for debug logs only. */
  readonly includeStack?: boolean;
}

const DEFAULT_MAX_DEPTH = 12;

// ---------------------------------------------------------------------------------------------
// Field names
// ---------------------------------------------------------------------------------------------

/**
 * Found anywhere in the normalised, separator-free key, so that `ACCESSTOKEN`, `xApiKey` and
 * `x-api-key` all hit. Only terms long enough not to occur by accident inside harmless words.
 */
const SUBSTRING_TERMS = [
  'authorization',
  'cookie',
  'credential',
  'password',
  'passwd',
  'passphrase',
  'secret',
  'signature',
  'token',
  'apikey',
  'accesskey',
  'privatekey',
  'headervalue', // the CUSTOM_HEADER credential's secret (contract §4)
  'email',
  'phone',
  'msisdn',
  'birthdate',
  'dateofbirth',
  'birthday',
  'socialsecurity',
  'cardnumber',
  'creditcard',
  'debitcard',
  'callbackurl',
  'redirecturi',
  'redirecturl',
  'addr', // address, addresses, addr
] as const;

/**
 * Matched only as a whole word: as substrings they would hit `company` (pan), `adobe` (dob),
 * `classname` (ssn), `compass` (pass), `spinner` (pin)...
 */
const WORD_TERMS = new Set([
  'auth',
  'pass',
  'pwd',
  'dob',
  'ssn',
  'pan',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'pin',
  'otp',
  'sig',
  'mobile',
  'iban',
  'passport',
  'jwt',
  'bearer',
]);

/**
 * A key ending in one of these names a credential or a secret, it does not hold one:
 * `credential_uuid`, `secret_name`, `token_type` ("Bearer") are what an operator needs to find
 * the broken credential. Applies to the credential-like terms only: `email_id` is, in Indian
 * English, the address itself, and an AWS `access_key_id` is half of a key pair.
 */
const IDENTIFIER_SUFFIXES = new Set(['id', 'ids', 'uuid', 'arn', 'type', 'kind', 'name', 'names', 'version', 'algorithm']);
const IDENTIFIER_EXEMPT_TERMS = new Set(['credential', 'secret', 'token', 'apikey', 'auth', 'signature']);

/**
 * `prompt_tokens`, `total_tokens`, `max_tokens` are LLM usage counts that Dograh puts in
 * `cost_info`, not bearer tokens.
 */
const TOKEN_COUNT_WORDS = new Set([
  'prompt',
  'completion',
  'completions',
  'total',
  'input',
  'output',
  'max',
  'min',
  'count',
  'num',
  'used',
  'usage',
  'cached',
  'reasoning',
  'llm',
  'limit',
  'remaining',
]);

/**
 * `ip_address`, `remote_address`, `localAddress` are network addresses of the webhook endpoint:
 * operational data the SSRF guard must be able to log (which address was blocked), not a person's
 * address. A bare `address` stays redacted: it may be a street address.
 */
const NETWORK_WORDS = new Set([
  'ip',
  'ipv4',
  'ipv6',
  'remote',
  'local',
  'mac',
  'socket',
  'server',
  'host',
  'peer',
  'resolved',
  'network',
  'bind',
  'listen',
  'endpoint',
]);

/** Words that make a following `number` / `no` a phone number on a voice platform. */
const PHONE_NUMBER_PREFIXES = new Set([
  'caller',
  'callee',
  'called',
  'calling',
  'from',
  'to',
  'contact',
  'cell',
  'fax',
  'whatsapp',
  'sms',
  'customer',
]);
const NUMBER_WORDS = new Set(['number', 'num', 'no', 'nr']);

/**
 * Splits a key into lower-case words: `refreshToken` → refresh, token; `X-API-Key` → x, api, key;
 * `SOCIAL_SECURITY_NUMBER` → social, security, number; `APIKey` → api, key.
 */
export function keyWords(key: string): string[] {
  return key
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu}+)(\p{Lu}\p{Ll})/gu, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
}

function termIsExempt(term: string, words: readonly string[]): boolean {
  const last = words[words.length - 1] ?? '';
  if (IDENTIFIER_EXEMPT_TERMS.has(term) && IDENTIFIER_SUFFIXES.has(last)) return true;
  if (term === 'token' && words.some((w) => TOKEN_COUNT_WORDS.has(w))) return true;
  if (term === 'addr') {
    // Every address word must be a network one (`ip_address`, `ipAddr`, `remoteAddress`):
    // `ip_or_home_address` is still personal, and so is `shipAddress` despite ending in "ip".
    return words.every((word, i) => {
      const at = word.indexOf('addr');
      if (at === -1) return true;
      const prefix = word.slice(0, at);
      return NETWORK_WORDS.has(prefix === '' ? (words[i - 1] ?? '') : prefix);
    });
  }
  return false;
}

function classifyKey(key: string): boolean {
  const words = keyWords(key);
  if (words.length === 0) return false;
  const compact = words.join('');
  for (const term of SUBSTRING_TERMS) {
    if (compact.includes(term) && !termIsExempt(term, words)) return true;
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (WORD_TERMS.has(word) && !termIsExempt(word, words)) return true;
    const next = words[i + 1];
    if (next !== undefined && NUMBER_WORDS.has(next)) {
      if (word === 'card' || word === 'cc' || PHONE_NUMBER_PREFIXES.has(word)) return true;
    }
  }
  return false;
}

// Keys repeat on every log line; the cache keeps classification off the hot path. Bounded so a
// payload with unique keys (ids as keys) cannot grow it without end.
const keyCache = new Map<string, boolean>();
const KEY_CACHE_LIMIT = 2000;

/**
 * Whether a field of this name holds a secret or personal data, in any naming style
 * (snake_case, camelCase, PascalCase, kebab-case, SCREAMING_CASE, words with spaces).
 */
export function isSensitiveKey(key: string): boolean {
  const cached = keyCache.get(key);
  if (cached !== undefined) return cached;
  const result = classifyKey(key);
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
  keyCache.set(key, result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// String shapes
// ---------------------------------------------------------------------------------------------

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

function maskString(value: string, maskDigits: boolean): string {
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

// ---------------------------------------------------------------------------------------------
// Structures
// ---------------------------------------------------------------------------------------------

interface WalkState {
  readonly maxDepth: number;
  readonly includeStack: boolean;
  readonly maskDigits: boolean;
  /** Objects on the current path only: a shared, non-cyclic reference is copied, not flagged. */
  readonly ancestors: Set<object>;
}

/** Properties of a `{ key: "X-API-Key", value: "..." }` pair that name the value's meaning. */
const PAIR_NAME_KEYS = ['key', 'name', 'header', 'header_name', 'headerName', 'field'] as const;

function pairValueIsSensitive(obj: Record<string, unknown>): boolean {
  if (!Object.hasOwn(obj, 'value')) return false;
  for (const k of PAIR_NAME_KEYS) {
    const name = readProperty(obj, k);
    if (typeof name === 'string' && isSensitiveKey(name)) return true;
  }
  return false;
}

/** A throwing getter must not take the log line down with it. */
function readProperty(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return '[unreadable]';
  }
}

function walk(value: unknown, depth: number, sensitive: boolean, st: WalkState): unknown {
  if (value === null || value === undefined) return value;
  switch (typeof value) {
    case 'string':
      return sensitive ? REDACTED : maskString(value, st.maskDigits);
    case 'number':
    case 'boolean':
    case 'bigint':
      return sensitive ? REDACTED : value;
    case 'symbol':
      return sensitive ? REDACTED : '[symbol]';
    case 'function':
      return sensitive ? REDACTED : '[function]';
    default:
      return walkObject(value as object, depth, sensitive, st);
  }
}

function walkObject(obj: object, depth: number, sensitive: boolean, st: WalkState): unknown {
  if (st.ancestors.has(obj)) return CIRCULAR;
  if (depth >= st.maxDepth) return sensitive ? REDACTED : TOO_DEEP;
  if (obj instanceof Date) {
    if (sensitive) return REDACTED;
    return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  }
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
    return sensitive ? REDACTED : `[binary ${obj.byteLength} bytes]`;
  }

  st.ancestors.add(obj);
  try {
    if (obj instanceof Error) return walkError(obj, depth, sensitive, st);
    if (Array.isArray(obj)) return obj.map((item) => walk(item, depth + 1, sensitive, st));
    if (obj instanceof Set) return [...obj].map((item) => walk(item, depth + 1, sensitive, st));
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of obj) {
        const key = String(k);
        out[key] = walk(v, depth + 1, sensitive || isSensitiveKey(key), st);
      }
      return out;
    }
    const toJSON = readProperty(obj, 'toJSON');
    if (typeof toJSON === 'function') {
      // URL, Decimal and friends describe themselves; redact what they would serialize as.
      let json: unknown;
      try {
        json = (toJSON as () => unknown).call(obj);
      } catch {
        return sensitive ? REDACTED : '[unserializable]';
      }
      if (json !== obj) return walk(json, depth, sensitive, st);
    }
    return walkRecord(obj as Record<string, unknown>, depth, sensitive, st);
  } finally {
    st.ancestors.delete(obj);
  }
}

function walkRecord(obj: Record<string, unknown>, depth: number, sensitive: boolean, st: WalkState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pairSensitive = !sensitive && pairValueIsSensitive(obj);
  for (const key of Object.keys(obj)) {
    const childSensitive = sensitive || isSensitiveKey(key) || (pairSensitive && key === 'value');
    // defineProperty: a `__proto__` key in parsed JSON must stay data, not become a prototype.
    Object.defineProperty(out, key, {
      value: walk(readProperty(obj, key), depth + 1, childSensitive, st),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * `{ name, message, ...own data fields, cause?, errors?, stack? }`. The message is masked like
 * any string; data fields (`status`, `path`, `secretName`, ...) go through the key rules.
 */
function walkError(err: Error, depth: number, sensitive: boolean, st: WalkState): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: typeof err.name === 'string' ? err.name : 'Error',
    message: sensitive ? REDACTED : maskString(String(err.message), st.maskDigits),
  };
  for (const key of Object.keys(err)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    out[key] = walk(readProperty(err, key), depth + 1, sensitive || isSensitiveKey(key), st);
  }
  // `cause` and AggregateError's `errors` are own but non-enumerable, so Object.keys misses them.
  const cause = readProperty(err, 'cause');
  if (cause !== undefined) out.cause = walk(cause, depth + 1, sensitive, st);
  if (err instanceof AggregateError) out.errors = walk(readProperty(err, 'errors'), depth + 1, sensitive, st);
  const stack = readProperty(err, 'stack');
  if (st.includeStack && !sensitive && typeof stack === 'string') out.stack = maskString(stack, false);
  return out;
}

/**
 * Returns a deep copy of `value` that is safe to log: same keys, arrays of the same length, but
 *
 * - every value under a sensitive field name ({@link isSensitiveKey}) is {@link REDACTED}, down to
 *   each leaf of a nested object or array under it (null and undefined stay, they reveal nothing);
 * - the `value` of a `{ key | name: "Authorization", value }` pair is redacted (custom headers);
 * - strings are masked by shape ({@link redactString}): URLs keep scheme and host only;
 * - errors become `{ name, message, ...data, cause }`, dates ISO strings, maps objects, sets
 *   arrays, binary data a length; objects with `toJSON` (URL) are redacted as they serialize;
 * - an object that contains itself becomes {@link CIRCULAR}; deeper than `maxDepth`, {@link TOO_DEEP}.
 *
 * Object keys are kept as they are: key names are code, not data.
 */
export function redact(value: unknown, options: RedactOptions = {}): unknown {
  return walk(value, 0, false, {
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    includeStack: options.includeStack ?? false,
    maskDigits: false,
    ancestors: new Set(),
  });
}

// ---------------------------------------------------------------------------------------------
// Snippets and hosts
// ---------------------------------------------------------------------------------------------

function parseJsonContainer(text: string): { ok: true; value: object } | { ok: false } {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return { ok: false };
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? { ok: true, value } : { ok: false };
  } catch {
    return { ok: false };
  }
}

/** Cuts at a UTF-8 character boundary at or before `maxBytes`. */
function cutUtf8(bytes: Buffer, maxBytes: number): string {
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}

/**
 * Makes a response-body snippet safe to store and log. A body that parses as a JSON object or
 * array is redacted structurally ({@link redact}) and re-serialized compactly; any other text has
 * URL paths and queries, credentials, sensitive `key=value` pairs, e-mail addresses and runs of 9+
 * digits (card and phone numbers) masked. Strings inside JSON get the digit-run rule as well: a
 * third party's body is the least trusted text we keep. The result is at most `maxBytes` bytes of
 * UTF-8, never splitting a character; a cut one ends with {@link TRUNCATED}.
 *
 * Redaction runs on the whole text before the cut, so a secret straddling the limit is masked,
 * not half-shown; callers should read bodies with a bound of their own.
 */
export function redactText(text: string, maxBytes: number): string {
  const parsed = parseJsonContainer(text);
  const masked = parsed.ok
    ? JSON.stringify(
        walk(parsed.value, 0, false, {
          maxDepth: DEFAULT_MAX_DEPTH,
          includeStack: false,
          maskDigits: true,
          ancestors: new Set(),
        }),
        (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      )
    : maskString(text, true);
  const limit = Number.isFinite(maxBytes) ? Math.max(0, Math.floor(maxBytes)) : 0;
  const bytes = Buffer.from(masked, 'utf8');
  if (bytes.length <= limit) return masked;
  const markerBytes = Buffer.byteLength(TRUNCATED, 'utf8');
  if (limit < markerBytes) return cutUtf8(bytes, limit);
  return cutUtf8(bytes, limit - markerBytes) + TRUNCATED;
}

/**
 * Scheme, host and non-default port of a URL (`https://crm.example.com:8443`), never user info,
 * path, query or fragment: the one part of an endpoint that logs and metrics may show.
 * Returns `[invalid url]` for text that does not parse as a URL with a host.
 */
export function hostOf(url: string): string {
  return endpointHost(url) || '[invalid url]';
}
