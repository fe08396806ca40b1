import type { Problem } from '../errors.ts';
import { RunCompletedDetailSchema, type RunCompletedDetail, type TemplateContext } from './event.ts';
import { problemsFrom, safeParse } from './issues.ts';
import { WorkflowDefinitionSchema } from './node.ts';
import { isRecord } from './workflow.ts';

/**
 * What a user may hand the CLI: a whole EventBridge event, an event's `detail`,
 * or a bare workflow definition. Tells them apart by shape.
 */
export type InputDocument =
  | { readonly kind: 'event'; readonly detail: RunCompletedDetail; readonly nodes: readonly unknown[] }
  | { readonly kind: 'definition'; readonly nodes: readonly unknown[] }
  /** `nodes`: the definition's nodes when they can still be read (an array), so their problems are listed too. */
  | { readonly kind: 'invalid'; readonly problems: Problem[]; readonly nodes: readonly unknown[] };

export function readInputDocument(value: unknown, source: string): InputDocument {
  if (!isRecord(value))
    return { kind: 'invalid', problems: [{ source, path: '(root)', reason: 'expected a JSON object' }], nodes: [] };
  if ('detail' in value || 'workflow_definition' in value) {
    const prefix = 'detail' in value ? ['detail'] : [];
    const detail = 'detail' in value ? value['detail'] : value;
    const parsed = safeParse(RunCompletedDetailSchema, detail);
    if (!parsed.success)
      return { kind: 'invalid', problems: problemsFrom(parsed.error, source, prefix), nodes: nodesOf(detail) };
    return { kind: 'event', detail: parsed.data, nodes: parsed.data.workflow_definition.nodes };
  }
  if (!('nodes' in value)) {
    const kind = fileKindOf(value);
    const reason =
      kind === undefined
        ? 'neither a workflow definition ({"nodes": [...], "edges": [...]}) nor a run-completed event ({"detail": {...}}): it has no "nodes" and no "detail"'
        : `this is ${kind}, not a workflow definition or a run-completed event`;
    return { kind: 'invalid', problems: [{ source, path: '(root)', reason }], nodes: [] };
  }
  const parsed = safeParse(WorkflowDefinitionSchema, value);
  if (!parsed.success) return { kind: 'invalid', problems: problemsFrom(parsed.error, source), nodes: [] };
  return { kind: 'definition', nodes: parsed.data.nodes };
}

/** Fields of a run's context (an event's detail without its definition): what a context file holds. */
const CONTEXT_FIELDS = ['workflow_run_id', 'workflow_id', 'organization_id', 'initial_context', 'gathered_context'];

/**
 * What a JSON object that is no definition and no event most likely is, in words a user
 * recognises (the other files the CLI takes), or undefined when it looks like none of them.
 */
export function fileKindOf(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value);
  if (keys.length > 0 && keys.every((k) => k.includes('/')) && Object.values(value).every(isRecord))
    return 'a secrets file (credentials by secret name, for --secrets)';
  if (typeof value['type'] === 'string' && isRecord(value['data']))
    return 'a single workflow node (put it in a definition: {"nodes": [<the node>], "edges": []})';
  if (CONTEXT_FIELDS.some((k) => k in value)) return "a run's context (template variables, for render --context)";
  return undefined;
}

/** The nodes of a detail that failed to parse, if its definition still holds an array of them. */
function nodesOf(detail: unknown): readonly unknown[] {
  const definition = isRecord(detail) ? detail['workflow_definition'] : undefined;
  const nodes = isRecord(definition) ? definition['nodes'] : undefined;
  return Array.isArray(nodes) ? nodes : [];
}

/** A context file holds template variables: an event's detail without its definition (a whole event or detail is accepted too). */
export function contextFrom(value: unknown): TemplateContext | undefined {
  if (!isRecord(value)) return undefined;
  const detail = isRecord(value['detail']) ? value['detail'] : value;
  const { workflow_definition: _definition, ...context } = detail;
  return context;
}
