import type { TemplateContext } from '../schemas/event.ts';
import type { HttpMethod, WebhookNode } from '../schemas/node.ts';
import { renderBody, renderUrl } from '../templates/render.ts';
import { formatText, OutputBudget, renderString, type Scope } from '../templates/engine.ts';
import { collectEmptyPlaceholders, type EmptyPlaceholder } from './empty-placeholders.ts';
import { checkHeader, dropReason } from './headers.ts';

/** A webhook node rendered for one run: everything of the request but its credential and X-Dograh-* headers. */
export interface RenderedNode {
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** JSON text; null for GET and DELETE, which send no body. */
  readonly body: string | null;
  /** Custom headers left out, with why. */
  readonly droppedHeaders: readonly { readonly name: string; readonly reason: string }[];
  /** Placeholders that rendered empty (missing or null), bounded. */
  readonly emptyPlaceholders: readonly EmptyPlaceholder[];
  /** What rendered but deserves a log line (an unknown time zone rendered as missing), with its field. */
  readonly warnings: readonly string[];
}

export interface RenderNodeOptions {
  /**
   * Rendering stops with "payload too large" once the node's text passes this many
   * characters (each is at least one byte of the message), before memory grows with it.
   */
  readonly maxChars?: number;
}

/** Without a limit from the caller: SQS's largest message. */
export const DEFAULT_MAX_RENDER_CHARS = 1024 * 1024;

const BODYLESS: ReadonlySet<HttpMethod> = new Set(['GET', 'DELETE']);

/**
 * Renders a node's body, URL and custom headers in one call, ready to send.
 * Throws `InvalidTemplateError` whose path names the node's field
 * (`data.endpoint_url`, `data.payload_template.customer`, `data.custom_headers.0`).
 */
export function renderNode(
  node: WebhookNode,
  context: TemplateContext,
  now: Date,
  options: RenderNodeOptions = {},
): RenderedNode {
  const warnings: string[] = [];
  const empty = collectEmptyPlaceholders();
  const { data } = node;
  const scope: Scope = {
    context,
    now,
    mode: data.template_mode ?? 'dograh',
    warnings,
    budget: new OutputBudget(options.maxChars ?? DEFAULT_MAX_RENDER_CHARS),
    onEmpty: empty.listener,
  };
  const url = renderUrl(data.endpoint_url, scope, 'data.endpoint_url');
  const headers: Record<string, string> = {};
  const droppedHeaders: { name: string; reason: string }[] = [];
  data.custom_headers.forEach((header, i) => {
    const where = `data.custom_headers.${i}`;
    const name = header.key.trim();
    const reason = dropReason(name);
    if (reason !== undefined) {
      droppedHeaders.push({ name, reason });
      return;
    }
    empty.field = `${where}.value`;
    const value = renderString(header.value, `${where}.value`, scope, { newlines: false }, formatText);
    checkHeader(name, value, where);
    headers[name] = value;
  });
  empty.field = 'data.payload_template';
  const body = BODYLESS.has(data.http_method)
    ? null
    : JSON.stringify(renderBody(data.payload_template, scope, 'data.payload_template'));
  return { method: data.http_method, url, headers, body, droppedHeaders, emptyPlaceholders: empty.found, warnings };
}
