import { Eta } from 'eta';
import { InvalidTemplateError } from '../errors.ts';
import { builtinValue } from './builtins.ts';
import { lookupPath, valueToText } from './lookup.ts';
import { parseTemplate, type ParseOptions, type Placeholder } from './placeholder.ts';

/**
 * The template engine, on eta, with tenant text kept out of eta's reach.
 *
 * A template string is first parsed and checked against the placeholder grammar
 * (placeholder.ts). Only then is it handed to eta, as a source this module
 * writes itself: `<%~it.l[0]%><%~it.v(0)%><%~it.l[1]%>`: literal pieces are
 * data (`it.l`), and the only call a template can make is `it.v(i)`, which looks
 * up the i-th checked path. Whatever a tenant writes, `<% %>` included, never
 * reaches eta's parser, so no template can run code.
 */
const eta = new Eta({ autoEscape: false, autoTrim: false, useWith: false, varName: 'it', cache: false, debug: false });

type EtaFunction = ReturnType<Eta['compile']>;

interface Compiled {
  readonly literals: readonly string[];
  readonly placeholders: readonly Placeholder[];
  /** Absent when the text has no placeholder: it renders as its literal. */
  readonly fn: EtaFunction | undefined;
}

/** Called for each placeholder: its resolved value (after built-ins), and how to write it. */
export type Formatter = (value: unknown, placeholder: Placeholder, where: string) => string;

export interface Scope {
  readonly context: unknown;
  readonly now: Date;
  /** Optional: told of each placeholder that rendered "" because its value is missing or null (the empty-values report). */
  readonly onEmpty?: EmptyListener;
}

/** Why a placeholder rendered empty: no such path in the context, or a null value there. */
export type EmptyReason = 'missing' | 'null';
export type EmptyListener = (placeholder: Placeholder, reason: EmptyReason) => void;

// Compiled templates by content, one map per parse mode: a warm Lambda never compiles
// the same template twice. Keyed by the text itself: a key built per lookup (mode + text)
// is a new string to flatten and hash on every render of every string. Bounded so a
// stream of distinct templates cannot grow it forever.
const MAX_CACHED = 5000;
const payloadCache = new Map<string, Compiled>();
const urlCache = new Map<string, Compiled>();
let compileCount = 0;

/** How many templates were compiled and how many are cached; for tests and benchmarks. */
export function templateCacheStats(): { compiled: number; cached: number } {
  return { compiled: compileCount, cached: payloadCache.size + urlCache.size };
}

function compile(text: string, where: string, options: ParseOptions): Compiled {
  const cache = options.newlines ? payloadCache : urlCache;
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const { literals, placeholders } = parseTemplate(text, where, options);
  let fn: EtaFunction | undefined;
  if (placeholders.length > 0) {
    let source = '<%~it.l[0]%>';
    for (let i = 0; i < placeholders.length; i++) source += `<%~it.v(${i})%><%~it.l[${i + 1}]%>`;
    fn = eta.compile(source);
    compileCount++;
  }
  const compiled: Compiled = { literals, placeholders, fn };
  if (payloadCache.size + urlCache.size >= MAX_CACHED) {
    payloadCache.clear();
    urlCache.clear();
  }
  cache.set(text, compiled);
  return compiled;
}

/**
 * Renders one template string. `where` names the field for errors; `format`
 * decides how a value is written (payload text, or a percent-encoded URL part).
 */
export function renderString(text: string, where: string, scope: Scope, options: ParseOptions, format: Formatter): string {
  const compiled = compile(text, where, options);
  if (compiled.fn === undefined) return compiled.literals[0] ?? '';
  return compiled.fn.call(eta, new Lookups(compiled, scope, where, format));
}

/**
 * What a compiled template sees as `it`: its literal pieces (`l`) and `v(i)`, the
 * value of its i-th checked placeholder. A class rather than a closure per call:
 * this runs for every template string of every delivery.
 */
class Lookups {
  readonly l: readonly string[];
  readonly #compiled: Compiled;
  readonly #scope: Scope;
  readonly #where: string;
  readonly #format: Formatter;
  constructor(compiled: Compiled, scope: Scope, where: string, format: Formatter) {
    this.l = compiled.literals;
    this.#compiled = compiled;
    this.#scope = scope;
    this.#where = where;
    this.#format = format;
  }
  v(i: number): string {
    const placeholder = this.#compiled.placeholders[i] as Placeholder;
    const value = resolve(placeholder, this.#scope, this.#where);
    const text = this.#format(value, placeholder, this.#where);
    // Empty-values report (signing branch): one check per placeholder, a call only when it rendered empty.
    if (text === '' && (value === undefined || value === null) && this.#scope.onEmpty !== undefined) {
      this.#scope.onEmpty(placeholder, value === null ? 'null' : 'missing');
    }
    return text;
  }
}

function resolve(placeholder: Placeholder, scope: Scope, where: string): unknown {
  const { path } = placeholder;
  const value = lookupPath(scope.context, path);
  if (value === undefined && path.length === 1 && !hasOwnKey(scope.context, path[0] as string)) {
    return builtinValue(path[0] as string, scope.now, where);
  }
  return value;
}

function hasOwnKey(data: unknown, key: string): boolean {
  return typeof data === 'object' && data !== null && Object.hasOwn(data, key);
}

/** Payload text: missing or null is "", and the default applies to missing, null or "". */
export const formatText: Formatter = (value, placeholder) => {
  const text = valueToText(value);
  return text === '' && placeholder.fallback !== undefined ? placeholder.fallback : text;
};

/** URL parts: percent-encoded; missing, empty, object or array values are errors. */
export const formatUrlPart: Formatter = (value, placeholder, where) => {
  if (typeof value === 'object' && value !== null) {
    throw new InvalidTemplateError(where, `${placeholder.source} is ${Array.isArray(value) ? 'an array' : 'an object'}, which cannot be part of a URL`);
  }
  const text = formatText(value, placeholder, where);
  if (text === '') throw new InvalidTemplateError(where, `${placeholder.source} is missing or empty, so the URL cannot be built`);
  // encodeURIComponent leaves "." alone, and URL parsers resolve "." and ".." path
  // segments (encoded or not): a run's value could move the request to another path.
  if (text === '.' || text === '..') {
    throw new InvalidTemplateError(where, `${placeholder.source} is "${text}", which would change the URL path`);
  }
  return encodeURIComponent(text);
};
