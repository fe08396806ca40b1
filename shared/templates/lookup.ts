/**
 * Looks a path up in the data, reaching only the data's own keys: plain objects'
 * own properties and arrays' elements by index. Never a string's or an array's
 * properties (`length`, methods), never the prototype chain.
 */
export function lookupPath(data: unknown, path: readonly string[]): unknown {
  let current: unknown = data;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
      const index = Number(key);
      if (index >= current.length) return undefined;
      current = current[index];
    } else {
      if (!Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
  }
  return current;
}

/** Text of a value as a template writes it: numbers in decimal, objects and arrays as JSON. */
export function valueToText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return numberToText(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      return value === null ? '' : JSON.stringify(value);
    default:
      return '';
  }
}

function numberToText(n: number): string {
  if (!Number.isFinite(n)) return '';
  // String() switches to exponent notation from 1e21; a template writes decimal digits.
  if (Number.isInteger(n) && Math.abs(n) >= 1e21) return BigInt(n).toString();
  return String(n);
}
