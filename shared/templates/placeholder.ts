import { isPySpace, pyStrip } from './python-text.ts';

/**
 * Placeholders found exactly where Dograh's pattern finds them (CONTRACT section 3):
 *
 *   \{\{\s*([^|\s}]+)(?:\s*\|\s*([^:}]+)(?::([^}]+))?)?\s*\}\}
 *
 * applied as Python's `re.sub` applies it: left to right, a match resumes the scan
 * after itself, no match at a position moves on one character; `\s` is Python's
 * whitespace. Text that does not match stays literal: `{{{ x }}}` is "{" + x + "}",
 * `{{{x}}}` is the path `{x` then "}", a lone `{{ x }` is text.
 *
 * Written by hand rather than run as a regex: the pattern backtracks, and a scan from
 * every `{{` of `{{a|{{a|{{a|...` is quadratic in any regex engine (Dograh's own took
 * 166 s on 40 KB of "{{"). Here every look-ahead ("the next `}`", "the end of this
 * run") is a cursor that only moves right (see Ahead), so the scan is linear in the text.
 */
export interface Placeholder {
  /** The path as written (group 1): the key of built-ins and of `fallback`'s title case. */
  readonly path: string;
  /** `path` split on dots. */
  readonly keys: readonly string[];
  /** Group 2, stripped: `default` in `{{ x | default }}`, `fallback` in `{{ x | fallback:V }}`. */
  readonly filter: string | undefined;
  /** Group 3, stripped: what follows the first colon. */
  readonly filterValue: string | undefined;
  /** The placeholder as written, for messages. */
  readonly source: string;
  /** Whether the path starts with `current_`, so it may name a time built-in. */
  readonly builtin: boolean;
  /**
   * For a path under `initial_context.`, the keys Dograh tries when the path finds
   * nothing (the path without its first key; none for `initial_context.` itself, the
   * whole context); undefined for any other path. Worked out once per parse, not per render.
   */
  readonly fallbackKeys: readonly string[] | undefined;
}

const INITIAL_CONTEXT = 'initial_context.';
const NO_KEYS: readonly string[] = [];

/** A template string split into literal text and placeholders; `literals.length === placeholders.length + 1`. */
export interface ParsedTemplate {
  readonly literals: readonly string[];
  readonly placeholders: readonly Placeholder[];
  /**
   * The zone of the first `{{ current_time_<zone>` or `{{ current_weekday_<zone>` in the
   * text (found as Dograh finds it, even where no placeholder matches): the zone of
   * `current_time` and `current_weekday` without one.
   */
  readonly defaultZone: string | undefined;
  /** Whether a literal holds a backslash: without one, only a value can bring a `\n` into the rendered text. */
  readonly backslash: boolean;
}

const PIPE = 0x7c;
const CLOSE = 0x7d;
const COLON = 0x3a;

/**
 * "The first index >= i whose character ends a run" (text.length if none), for queries
 * whose i never decreases: an answer is reused while i stays inside the run it ended,
 * so all the queries of one scan read each character at most once.
 */
class Seek {
  readonly #text: string;
  readonly #stops: (code: number) => boolean;
  #from = -1;
  #at = -1;
  constructor(text: string, stops: (code: number) => boolean) {
    this.#text = text;
    this.#stops = stops;
  }
  next(i: number): number {
    if (i >= this.#from && i <= this.#at) return this.#at;
    const text = this.#text;
    let j = i;
    while (j < text.length && !this.#stops(text.charCodeAt(j))) j++;
    this.#from = i;
    this.#at = j;
    return j;
  }
}

const endsPath = (c: number) => c === PIPE || c === CLOSE || isPySpace(c);
const notSpace = (c: number) => !isPySpace(c);
const colonOrClose = (c: number) => c === COLON || c === CLOSE;
const close = (c: number) => c === CLOSE;

/**
 * One cursor per question the pattern asks, each asked at positions that only grow as the
 * scan moves right, so every cursor reads the text once: the scan is linear, in O(1) memory.
 */
class Ahead {
  readonly afterOpen: Seek;
  readonly pathEnd: Seek;
  readonly afterPath: Seek;
  readonly filterEnd: Seek;
  readonly valueEnd: Seek;
  constructor(text: string) {
    this.afterOpen = new Seek(text, notSpace);
    this.pathEnd = new Seek(text, endsPath);
    this.afterPath = new Seek(text, notSpace);
    this.filterEnd = new Seek(text, colonOrClose);
    this.valueEnd = new Seek(text, close);
  }
}

interface Match {
  readonly end: number;
  readonly pathStart: number;
  readonly pathEnd: number;
  readonly filter: readonly [number, number] | undefined;
  readonly value: readonly [number, number] | undefined;
}

/** The pattern anchored at `p` (where text has "{{"), or undefined; O(1) with the tables. */
function matchAt(text: string, p: number, at: Ahead): Match | undefined {
  const n = text.length;
  const start = at.afterOpen.next(p + 2);
  const end = at.pathEnd.next(start);
  if (end === start) return undefined;
  const k = at.afterPath.next(end);
  if (k < n && text.charCodeAt(k) === PIPE) {
    // `\s*([^:}]+)`: the run up to the next ":" or "}" (whitespace may be all of it).
    const m = k + 1;
    const q = at.filterEnd.next(m);
    if (q === m || q === n) return undefined;
    if (text.charCodeAt(q) === COLON) {
      const r = q + 1;
      const s = at.valueEnd.next(r);
      if (s === r || s + 1 >= n || text.charCodeAt(s + 1) !== CLOSE) return undefined;
      return { end: s + 2, pathStart: start, pathEnd: end, filter: [m, q], value: [r, s] };
    }
    if (q + 1 >= n || text.charCodeAt(q + 1) !== CLOSE) return undefined;
    return { end: q + 2, pathStart: start, pathEnd: end, filter: [m, q], value: undefined };
  }
  if (k + 1 < n && text.charCodeAt(k) === CLOSE && text.charCodeAt(k + 1) === CLOSE) {
    return { end: k + 2, pathStart: start, pathEnd: end, filter: undefined, value: undefined };
  }
  return undefined;
}

const TIME_PREFIX = 'current_time_';
const WEEKDAY_PREFIX = 'current_weekday_';

/** Dograh's pre-scan: `\{\{\s*(?:current_time|current_weekday)_([^|\s}]+)`, first match. */
function findDefaultZone(text: string): string | undefined {
  const afterOpen = new Seek(text, notSpace);
  const zoneEnd = new Seek(text, endsPath);
  for (let p = text.indexOf('{{'); p !== -1; p = text.indexOf('{{', p + 1)) {
    const i = afterOpen.next(p + 2);
    let z: number;
    if (text.startsWith(TIME_PREFIX, i)) z = i + TIME_PREFIX.length;
    else if (text.startsWith(WEEKDAY_PREFIX, i)) z = i + WEEKDAY_PREFIX.length;
    else continue;
    const end = zoneEnd.next(z);
    if (end > z) return text.slice(z, end);
  }
  return undefined;
}

const NO_PLACEHOLDERS: readonly Placeholder[] = [];

/** Splits a template string into literals and placeholders, in time linear in its length. */
export function parseTemplate(text: string): ParsedTemplate {
  const first = text.indexOf('{{');
  if (first === -1)
    return { literals: [text], placeholders: NO_PLACEHOLDERS, defaultZone: undefined, backslash: text.includes('\\') };
  const at = new Ahead(text);
  const literals: string[] = [];
  const placeholders: Placeholder[] = [];
  let cursor = 0;
  for (let p = first; p !== -1; ) {
    const match = matchAt(text, p, at);
    if (match === undefined) {
      p = text.indexOf('{{', p + 1);
      continue;
    }
    literals.push(text.slice(cursor, p));
    const path = text.slice(match.pathStart, match.pathEnd);
    const keys = path.split('.');
    placeholders.push({
      path,
      keys,
      filter: match.filter === undefined ? undefined : pyStrip(text.slice(match.filter[0], match.filter[1])),
      filterValue: match.value === undefined ? undefined : pyStrip(text.slice(match.value[0], match.value[1])),
      source: text.slice(p, match.end),
      builtin: path.startsWith('current_'),
      fallbackKeys: !path.startsWith(INITIAL_CONTEXT) ? undefined : path === INITIAL_CONTEXT ? NO_KEYS : keys.slice(1),
    });
    cursor = match.end;
    p = text.indexOf('{{', cursor);
  }
  literals.push(text.slice(cursor));
  return {
    literals,
    placeholders,
    defaultZone: findDefaultZone(text),
    backslash: literals.some((literal) => literal.includes('\\')),
  };
}

/**
 * Brace pairs that are not part of any placeholder: a `{{` or `}}` left in the literal
 * text (`{{ workflow_run_id }`, `{{ a b }}`). Dograh renders them as written; `validate`
 * warns about them.
 */
export function strayBraces(parsed: ParsedTemplate): string[] {
  const stray: string[] = [];
  for (const literal of parsed.literals) {
    if (literal.includes('{{') || literal.includes('}}'))
      stray.push(literal.length > 60 ? `${literal.slice(0, 60)}...` : literal);
  }
  return stray;
}
