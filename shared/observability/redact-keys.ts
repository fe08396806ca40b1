/**
 * Redaction by field NAME: a value under `password`, `accessToken`, `X-API-Key`,
 * `billing_address`, ... is replaced by the walker in `redact.ts`,
 * whatever it looks like (a phone number stored as a number is still a phone number).
 * Key heuristics only: no walking, no string shapes.
 */

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
const IDENTIFIER_SUFFIXES = new Set([
  'id',
  'ids',
  'uuid',
  'arn',
  'type',
  'kind',
  'name',
  'names',
  'version',
  'algorithm',
]);
const IDENTIFIER_EXEMPT_TERMS = new Set(['credential', 'secret', 'token', 'apikey', 'auth', 'signature']);

/**
 * `prompt_tokens`, `total_tokens`, `max_tokens`, `token_count` are LLM usage counts that Dograh
 * puts in `cost_info`, not bearer tokens. A count is the plural `tokens` after one of these words,
 * or `token`/`tokens` before one of {@link TOKEN_COUNT_AFTER}; any other token word (`llm_token`,
 * `device_tokens`, `prompt_token`) may hold a credential and is redacted.
 */
const TOKEN_COUNT_BEFORE = new Set([
  'prompt',
  'completion',
  'completions',
  'candidates',
  'total',
  'input',
  'output',
  'max',
  'min',
  'num',
  'used',
  'cached',
  'reasoning',
  'llm',
  'remaining',
]);
const TOKEN_COUNT_AFTER = new Set(['count', 'counts', 'used', 'usage', 'limit', 'remaining', 'total']);

/** Whether every word that holds "token" is in a count position (`prompt_tokens`, `promptTokenCount`). */
function isTokenCount(words: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    if (!word.includes('token')) continue;
    seen = true;
    const plainToken = word === 'token' || word === 'tokens';
    const counted =
      (word === 'tokens' && TOKEN_COUNT_BEFORE.has(words[i - 1] ?? '')) ||
      (plainToken && TOKEN_COUNT_AFTER.has(words[i + 1] ?? ''));
    if (!counted) return false;
  }
  return seen;
}

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
  return splitCase(key)
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
}

const OTHER = 0;
const UPPER = 1;
const LOWER = 2;
const DIGIT = 3;

/** The case class of a code point: ASCII by arithmetic, the rest by Unicode property. */
function caseKind(cp: number): number {
  if (cp < 128) {
    if (cp >= 65 && cp <= 90) return UPPER;
    if (cp >= 97 && cp <= 122) return LOWER;
    return cp >= 48 && cp <= 57 ? DIGIT : OTHER;
  }
  const ch = String.fromCodePoint(cp);
  if (/\p{Lu}/u.test(ch)) return UPPER;
  if (/\p{Ll}/u.test(ch)) return LOWER;
  return /\p{N}/u.test(ch) ? DIGIT : OTHER;
}

function kindAt(text: string, index: number): number {
  const cp = text.codePointAt(index);
  return cp === undefined ? OTHER : caseKind(cp);
}

/**
 * Puts a space where a word starts inside a camel-cased run: before an upper-case letter that
 * follows a lower-case letter or a digit (`refreshToken`), and before the last capital of a run
 * of them that a lower-case letter follows (`APIKey`). One pass: the regex form of the second
 * rule, `(\p{Lu}+)(\p{Lu}\p{Ll})`, backtracks over every start of a long capital run and took
 * 4 s on a 64 KiB key of `A`s (quadratic); keys are tenant input.
 */
function splitCase(key: string): string {
  const parts: string[] = [];
  let wordStart = 0;
  let prev = OTHER;
  for (let i = 0; i < key.length; ) {
    const cp = key.codePointAt(i) ?? 0;
    const size = cp > 0xffff ? 2 : 1;
    const kind = caseKind(cp);
    if (kind === UPPER && (prev === LOWER || prev === DIGIT || (prev === UPPER && kindAt(key, i + size) === LOWER))) {
      parts.push(key.slice(wordStart, i));
      wordStart = i;
    }
    prev = kind;
    i += size;
  }
  parts.push(key.slice(wordStart));
  return parts.join(' ');
}

function termIsExempt(term: string, words: readonly string[]): boolean {
  const last = words[words.length - 1] ?? '';
  if (IDENTIFIER_EXEMPT_TERMS.has(term) && IDENTIFIER_SUFFIXES.has(last)) return true;
  if (term === 'token' && isTokenCount(words)) return true;
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
const KEY_CACHE_MAX_KEY_LENGTH = 128;

/**
 * Whether a field of this name holds a secret or personal data, in any naming style
 * (snake_case, camelCase, PascalCase, kebab-case, SCREAMING_CASE, words with spaces).
 */
export function isSensitiveKey(key: string): boolean {
  const cached = keyCache.get(key);
  if (cached !== undefined) return cached;
  const result = classifyKey(key);
  // A long key (an id used as a key, a hostile body) is classified but not kept: the cache holds
  // at most KEY_CACHE_LIMIT short keys, not that many copies of whatever a body carried.
  if (key.length > KEY_CACHE_MAX_KEY_LENGTH) return result;
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
  keyCache.set(key, result);
  return result;
}
