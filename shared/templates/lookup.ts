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

/**
 * Whether the path leads to a null (not to nothing): Dograh renders both as "", and only the
 * empty-values report tells them apart ("null in the run's context" or "missing from it").
 */
export function isNullAt(data: unknown, keys: readonly string[], lists = false): boolean {
  if (keys.length === 0) return data === null;
  const parent = lookupPath(data, keys.slice(0, -1), lists);
  const last = keys[keys.length - 1] as string;
  if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) return false;
  return Object.hasOwn(parent, last) && (parent as Record<string, unknown>)[last] === null;
}
