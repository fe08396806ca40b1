import { checkHeader, dropReason } from '../domain/headers.ts';
import { InvalidTemplateError, type Problem } from '../errors.ts';
import type { WebhookNode } from '../schemas/node.ts';
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
    return reason === undefined ? [] : [{ source: node.id, path: `data.custom_headers.${i}`, reason: `header "${name}" will be dropped: ${reason}` }];
  });
}
