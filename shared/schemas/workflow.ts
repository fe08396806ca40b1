import type { Problem } from '../errors.ts';
import { problemsFrom, safeParse } from './issues.ts';
import { depthExcess, depthReason, MAX_NODE_DEPTH } from './depth.ts';
import { MAX_NODE_ID_LENGTH, WebhookNodeSchema, type WebhookNode } from './node.ts';

export interface ExtractedNodes {
  readonly nodes: WebhookNode[];
  /**
   * One entry per bad field of a webhook node. `source` is the node id, or `nodes[i]`
   * for a node that has no id of its own to use: none, an empty one, or one an
   * earlier node already holds.
   */
  readonly problems: Problem[];
  /** Where each webhook node sits in the definition's `nodes`, by its source (as in `problems`) or id. */
  readonly positions: ReadonlyMap<string, number>;
}

/**
 * Picks the webhook nodes out of a workflow definition's `nodes`. Nodes of other
 * types are ignored; each bad webhook node is reported field by field and left out,
 * so the good ones still go.
 *
 * A node nested deeper than {@link MAX_NODE_DEPTH} is reported before any schema
 * runs, and an id longer than {@link MAX_NODE_ID_LENGTH} is reported under the
 * `nodes[i]` stand-in, so neither can stall or crash the run.
 *
 * The first node with an id owns it, bad or not: the delivery id is derived from
 * `source`, so a later node with the same id is reported under `nodes[i]` and
 * fails on a delivery of its own, never on the first node's.
 */
export function extractWebhookNodes(nodes: readonly unknown[]): ExtractedNodes {
  const good: WebhookNode[] = [];
  const problems: Problem[] = [];
  const positions = new Map<string, number>();
  nodes.forEach((raw, index) => {
    if (!isRecord(raw) || raw['type'] !== 'webhook') return;
    // An id too long to use is no id: the node is reported under its stand-in.
    const id =
      typeof raw['id'] === 'string' && raw['id'] !== '' && raw['id'].length <= MAX_NODE_ID_LENGTH
        ? raw['id']
        : undefined;
    const duplicate = id !== undefined && positions.has(id);
    let source = id === undefined || duplicate ? `nodes[${index}]` : id;
    // A real id may look like a stand-in ("nodes[3]"): a stand-in never takes a taken name.
    while (source !== id && positions.has(source)) source = `${source}'`;
    positions.set(source, index);
    if (duplicate) {
      problems.push({
        source,
        path: 'id',
        reason: `duplicate node id "${id}": an earlier node has it, and delivery ids are one per run and node`,
      });
      return;
    }
    // Before zod: its recursive schema overflows the stack on a template ~1,500 levels deep.
    const deep = depthExcess(raw, MAX_NODE_DEPTH);
    if (deep !== undefined) {
      problems.push({ source, path: deep.path === '' ? '(root)' : deep.path, reason: depthReason(deep) });
      return;
    }
    const parsed = safeParse(WebhookNodeSchema, raw);
    if (!parsed.success) {
      problems.push(...problemsFrom(parsed.error, source));
      return;
    }
    good.push(parsed.data);
  });
  return { nodes: good, problems, positions };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
