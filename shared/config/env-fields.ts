// zod/mini, as in every schema the functions load (shared/schemas/fields.ts says why).
import * as z from 'zod/mini';
import { DEFAULT_LOG_LEVEL, LOG_LEVELS } from '../observability/logger.ts';
import { builtOnUse } from '../schemas/built-on-use.ts';

// The kinds of value an environment key holds. Each is built on its first use, so importing this
// builds nothing, and once: keys of one kind (and range) share one schema, which zod allows, its
// schemas being immutable and an issue's path being the parent's to set.

export const bool = builtOnUse(() =>
  z.pipe(
    z.enum(['true', 'false']),
    z.transform((v) => v === 'true'),
  ),
);

const ints = new Map<string, z.ZodMiniNumber<unknown>>();
/** A whole number from `min` to `max` (inclusive), written as text. */
export function int(min: number, max: number): z.ZodMiniNumber<unknown> {
  const key = `${min}..${max}`;
  let schema = ints.get(key);
  if (schema === undefined) {
    schema = z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
    ints.set(key, schema);
  }
  return schema;
}

export const text = builtOnUse(() => z.string().check(z.minLength(1)));
export const logLevel = builtOnUse(() => z._default(z.enum(LOG_LEVELS), DEFAULT_LOG_LEVEL));
