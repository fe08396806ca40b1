// zod/mini, as in every schema the functions load (shared/schemas/fields.ts says why).
import * as z from 'zod/mini';
import { DEFAULT_LOG_LEVEL, LOG_LEVELS } from '../observability/logger.ts';

/** The kinds of value an environment key holds; each call builds a new schema, so importing builds none. */
export const bool = () =>
  z.pipe(
    z.enum(['true', 'false']),
    z.transform((v) => v === 'true'),
  );
export const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
export const text = () => z.string().check(z.minLength(1));
export const logLevel = () => z._default(z.enum(LOG_LEVELS), DEFAULT_LOG_LEVEL);
