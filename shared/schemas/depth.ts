/**
 * Nesting limits for tenant JSON, checked before zod or any other recursive code sees it.
 *
 * Zod, `JSON.stringify`, the template engine and the redaction walker all recurse. A payload
 * template nested ~1,500 levels deep, or a context ~5,000 deep, overflowed the stack in one of
 * them: the whole run failed, the good nodes with it, and the event went to the render DLQ.
 * `JSON.parse` itself is iterative in V8, so the parsed value can be measured safely here, with
 * an explicit stack instead of recursion.
 */

/** How deep a webhook node may nest, counted from the node object itself (node = 1, data = 2, ...). */
export const MAX_NODE_DEPTH = 64;

/** How deep a run's context may nest, counted from the context object (Dograh's are 2-4 deep). */
export const MAX_CONTEXT_DEPTH = 64;

/** Where a value first goes deeper than its limit. */
export interface DepthExcess {
  /** The field under the root that holds the deep part (`data.payload_template`, `initial_context`); '' for the root itself. */
  readonly path: string;
  readonly limit: number;
}

/** How many path segments a depth problem names: the field, not 64 hostile keys. */
const PATH_SEGMENTS_SHOWN = 2;
/** Keys are tenant text: a long one is cut in the path. */
const KEY_SHOWN_CHARS = 64;

/**
 * Whether `value` nests arrays and objects deeper than `limit` levels (a scalar is depth 0, `{}`
 * and `[]` are 1, `{"a": []}` is 2). Iterative, and stops at the first excess: linear in the
 * size of the value, and constant stack whatever its depth. Shared references are counted each
 * time they occur (a cycle counts as too deep), as `JSON.stringify` would see them.
 */
export function depthExcess(value: unknown, limit: number): DepthExcess | undefined {
  if (!isContainer(value)) return undefined;
  // Each entry: a container, its depth, and the path of its top-level field.
  const stack: { readonly node: object; readonly depth: number; readonly path: readonly string[] }[] = [
    { node: value, depth: 1, path: [] },
  ];
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop() as (typeof stack)[number];
    if (depth > limit) return { path: path.join('.'), limit };
    const entries: Iterable<[string, unknown]> = Array.isArray(node)
      ? node.map((v, i) => [String(i), v] as [string, unknown])
      : Object.entries(node);
    for (const [key, child] of entries) {
      if (!isContainer(child)) continue;
      const childPath = path.length < PATH_SEGMENTS_SHOWN ? [...path, shortKey(key)] : path;
      stack.push({ node: child, depth: depth + 1, path: childPath });
    }
  }
  return undefined;
}

/** A one-line reason for a depth excess. */
export function depthReason(excess: DepthExcess): string {
  return `nested more than ${excess.limit} levels deep (arrays and objects); the limit keeps rendering and logging safe`;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function shortKey(key: string): string {
  return key.length > KEY_SHOWN_CHARS ? `${key.slice(0, KEY_SHOWN_CHARS)}…` : key;
}

/**
 * Why a run's context (its template variables) cannot be used, or undefined when it can: nested
 * deeper than {@link MAX_CONTEXT_DEPTH}. `path` names the top-level variable that holds the deep part.
 */
export function contextDepthProblem(
  context: Readonly<Record<string, unknown>>,
): { readonly path: string; readonly reason: string } | undefined {
  const excess = depthExcess(context, MAX_CONTEXT_DEPTH);
  if (excess === undefined) return undefined;
  const path = excess.path.split('.')[0] ?? '';
  return { path: path === '' ? '(root)' : path, reason: depthReason(excess) };
}
