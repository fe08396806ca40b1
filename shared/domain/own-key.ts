/**
 * Sets `key` on `target` as an own, enumerable data property, whatever the key's name: keys
 * come from tenant input and parsed JSON. `__proto__` goes through defineProperty (an
 * assignment would set the prototype); every other key is assigned, which is the same thing
 * for a plain object (Object.prototype has no other setter) at a fraction of the cost, and
 * keeps the object in V8's fast mode for the code and JSON.stringify that read it next.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
