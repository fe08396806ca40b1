import type { Credential } from '../schemas/credential.ts';

/**
 * Removes a credential's values from text bound for the outcome log (response snippets, error
 * messages). An endpoint that echoes the request back (an error page, a debug endpoint) must not
 * put a secret into DynamoDB, in whatever form it comes back:
 * - as sent, or URL-encoded (`%2F`, `+` for spaces), JSON-escaped (`\"`, `\/`, `\u00e9`),
 *   HTML-escaped, or base64 / base64url at any alignment inside a longer blob;
 * - in any letter case (the endpoint lower-cased its echo);
 * - cut short: a long enough start of a value followed by a quote or the end of the text (the
 *   echo was truncated), or a long enough end of one after a quote or the start.
 *
 * Every search is Knuth-Morris-Pratt over case-folded text: linear in the text and the secret,
 * whatever either holds (both are tenant input: the tenant owns the endpoint and the secret).
 */

/** Values shorter than this are left alone when whole: they would blank out ordinary words. */
export const MIN_SECRET_LENGTH = 4;
/** A cut-off start or end of a value is scrubbed from this many characters on. */
export const MIN_PARTIAL_LENGTH = 8;

const REDACTED = '[redacted]';

/** The values of a credential as they could come back in a response: raw, and as sent in headers. */
export function credentialSecrets(credential: Credential): string[] {
  switch (credential.type) {
    case 'NONE':
      return [];
    case 'API_KEY':
      return [credential.api_key];
    case 'BEARER_TOKEN':
      return [credential.token];
    case 'BASIC_AUTH':
      return [
        credential.password,
        `${credential.username}:${credential.password}`,
        Buffer.from(`${credential.username}:${credential.password}`).toString('base64'),
      ];
    case 'CUSTOM_HEADER':
      return [credential.header_value];
    case 'OAUTH2_CLIENT_CREDENTIALS': {
      // Sent to the token endpoint as HTTP Basic of the form-encoded pair (RFC 6749 2.3.1), or in the body.
      const form = (v: string) => encodeURIComponent(v).replaceAll('%20', '+');
      return [
        credential.client_secret,
        `${credential.client_id}:${credential.client_secret}`,
        `${form(credential.client_id)}:${form(credential.client_secret)}`,
      ];
    }
  }
}

/** The forms a value may be echoed in, before case folding. */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret]);
  try {
    const uri = encodeURIComponent(secret);
    forms.add(uri);
    forms.add(uri.replaceAll('%20', '+'));
    forms.add(encodeURI(secret));
  } catch {
    // A lone surrogate cannot be URL-encoded, so it cannot come back that way either.
  }
  const json = JSON.stringify(secret).slice(1, -1);
  forms.add(json);
  forms.add(json.replaceAll('/', '\\/'));
  forms.add(json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  forms.add(secret.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`));
  for (const core of base64Cores(secret)) {
    forms.add(core);
    forms.add(core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * The base64 characters that encode `secret` alone, at each of the three byte offsets it can
 * have inside a longer base64 blob: the characters that also hold bits of a neighbour are left
 * out, so the core is found whatever surrounds it.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    cores.push(encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6)));
  }
  return cores;
}

/** Removes every form of every secret from `text`; null stays null. */
export function scrubSecrets(text: string | null, secrets: readonly string[]): string | null {
  if (text === null || text === '') return text;
  const folded = foldCase(text);
  let reversedText: string | undefined;
  const reversedOnce = () => (reversedText ??= reverse(folded));
  const ranges: [number, number][] = [];
  const seen = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (const form of secretForms(secret)) {
      const pattern = foldCase(form);
      if (seen.has(pattern)) continue;
      seen.add(pattern);
      // Any match, whole or cut, holds the form's first (or last) few characters: a native
      // search for them skips the scan for the forms a text does not hold, which is most.
      const probe = Math.min(MIN_PARTIAL_LENGTH, pattern.length);
      if (folded.includes(pattern.slice(0, probe))) findForward(folded, pattern, ranges);
      if (pattern.length > MIN_PARTIAL_LENGTH && folded.includes(pattern.slice(-probe))) {
        // The end of a value after a cut at its start: the same search on both strings reversed.
        const back: [number, number][] = [];
        findForward(reversedOnce(), reverse(pattern), back, true);
        for (const [start, end] of back) ranges.push([folded.length - end, folded.length - start]);
      }
    }
  }
  if (ranges.length === 0) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  for (const [start, end] of ranges) {
    if (end <= copied) continue;
    if (start >= copied) out += text.slice(copied, start) + REDACTED;
    copied = end;
  }
  return out + text.slice(copied);
}

/**
 * Knuth-Morris-Pratt: pushes the range of every whole occurrence of `pattern`, and (unless
 * `partialOnly` says the whole ones are found elsewhere) of every start of it at least
 * {@link MIN_PARTIAL_LENGTH} long that the text cuts off: followed by its end or a character
 * that cannot continue a token (a quote, a space, punctuation). O(text + pattern).
 */
function findForward(text: string, pattern: string, out: [number, number][], partialOnly = false): void {
  const m = pattern.length;
  const fail = failureTable(pattern);
  let k = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    while (k > 0 && pattern.charCodeAt(k) !== c) k = fail[k - 1] ?? 0;
    if (pattern.charCodeAt(k) === c) k++;
    if (k === m) {
      if (!partialOnly) out.push([i + 1 - m, i + 1]);
      k = fail[k - 1] ?? 0;
      continue;
    }
    if (k >= MIN_PARTIAL_LENGTH && (i + 1 === text.length || isCut(text.charCodeAt(i + 1))))
      out.push([i + 1 - k, i + 1]);
  }
}

function failureTable(pattern: string): Int32Array {
  const fail = new Int32Array(pattern.length);
  let k = 0;
  for (let i = 1; i < pattern.length; i++) {
    while (k > 0 && pattern.charCodeAt(i) !== pattern.charCodeAt(k)) k = fail[k - 1] ?? 0;
    if (pattern.charCodeAt(i) === pattern.charCodeAt(k)) k++;
    fail[i] = k;
  }
  return fail;
}

/** Anything but a letter or digit ends a truncated echo: a quote, space, `<`, `&`, `\`, `…`, ... */
function isCut(code: number): boolean {
  if (code < 128) return !((code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122));
  return !/[\p{L}\p{N}]/u.test(String.fromCharCode(code));
}

/**
 * Lower case, one UTF-16 unit for one: a character whose lower case is longer (`İ`) is kept as it
 * is, so positions in the folded text are positions in the original.
 */
function foldCase(text: string): string {
  const lower = text.toLowerCase();
  // ASCII folds one for one; only other text needs the careful path.
  if (lower.length === text.length && !/[^\x00-\x7f]/.test(text)) return lower;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    const folded = ch.toLowerCase();
    out += folded.length === 1 ? folded : ch;
  }
  return out;
}

function reverse(text: string): string {
  let out = '';
  for (let i = text.length - 1; i >= 0; i--) out += text[i];
  return out;
}
