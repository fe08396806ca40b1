import { InvalidTemplateError } from '../errors.ts';

/**
 * The placeholder grammar (CONTRACT section 3), parsed before anything renders:
 *
 *   placeholder := "{{" ws path ws [ "|" ws [ "fallback:" ] default ] ws "}}"
 *   path        := key ( "." key )*
 *   key         := [A-Za-z0-9_+/-]+      (not __proto__, prototype or constructor)
 *
 * `/` and `+` are in keys for the built-ins' time zones (`current_time_Etc/GMT+5`).
 * A `{{` with no `}}` after it is plain text; a `{{ ... }}` that does not fit the
 * grammar is an error, so eta's own tags (`{{= }}`, `{{~ }}`) never pass as text
 * that looks rendered.
 */
export interface Placeholder {
  /** The keys of the path, already checked. */
  readonly path: readonly string[];
  /** Text used when the value is missing, null or "". */
  readonly fallback: string | undefined;
  /** The placeholder as written, for error messages. */
  readonly source: string;
}

/** A template string split into literal text and placeholders; `literals.length === placeholders.length + 1`. */
export interface ParsedTemplate {
  readonly literals: readonly string[];
  readonly placeholders: readonly Placeholder[];
}

const KEY = /^[A-Za-z0-9_+/-]+$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);
const LEGACY_FALLBACK = 'fallback:';

export interface ParseOptions {
  /** Turn the two characters `\` `n` into a newline in literal text and defaults (payload templates). */
  readonly newlines: boolean;
}

/**
 * Splits a template string into literals and placeholders, checking every
 * placeholder against the grammar. `where` names the field in errors.
 */
export function parseTemplate(text: string, where: string, options: ParseOptions): ParsedTemplate {
  const literals: string[] = [];
  const placeholders: Placeholder[] = [];
  const literal = (s: string) => (options.newlines ? s.replaceAll('\\n', '\n') : s);
  let cursor = 0;
  let buffer = '';
  for (;;) {
    const open = text.indexOf('{{', cursor);
    if (open === -1) break;
    const close = text.indexOf('}}', open + 2);
    if (close === -1) break;
    buffer += text.slice(cursor, open);
    const source = text.slice(open, close + 2);
    placeholders.push(parsePlaceholder(text.slice(open + 2, close), source, where, literal));
    literals.push(literal(buffer));
    buffer = '';
    cursor = close + 2;
  }
  literals.push(literal(buffer + text.slice(cursor)));
  return { literals, placeholders };
}

function parsePlaceholder(inner: string, source: string, where: string, literal: (s: string) => string): Placeholder {
  const bar = inner.indexOf('|');
  const rawPath = (bar === -1 ? inner : inner.slice(0, bar)).trim();
  let fallback: string | undefined;
  if (bar !== -1) {
    fallback = inner.slice(bar + 1).trim();
    if (fallback.startsWith(LEGACY_FALLBACK)) fallback = fallback.slice(LEGACY_FALLBACK.length).trim();
    fallback = literal(fallback);
  }
  if (rawPath === '') throw new InvalidTemplateError(where, `placeholder ${source} has no path`);
  const path = rawPath.split('.');
  for (const key of path) {
    if (!KEY.test(key)) {
      throw new InvalidTemplateError(
        where,
        `placeholder ${source} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"`,
      );
    }
    if (FORBIDDEN_KEYS.has(key)) {
      throw new InvalidTemplateError(where, `placeholder ${source} uses "${key}", which templates may not read`);
    }
  }
  return { path, fallback, source };
}
