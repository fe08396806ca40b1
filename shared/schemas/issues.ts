import * as z from 'zod/mini';
import type { Problem } from '../errors.ts';

/**
 * Our wording of zod's messages: "Invalid input: expected number, received string" and
 * `expected one of "GET"|"POST"` are a library's words; a user reads what is wrong and what is
 * wanted in ours ({@link issueMessage}; a schema's own message, a refine's, still wins). Passed to
 * each parse by {@link safeParse}, never set with `z.config`: a global setting made by importing a
 * module would change the messages of every other zod schema in the process (a dependency's, a
 * test's) depending on what happened to be imported.
 */
export const errorMap: z.core.$ZodErrorMap = (issue) => issueMessage(issue);

/** Our words for one zod issue, or undefined to keep zod's (codes too rare to word here). */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `required (${issue.expected})`;
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}, not ${describeValue(issue.input)}`;
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? v : String(v)));
      const one = issue.values.length === 1 ? JSON.stringify(issue.values[0]) : undefined;
      if (issue.input === undefined) return `required (${one ?? `one of ${values.join(', ')}`})`;
      return `${one === undefined ? `must be one of ${values.join(', ')}` : `must be ${one}`}, not ${describeValue(issue.input)}`;
    }
    case 'too_small':
      if (issue.minimum === 1 && issue.inclusive !== false && issue.origin === 'string') return 'must not be empty';
      return bound('at least', 'more than', issue.minimum, issue.inclusive, issue.origin);
    case 'too_big':
      return bound('at most', 'less than', issue.maximum, issue.inclusive, issue.origin);
    case 'invalid_format':
      return issue.format === 'regex' ? 'is not in the expected form' : `is not a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_union':
      if (issue.input === undefined) return 'required';
      return `matches none of the accepted forms (got ${describeValue(issue.input)})`;
    default:
      return undefined;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'text (a JSON string)',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list (a JSON array)',
  object: 'an object',
  record: 'an object',
  null: 'null',
};

/** A short, safe description of what was found: its kind, and a primitive's value cut short. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 39)}…` : value;
      return `the text ${JSON.stringify(shown)}`;
    }
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function bound(
  inclusiveWord: string,
  exclusiveWord: string,
  limit: number | bigint,
  inclusive: boolean | undefined,
  origin: string,
): string {
  const words = inclusive === false ? exclusiveWord : inclusiveWord;
  const one = limit === 1 || limit === 1n;
  switch (origin) {
    case 'string':
      return `must be ${words} ${limit} character${one ? '' : 's'} long`;
    case 'array':
    case 'set':
      return `must have ${words} ${limit} item${one ? '' : 's'}`;
    default:
      return `must be ${words} ${limit}`;
  }
}

/** `schema.safeParse(value)` with {@link errorMap}: how every input of ours is parsed (a zod/mini or a zod schema). */
export function safeParse<S extends z.core.$ZodType>(
  schema: S,
  value: unknown,
): z.core.util.SafeParseResult<z.output<S>> {
  return z.safeParse(schema, value, { error: errorMap });
}

/** Turns zod issues into problems with dotted paths, every one of them, never a stack trace. */
export function problemsFrom(error: z.core.$ZodError, source?: string, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((issue) => ({
    ...(source === undefined ? {} : { source }),
    path: [...prefix, ...issue.path].map(String).join('.') || '(root)',
    reason: issue.message,
  }));
}
