/**
 * Looks a path up as Dograh's `get_nested_value` does: only objects are walked (a list
 * or a string has no keys), a key is one of the data's own keys, never a prototype
 * member (`constructor`, `__proto__`), and null ends the walk. An empty path is the
 * data itself. With `lists` (typed templates), arrays are indexed by decimal position.
 */
export function lookupPath(data: unknown, keys: readonly string[], lists = false): unknown {
  let current: unknown = data;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (Array.isArray(current)) {
      if (!lists || !/^(?:0|[1-9][0-9]{0,8})$/.test(key)) return undefined;
      current = current[Number(key)];
    } else {
      if (!Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    if (current === null || current === undefined) return undefined;
  }
  return current;
}
