import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheParses, type ExpressionParser, type ParseContext } from '../../shared/local/dynalite-expressions.ts';

// dynalite's own generated parsers, and its reserved-word check, as its validations call them.
const require = createRequire(import.meta.url);
const dynaliteDir = dirname(require.resolve('dynalite'));
const load = (name: string) => require(join(dynaliteDir, 'db', `${name}.js`)) as ExpressionParser;
const isReserved = (name: string) => ['STATUS', 'NAME', 'VALUE'].includes(name.toUpperCase());
const { compare } = require(join(dynaliteDir, 'db', 'index.js')) as { compare: unknown };

/** A context as dynalite's validateExpressions builds one for a request. */
function context(names: Record<string, string>, values: Record<string, unknown>): ParseContext {
  return {
    attrNames: names,
    attrVals: values,
    unusedAttrNames: Object.fromEntries(Object.keys(names).map((k) => [k, true])) as Record<string, true>,
    unusedAttrVals: Object.fromEntries(Object.keys(values).map((k) => [k, true])) as Record<string, true>,
    isReserved,
    compare,
  };
}

/** The parser as dynalite has it, and the same parser behind the cache. */
function pair(name: string, limit?: number) {
  const raw = load(name);
  const cached: ExpressionParser = { parse: raw.parse };
  const stats = cacheParses(cached, limit);
  /** Parses with both, each on its own context, and returns both results with the contexts after. */
  const both = (text: string, names: Record<string, string>, values: () => Record<string, unknown>) => {
    const run = (parser: ExpressionParser) => {
      const ctx = context(names, values());
      let result: unknown;
      try {
        result = parser.parse(text, { context: ctx });
      } catch (error) {
        result = `threw ${(error as Error).name}: ${(error as Error).message}`;
      }
      return { result, ctx };
    };
    return { raw: run(raw), cached: run(cached) };
  };
  return { both, stats };
}

const CLAIM_CONDITION =
  'attribute_not_exists(#pk) OR ( NOT (#status IN (:a, :b)) AND (attribute_not_exists(#lease) OR #lease <= :now) )';
const CLAIM_NAMES = { '#pk': 'delivery_id', '#status': 'status', '#lease': 'lease_until' };
const claimValues = (now: number) => () => ({
  ':a': { S: 'delivered' },
  ':b': { S: 'failed' },
  ':now': { N: String(now) },
});

describe('cacheParses, in front of dynalite’s expression parsers', () => {
  it('gives, for an expression seen before, the tree the parser gives, holding this request’s values', () => {
    const { both, stats } = pair('conditionParser');
    both(CLAIM_CONDITION, CLAIM_NAMES, claimValues(1));
    const second = both(CLAIM_CONDITION, CLAIM_NAMES, claimValues(2));
    expect(stats).toEqual({ hits: 1, misses: 1 });
    expect(second.cached.result).toEqual(second.raw.result);
    expect(JSON.stringify(second.cached.result)).toContain('"N":"2"');
    // The very objects of the request, as the parser puts them in its tree.
    const values = second.cached.ctx.attrVals as Record<string, unknown>;
    const found: unknown[] = [];
    const walk = (node: unknown): void => {
      if (node === values[':now']) found.push(node);
      else if (node !== null && typeof node === 'object') for (const v of Object.values(node)) walk(v);
    };
    walk(second.cached.result);
    expect(found).toHaveLength(1);
  });

  it('marks the names and values it used, as the parser does, so dynalite still reports unused ones', () => {
    const { both } = pair('updateParser');
    const names = { '#s': 'state', '#u': 'updated_at', '#extra': 'extra' };
    const values = () => ({ ':s': { S: 'sending' }, ':u': { S: 'now' }, ':spare': { S: 'x' } });
    both('SET #s = :s, #u = :u', names, values);
    const second = both('SET #s = :s, #u = :u', names, values);
    expect(second.cached.result).toEqual(second.raw.result);
    expect(second.cached.ctx.unusedAttrNames).toEqual({ '#extra': true });
    expect(second.cached.ctx.unusedAttrVals).toEqual({ ':spare': true });
    expect(second.cached.ctx.unusedAttrNames).toEqual(second.raw.ctx.unusedAttrNames);
  });

  it('parses anew when a value has another type, so a type error is still the parser’s', () => {
    const { both, stats } = pair('updateParser');
    const names = { '#n': 'count' };
    both('ADD #n :v', names, () => ({ ':v': { N: '1' } }));
    const wrongType = both('ADD #n :v', names, () => ({ ':v': { S: 'one' } }));
    expect(wrongType.cached.result).toEqual(wrongType.raw.result);
    expect(wrongType.cached.result).toMatch(/^Incorrect operand type/);
    expect(stats.misses).toBe(2);
  });

  it('never caches an expression whose check reads values: BETWEEN and attribute_type', () => {
    const { both, stats } = pair('conditionParser');
    const names = { '#n': 'count' };
    both('#n BETWEEN :lo AND :hi', names, () => ({ ':lo': { N: '1' }, ':hi': { N: '5' } }));
    const reversed = both('#n BETWEEN :lo AND :hi', names, () => ({ ':lo': { N: '9' }, ':hi': { N: '5' } }));
    expect(reversed.cached.result).toEqual(reversed.raw.result);
    expect(reversed.cached.result).toMatch(/BETWEEN operator requires upper bound/);
    both('attribute_type(#n, :t)', names, () => ({ ':t': { S: 'N' } }));
    const badType = both('attribute_type(#n, :t)', names, () => ({ ':t': { S: 'NUMBER' } }));
    expect(badType.cached.result).toEqual(badType.raw.result);
    expect(badType.cached.result).toMatch(/^Invalid attribute type name/);
    expect(stats).toEqual({ hits: 0, misses: 0 });
  });

  it('leaves errors to the parser: a missing name, a reserved word, a syntax error', () => {
    const { both, stats } = pair('conditionParser');
    for (let i = 0; i < 2; i++) {
      const missing = both('#a = :v', { '#b': 'b' }, () => ({ ':v': { S: 'x' } }));
      expect(missing.cached.result).toEqual(missing.raw.result);
      expect(missing.cached.result).toMatch(/attribute name used in the document path is not defined/);
      const reserved = both('status = :v', {}, () => ({ ':v': { S: 'x' } }));
      expect(reserved.cached.result).toEqual(reserved.raw.result);
      expect(reserved.cached.result).toMatch(/reserved keyword/);
      const syntax = both('#a = = :v', { '#a': 'a' }, () => ({ ':v': { S: 'x' } }));
      expect(syntax.cached.result).toEqual(syntax.raw.result);
      expect(syntax.cached.result).toMatch(/^threw SyntaxError/);
    }
    expect(stats.hits).toBe(0);
  });

  it('tells apart the same text with other names', () => {
    const { both } = pair('projectionParser');
    both('#a, #b', { '#a': 'x', '#b': 'y' }, () => ({}));
    const other = both('#a, #b', { '#a': 'x', '#b': 'z' }, () => ({}));
    expect(other.cached.result).toEqual(other.raw.result);
    expect(JSON.stringify(other.cached.result)).toContain('"z"');
  });

  it('hands out a copy each time: a change dynalite makes to one tree does not reach the next', () => {
    const { both } = pair('updateParser');
    const names = { '#s': 'state' };
    const first = both('SET #s = :s', names, () => ({ ':s': { S: 'a' } }));
    (first.cached.result as { sections: unknown[] }).sections.length = 0;
    const second = both('SET #s = :s', names, () => ({ ':s': { S: 'b' } }));
    expect(second.cached.result).toEqual(second.raw.result);
    const third = both('SET #s = :s', names, () => ({ ':s': { S: 'c' } }));
    (second.cached.result as { sections: unknown[] }).sections.length = 0;
    expect(third.cached.result).toEqual(third.raw.result);
  });

  it('keeps at most `limit` parses, dropping the oldest', () => {
    const { both, stats } = pair('projectionParser', 2);
    for (const text of ['a', 'b', 'c', 'a']) both(text, {}, () => ({}));
    expect(stats).toEqual({ hits: 0, misses: 4 });
    both('c', {}, () => ({}));
    expect(stats.hits).toBe(1);
  });
});
