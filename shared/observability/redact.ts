import { isSensitiveKey } from './redact-keys.ts';
import { maskString, REDACTED } from './redact-shapes.ts';
import { setOwn } from '../domain/own-key.ts';

export { isSensitiveKey, keyWords } from './redact-keys.ts';
export { REDACTED, redactString } from './redact-shapes.ts';

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
 *
 * Three modules, one job each: `redact-keys.ts` (field names), `redact-shapes.ts` (strings) and
 * this one, the walker over structures and response snippets, which applies both.
 */

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
      // One level deeper: a toJSON that returns a fresh object with a toJSON of its own ends at maxDepth.
      if (json !== obj) return walk(json, depth + 1, sensitive, st);
    }
    return walkRecord(obj as Record<string, unknown>, depth, sensitive, st);
  } finally {
    st.ancestors.delete(obj);
  }
}

function walkRecord(
  obj: Record<string, unknown>,
  depth: number,
  sensitive: boolean,
  st: WalkState,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pairSensitive = !sensitive && pairValueIsSensitive(obj);
  for (const key of Object.keys(obj)) {
    const childSensitive = sensitive || isSensitiveKey(key) || (pairSensitive && key === 'value');
    // A `__proto__` key in parsed JSON must stay data, not become a prototype.
    setOwn(out, key, walk(readProperty(obj, key), depth + 1, childSensitive, st));
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
// Snippets
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
