/**
 * A cache in front of dynalite's expression parsers, for the local emulator only.
 *
 * dynalite parses every expression of every request (update, condition, key condition, filter,
 * projection) with a PEG parser: half the CPU of `webhooks local`'s emulator, for the same few
 * expressions with new values each time. The parse resolves `#name`s and `:value`s as it goes and
 * checks them (reserved words, operand types), so its result depends on the text, the names and
 * the values' types, and it holds the request's value objects. The cache keys a parse by exactly
 * that (text, each `#name` with what it names, each `:value` with its type) and hands out a copy
 * of the cached tree with the request's own value objects put where the first request's were.
 * Expressions whose checks read the values themselves (BETWEEN compares its bounds,
 * attribute_type reads its type name) are never cached, nor is a parse that failed.
 *
 * dynalite is not changed: each parser module's `parse` is wrapped where the emulator runs.
 */

/** The `context` dynalite's validations hand each parse: the request's names and values, and what is still unused. */
export interface ParseContext {
  readonly attrNames?: Readonly<Record<string, string>>;
  readonly attrVals?: Readonly<Record<string, unknown>>;
  readonly unusedAttrNames?: Record<string, true>;
  readonly unusedAttrVals?: Record<string, true>;
  readonly [other: string]: unknown;
}

/** One of dynalite's generated parsers (`db/conditionParser.js`, `db/updateParser.js`, `db/projectionParser.js`). */
export interface ExpressionParser {
  parse(text: string, options: { context: ParseContext }): unknown;
}

/** How many parses each parser keeps: far more than the distinct expressions of this code base. */
export const MAX_CACHED_PARSES = 500;

/** The only places `#` and `:` appear in DynamoDB's expression syntax: names and values. */
const PLACEHOLDER = /[#:][0-9A-Za-z_]+/g;
/** Checks that read a value itself, not only its type. */
const READS_VALUES = /between|attribute_type/i;

interface Entry {
  /** The parse tree, with a {@link Slot} where a request's value object goes. */
  readonly tree: unknown;
  readonly names: readonly string[];
  readonly values: readonly string[];
}

/** Marks where the value of `:token` goes in a cached tree. */
class Slot {
  readonly token: string;
  constructor(token: string) {
    this.token = token;
  }
}

/** Wraps `parser.parse` with the cache; returns the hit and miss counts, for tests and benches. */
export function cacheParses(parser: ExpressionParser, limit = MAX_CACHED_PARSES): { hits: number; misses: number } {
  const parse = parser.parse.bind(parser);
  const cache = new Map<string, Entry>();
  const stats = { hits: 0, misses: 0 };
  parser.parse = (text, options) => {
    const context = options.context;
    const key = READS_VALUES.test(text) ? undefined : keyOf(text, context);
    if (key === undefined) return parse(text, options);
    const hit = cache.get(key);
    if (hit !== undefined) {
      stats.hits++;
      // What the parse would have marked used.
      for (const name of hit.names) delete context.unusedAttrNames?.[name];
      for (const value of hit.values) delete context.unusedAttrVals?.[value];
      return fill(hit.tree, context.attrVals ?? {});
    }
    stats.misses++;
    const tree = parse(text, options);
    // A string is dynalite's error message: left to the parser every time.
    if (tree === null || typeof tree !== 'object') return tree;
    const { names, values } = tokensOf(text);
    const slots = new Map<unknown, Slot>(values.map((token) => [context.attrVals?.[token], new Slot(token)]));
    if (cache.size >= limit) cache.delete(cache.keys().next().value as string);
    cache.set(key, { tree: copy(tree, (node) => slots.get(node)), names, values });
    return tree;
  };
  return stats;
}

/** The cache key of a parse; undefined when a name or value it uses is missing (the parser words that error). */
function keyOf(text: string, context: ParseContext): string | undefined {
  let key = text;
  for (const token of text.match(PLACEHOLDER) ?? []) {
    if (token.startsWith('#')) {
      const name = context.attrNames?.[token];
      if (typeof name !== 'string') return undefined;
      key += `\u0000${token}=${name}`;
    } else {
      const type = typeOf(context.attrVals?.[token]);
      if (type === undefined) return undefined;
      key += `\u0000${token}:${type}`;
    }
  }
  return key;
}

/** The attribute value's type as the parsers' `getType` sees it (the first type present, in their order). */
function typeOf(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (v['attrType'] !== undefined) return undefined;
  for (const type of ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M']) if (v[type] != null) return type;
  return '-';
}

function tokensOf(text: string): { names: string[]; values: string[] } {
  const tokens = [...new Set(text.match(PLACEHOLDER) ?? [])];
  return { names: tokens.filter((t) => t.startsWith('#')), values: tokens.filter((t) => t.startsWith(':')) };
}

/** A deep copy of a parse tree (arrays and objects, prototypes kept), `replace` deciding first for each node. */
function copy(node: unknown, replace: (node: unknown) => unknown): unknown {
  const replaced = replace(node);
  if (replaced !== undefined) return replaced;
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map((item) => copy(item, replace));
  const out = Object.create(Object.getPrototypeOf(node)) as Record<string, unknown>;
  for (const key of Object.keys(node)) out[key] = copy((node as Record<string, unknown>)[key], replace);
  return out;
}

/** A cached tree for one request: its value objects in their slots. */
function fill(tree: unknown, values: Readonly<Record<string, unknown>>): unknown {
  return copy(tree, (node) => (node instanceof Slot ? values[node.token] : undefined));
}
