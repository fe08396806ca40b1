import type { z } from 'zod';
import type { Problem } from '../errors.ts';

/**
 * Our wording of zod's messages: "expected string, received undefined" says less than
 * "required (string)". Passed to each parse by {@link safeParse}, never set with `z.config`:
 * a global setting made by importing a module would change the messages of every other zod
 * schema in the process (a dependency's, a test's) depending on what happened to be imported.
 */
export const errorMap: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? `required (${issue.expected})` : undefined;

/** `schema.safeParse(value)` with {@link errorMap}: how every input of ours is parsed. */
export function safeParse<S extends z.ZodType>(schema: S, value: unknown): z.ZodSafeParseResult<z.output<S>> {
  return schema.safeParse(value, { error: errorMap });
}

/** Turns zod issues into problems with dotted paths, every one of them, never a stack trace. */
export function problemsFrom(error: z.ZodError, source?: string, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((issue) => ({
    ...(source === undefined ? {} : { source }),
    path: [...prefix, ...issue.path].map(String).join('.') || '(root)',
    reason: issue.message,
  }));
}
