import { checkHeader, dropReason } from '../domain/headers.ts';
import { InvalidTemplateError, type Problem } from '../errors.ts';
import type { WebhookNode } from '../schemas/node.ts';
import { compile } from './engine.ts';
import { strayBraces } from './placeholder.ts';
import { checkTemplateDepth, checkUrlTemplate } from './render.ts';

/**
 * Checks what can fail in a node's templates without a context (the URL's braces and
 * scheme, the payload's nesting: any payload text renders, as in Dograh), and every custom header that will be sent (a valid name, a value without line
 * breaks): what `validate` can say about a workflow definition before any run exists.
 * Headers that will be dropped are not problems: see {@link droppedHeaderWarnings}.
 */
export function checkNodeTemplates(node: WebhookNode): Problem[] {
  const problems: Problem[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof InvalidTemplateError)) throw error;
      problems.push({ source: node.id, path: error.path, reason: error.reason });
    }
  };
  const { data } = node;
  attempt(() => checkUrlTemplate(data.endpoint_url, 'data.endpoint_url'));
  data.custom_headers.forEach((header, i) => {
    // As renderNode sends it: the trimmed name; a dropped header is never checked there.
    const name = header.key.trim();
    if (dropReason(name) !== undefined) return;
    attempt(() => checkHeader(name, header.value, `data.custom_headers.${i}`));
  });
  attempt(() => checkTemplateDepth(data.payload_template, 'data.payload_template'));
  return problems;
}

/**
 * The custom headers of a node that will be dropped instead of sent (named like a
 * secret, set by the transport, or X-Dograh-*). Dograh drops them too, so they are
 * no error; but the author likely expects them to arrive.
 */
export function droppedHeaderWarnings(node: WebhookNode): Problem[] {
  return node.data.custom_headers.flatMap((header, i) => {
    const name = header.key.trim();
    const reason = dropReason(name);
    return reason === undefined
      ? []
      : [{ source: node.id, path: `data.custom_headers.${i}`, reason: `header "${name}" will be dropped: ${reason}` }];
  });
}

/** The variables every run has (Dograh's render context, and organization_id); built-ins aside. */
export const KNOWN_ROOTS: readonly string[] = [
  'organization_id',
  'workflow_run_id',
  'workflow_run_name',
  'workflow_id',
  'workflow_name',
  'campaign_id',
  'call_time',
  'initial_context',
  'gathered_context',
  'cost_info',
  'annotations',
  'extra',
  'recording_url',
  'transcript_url',
  'user_recording_url',
  'bot_recording_url',
];

const BUILTIN = /^current_(?:time|weekday)(?:_|$)/;

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * What renders, but likely not as the author meant: braces that are no placeholder
 * (`{{ workflow_run_id }`, sent as written) and placeholders whose first key is no
 * variable of a run (rendered empty), naming the known ones. `moreRoots` are further
 * variables the run has (an event's own detail fields). Never an error: Dograh renders them.
 */
export function templateWarnings(node: WebhookNode, moreRoots: Iterable<string> = []): Problem[] {
  const known = new Set([...KNOWN_ROOTS, ...moreRoots]);
  const warnings: Problem[] = [];
  const look = (text: string, where: string, strays: boolean) => {
    if (!text.includes('{{') && !text.includes('}}')) return;
    const parsed = compile(text);
    if (strays) {
      for (const stray of strayBraces(parsed)) {
        warnings.push({
          source: node.id,
          path: where,
          reason: `"${clip(stray)}" is not a placeholder and is sent as written (write {{ path }} or {{ path | default }})`,
        });
      }
    }
    for (const placeholder of parsed.placeholders) {
      const root = placeholder.keys[0] as string;
      if (known.has(root) || BUILTIN.test(placeholder.path)) continue;
      const fallback = placeholder.filter === undefined ? 'renders empty' : 'renders its default';
      warnings.push({
        source: node.id,
        path: where,
        reason: `unknown variable "${clip(root)}" in ${clip(placeholder.source)} ${fallback}; the variables are ${[...KNOWN_ROOTS, 'current_time', 'current_weekday'].join(', ')}`,
      });
    }
  };
  const { data } = node;
  look(data.endpoint_url, 'data.endpoint_url', false);
  for (const [i, header] of data.custom_headers.entries()) look(header.value, `data.custom_headers.${i}.value`, true);
  try {
    checkTemplateDepth(data.payload_template, 'data.payload_template');
  } catch {
    return warnings; // an error of its own
  }
  const walk = (value: unknown, where: string): void => {
    if (typeof value === 'string') look(value, where, true);
    else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${where}.${i}`);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        look(key, `${where}.${key}`, true);
        walk(item, `${where}.${key}`);
      }
    }
  };
  walk(data.payload_template, 'data.payload_template');
  return warnings;
}
