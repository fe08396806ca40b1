import { InvalidTemplateError, type Problem } from '../errors.ts';
import type { Json, WebhookNode } from '../schemas/node.ts';
import { parseTemplate } from './placeholder.ts';

/**
 * Checks every template string of a node against the grammar without a context:
 * what `validate` can say about a workflow definition before any run exists.
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
  attempt(() => parseTemplate(data.endpoint_url, 'data.endpoint_url', { newlines: false }));
  data.custom_headers.forEach((header, i) =>
    attempt(() => parseTemplate(header.value, `data.custom_headers.${i}.value`, { newlines: false })),
  );
  const walk = (value: Json, where: string): void => {
    if (typeof value === 'string') attempt(() => parseTemplate(value, where, { newlines: true }));
    else if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${where}.${i}`));
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        attempt(() => parseTemplate(key, `${where}.${key}`, { newlines: true }));
        walk(item, `${where}.${key}`);
      }
    }
  };
  walk(data.payload_template, 'data.payload_template');
  return problems;
}
