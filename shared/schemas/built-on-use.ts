/**
 * A value (a zod schema) built on its first use instead of at import. Building schemas is most
 * of what our own modules add to a function's cold start, and many are needed by no invocation
 * at all (an item read back, a message that failed its hand check), or only after the first one.
 */
export function builtOnUse<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    built ??= build();
    return built;
  };
}
