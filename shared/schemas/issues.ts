import { z } from 'zod';
import type { Problem } from '../errors.ts';

// "expected string, received undefined" says less than "required": say what a user means.
z.config({
  customError: (issue) =>
    issue.code === 'invalid_type' && issue.input === undefined ? `required (${issue.expected})` : undefined,
});

/** Turns zod issues into problems with dotted paths, every one of them, never a stack trace. */
export function problemsFrom(error: z.ZodError, source?: string, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((issue) => ({
    ...(source === undefined ? {} : { source }),
    path: [...prefix, ...issue.path].map(String).join('.') || '(root)',
    reason: issue.message,
  }));
}
