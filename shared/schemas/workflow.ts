import type { Problem } from '../errors.ts';
import { problemsFrom } from './issues.ts';
import { WebhookNodeSchema, type WebhookNode } from './node.ts';

export interface ExtractedNodes {
  readonly nodes: WebhookNode[];
  /** One entry per bad field of a webhook node; `source` is the node id (or `nodes[i]` when it has none). */
  readonly problems: Problem[];
}

/**
 * Picks the webhook nodes out of a workflow definition's `nodes`. Nodes of other
 * types are ignored; each bad webhook node is reported field by field and left out,
 * so the good ones still go.
 */
export function extractWebhookNodes(nodes: readonly unknown[]): ExtractedNodes {
  const good: WebhookNode[] = [];
  const problems: Problem[] = [];
  const seen = new Set<string>();
  nodes.forEach((raw, index) => {
    if (!isRecord(raw) || raw['type'] !== 'webhook') return;
    const source = typeof raw['id'] === 'string' && raw['id'] !== '' ? raw['id'] : `nodes[${index}]`;
    const parsed = WebhookNodeSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...problemsFrom(parsed.error, source));
      return;
    }
    if (seen.has(parsed.data.id)) {
      problems.push({ source, path: 'id', reason: 'duplicate node id: delivery ids are one per run and node' });
      return;
    }
    seen.add(parsed.data.id);
    good.push(parsed.data);
  });
  return { nodes: good, problems };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
