import { InvalidTemplateError } from '../errors.ts';
import { builtinValue } from './builtins.ts';
import { isNullAt, lookupPath } from './lookup.ts';
import { parseTemplate, type ParsedTemplate, type Placeholder } from './placeholder.ts';
import { pyStr, pyTitle } from './python-text.ts';

/**
 * The template engine: Dograh's renderer (`api/utils/template_renderer.py`), rule for
 * rule, with what it does unsafely left out. A template string is scanned once
 * (placeholder.ts, linear time) into literal pieces and placeholders and cached; a
 * render resolves each placeholder as Dograh does (built-in first, then the path, then
 * `initial_context.K` falling back to `K`, then the filter) and joins the pieces.
 * Nothing in a template is ever evaluated: a placeholder is only ever a path to look
 * up among the data's own keys, so no template can run code.
 */

/** How a resolved value is written: as payload text, or as a percent-encoded URL part. */
export type Formatter = (value: unknown, placeholder: Placeholder, where: string) => string;

/** Counts rendered characters against a limit, so an oversized payload stops early. */
export class OutputBudget {
  readonly limit: number;
  #used = 0;
  constructor(limit: number) {
    this.limit = limit;
  }
  /** Adds `chars`; throws "payload too large" once the total passes the limit. */
  spend(chars: number, where: string): void {
    this.#used += chars;
    if (this.#used > this.limit) {
      throw new InvalidTemplateError(
        where,
        `payload too large: rendering passed ${this.limit} characters, the limit of a delivery, and was stopped`,
      );
    }
  }
}

export interface Scope {
  readonly context: unknown;
  readonly now: Date;
  /** `typed` (opt-in per node): a string that is exactly one placeholder keeps the value's JSON type, lists index. */
  readonly mode?: 'dograh' | 'typed';
  /** Collects what renders but deserves a word (an unknown time zone); bounded. */
  readonly warnings?: string[];
  readonly budget?: OutputBudget;
  /** Optional: told of each placeholder that rendered "" because its value is missing or null (the empty-values report). */
  readonly onEmpty?: EmptyListener;
}

/** Why a placeholder rendered empty: no such path in the context, or a null value there. */
export type EmptyReason = 'missing' | 'null';
export type EmptyListener = (placeholder: Placeholder, reason: EmptyReason) => void;

export interface RenderOptions {
  /** Turn the two characters `\` `n` of the rendered text into a newline (payloads, not URLs). */
  readonly newlines: boolean;
}

const MAX_WARNINGS = 20;

// Compiled templates by content: a warm Lambda parses each template string once. The
// cache is bounded by an estimate of the bytes it holds (keys, pieces, placeholders),
// not by a count: ten 240 KB templates weigh what 100,000 short ones do.
const MAX_CACHE_BYTES = 8 * 1024 * 1024;
const cache = new Map<string, ParsedTemplate>();
let cacheBytes = 0;
let compileCount = 0;

/** How many template strings were parsed, how many are cached, and their estimated bytes. */
export function templateCacheStats(): { compiled: number; cached: number; bytes: number } {
  return { compiled: compileCount, cached: cache.size, bytes: cacheBytes };
}

function costOf(text: string, parsed: ParsedTemplate): number {
  // UTF-16 key and pieces (sliced pieces can keep the whole text alive: count it twice),
  // plus the objects of each placeholder.
  return 64 + text.length * 4 + parsed.placeholders.length * 160;
}

/** A template string scanned into literals and placeholders, from the cache when it was seen before. */
export function compile(text: string): ParsedTemplate {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const parsed = parseTemplate(text);
  compileCount++;
  const cost = costOf(text, parsed);
  if (cost <= MAX_CACHE_BYTES / 8) {
    for (const [key, entry] of cache) {
      if (cacheBytes + cost <= MAX_CACHE_BYTES) break;
      cache.delete(key);
      cacheBytes -= costOf(key, entry);
    }
    cache.set(text, parsed);
    cacheBytes += cost;
  }
  return parsed;
}

/**
 * Renders one template string. `where` names the field for errors; `format` decides
 * how a value is written (payload text, or a percent-encoded URL part).
 */
export function renderString(
  text: string,
  where: string,
  scope: Scope,
  options: RenderOptions,
  format: Formatter,
): string {
  if (isPlain(text)) return text;
  if (text.indexOf('{{') === -1) return options.newlines ? expandNewlines(text) : text;
  return renderParsed(compile(text), where, scope, options, format);
}

/**
 * Typed templates: a string that is exactly one placeholder is its value, with its JSON
 * type (`{ value }`); any other string is rendered as text, as renderString does, from
 * the same parse.
 */
export function renderTypedString(
  text: string,
  where: string,
  scope: Scope,
  options: RenderOptions,
  format: Formatter,
): { value: unknown } | string {
  if (isPlain(text)) return text;
  if (text.indexOf('{{') === -1) return options.newlines ? expandNewlines(text) : text;
  const parsed = compile(text);
  const { literals, placeholders } = parsed;
  if (placeholders.length !== 1 || literals[0] !== '' || literals[1] !== '')
    return renderParsed(parsed, where, scope, options, format);
  const placeholder = placeholders[0] as Placeholder;
  const value = resolve(placeholder, parsed, scope, where);
  if ((value === undefined || value === null) && scope.onEmpty !== undefined)
    scope.onEmpty(placeholder, emptyReason(placeholder, scope));
  return { value };
}

function renderParsed(
  parsed: ParsedTemplate,
  where: string,
  scope: Scope,
  options: RenderOptions,
  format: Formatter,
): string {
  const { literals, placeholders } = parsed;
  let out = literals[0] as string;
  // A "\n" in the rendered text needs a backslash in a literal or in a value: tracking
  // that spares a search of the joined text (and flattening it) on nearly every render.
  let backslash = parsed.backslash;
  scope.budget?.spend(out.length, where);
  for (let i = 0; i < placeholders.length; i++) {
    const placeholder = placeholders[i] as Placeholder;
    const value = resolve(placeholder, parsed, scope, where);
    const piece = format(value, placeholder, where);
    // The empty-values report: one check per placeholder, a call only when it rendered empty.
    if (piece === '' && (value === undefined || value === null) && scope.onEmpty !== undefined)
      scope.onEmpty(placeholder, emptyReason(placeholder, scope));
    if (!backslash && typeof value !== 'number') backslash = piece.includes('\\');
    const literal = literals[i + 1] as string;
    scope.budget?.spend(piece.length + literal.length, where);
    out += piece + literal;
  }
  // Dograh replaces "\n" after substitution, so values and their neighbours take part.
  return backslash && options.newlines ? expandNewlines(out) : out;
}

/**
 * Dograh's `.replace("\\n", "\n")`: the two characters `\` `n` become a newline, left to
 * right, without overlap (as `replaceAll` does, at half its cost on short strings).
 */
export function expandNewlines(text: string): string {
  let i = text.indexOf('\\n');
  if (i === -1) return text;
  let out = '';
  let from = 0;
  do {
    out += `${text.slice(from, i)}\n`;
    from = i + 2;
    i = text.indexOf('\\n', from);
  } while (i !== -1);
  return out + text.slice(from);
}

/**
 * Whether the text holds neither "{" nor a backslash, so that rendering leaves it as it
 * is: most keys and many values. A short one is read in a loop the JIT inlines, cheaper
 * than two searches (for "{{" and for "\n"); a long one is left to the native searches.
 */
function isPlain(text: string): boolean {
  if (text.length > 32) return text.indexOf('{{') === -1 && text.indexOf('\\') === -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5c) return false;
  }
  return true;
}

/** Why a placeholder came out empty, for the report: its path (or initial_context's fallback) holds null, or nothing. */
function emptyReason(placeholder: Placeholder, scope: Scope): EmptyReason {
  const lists = scope.mode === 'typed';
  const { keys, fallbackKeys } = placeholder;
  const isNull =
    isNullAt(scope.context, keys, lists) ||
    (fallbackKeys !== undefined && fallbackKeys.length > 0 && isNullAt(scope.context, fallbackKeys, lists));
  return isNull ? 'null' : 'missing';
}

/** Dograh's `_resolve_template_value`. */
function resolve(placeholder: Placeholder, parsed: ParsedTemplate, scope: Scope, where: string): unknown {
  const { path, keys, filter, fallbackKeys } = placeholder;
  if (placeholder.builtin) {
    const builtin = builtinValue(path, scope.now, parsed.defaultZone, (message) => warn(scope, where, message));
    if (builtin !== undefined) return builtin;
  }
  const lists = scope.mode === 'typed';
  let value = lookupPath(scope.context, keys, lists);
  if (value === undefined && fallbackKeys !== undefined) value = lookupPath(scope.context, fallbackKeys, lists);
  if (filter !== undefined && (value === undefined || value === '')) {
    return filter === 'fallback' ? (placeholder.filterValue ?? pyTitle(path)) : filter;
  }
  return value;
}

function warn(scope: Scope, where: string, message: string): void {
  const { warnings } = scope;
  if (warnings === undefined || warnings.length >= MAX_WARNINGS) return;
  const line = where === '' ? message : `${where}: ${message}`;
  if (!warnings.includes(line)) warnings.push(line);
}

/** Payload text: Python's `str()` of the value; missing or null is "". */
export const formatText: Formatter = (value) => pyStr(value);

/** Python's `quote(text, safe="")`: UTF-8 percent-encoding of all but `A-Za-z0-9_.-~`. */
export function pyQuote(text: string): string {
  // Most URL values (ids, numbers, slugs) need no escape: one scan, and the text as it is.
  let i = 0;
  while (i < text.length && isUnreserved(text.charCodeAt(i))) i++;
  if (i === text.length) return text;
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${(c.charCodeAt(0) as number).toString(16).toUpperCase()}`,
  );
}

/** `A-Za-z0-9_.-~`: what `quote(text, safe="")` leaves as it is. */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2e ||
    c === 0x2d ||
    c === 0x7e
  );
}

/**
 * URL parts, as Dograh's `_format_url_value`: missing or null, an object or an array is
 * an error, "" is one unless the placeholder has a filter; booleans are `true`/`false`;
 * the text is percent-encoded. A value of "." or ".." is refused too (ours): URL
 * parsers resolve such path segments, so a run's value could move the request.
 */
export const formatUrlPart: Formatter = (value, placeholder, where) => {
  const name = placeholder.source.length > 80 ? `${placeholder.source.slice(0, 80)}...` : placeholder.source;
  if (value === undefined || value === null)
    throw new InvalidTemplateError(where, `${name} has no value, so the URL cannot be built`);
  if (value === '' && placeholder.filter === undefined)
    throw new InvalidTemplateError(where, `${name} is empty, so the URL cannot be built`);
  if (Array.isArray(value)) throw new InvalidTemplateError(where, `${name} is an array, which cannot be part of a URL`);
  if (typeof value === 'object')
    throw new InvalidTemplateError(where, `${name} is an object, which cannot be part of a URL`);
  const text = typeof value === 'boolean' ? String(value) : pyStr(value);
  if (text === '.' || text === '..')
    throw new InvalidTemplateError(where, `${name} is "${text}", which would change the URL path`);
  try {
    return pyQuote(text);
  } catch {
    throw new InvalidTemplateError(where, `${name} is not valid Unicode text, so the URL cannot be built`);
  }
};
