import { InvalidTemplateError } from '../errors.ts';
import type { Json } from '../schemas/node.ts';
import { lookupPath, valueToText } from './lookup.ts';
import { formatText, formatUrlPart, renderString, type Scope } from './engine.ts';

const PAYLOAD = { newlines: true } as const;
const URL_MODE = { newlines: false } as const;

/**
 * Renders a payload template: strings (object keys too) are templates, arrays and
 * objects are walked, JSON numbers, booleans and null stay as they are.
 * `where` is the field path used in errors (e.g. `data.payload_template`).
 */
export function renderPayload(template: Json, scope: Scope, where = 'payload_template'): Json {
  if (typeof template === 'string') return renderString(template, where, scope, PAYLOAD, formatText);
  if (Array.isArray(template)) return template.map((item, i) => renderPayload(item, scope, `${where}.${i}`));
  if (template === null || typeof template !== 'object') return template;
  // A null prototype: a rendered key "__proto__" is then an ordinary own key.
  const out: Record<string, Json> = Object.create(null);
  for (const [key, value] of Object.entries(template)) {
    const renderedKey = renderString(key, `${where}.${key}`, scope, PAYLOAD, formatText);
    out[renderedKey] = renderPayload(value, scope, `${where}.${key}`);
  }
  return out;
}

/**
 * The body Dograh would send for a payload template: a null template is an empty
 * object, and an object payload without `call_disposition` gets one from
 * `gathered_context.call_disposition` (or "").
 */
export function renderBody(template: Json, scope: Scope, where = 'payload_template'): Json {
  const rendered = renderPayload(template ?? {}, scope, where);
  if (typeof rendered === 'object' && rendered !== null && !Array.isArray(rendered) && !Object.hasOwn(rendered, 'call_disposition')) {
    rendered['call_disposition'] = valueToText(lookupPath(scope.context, ['gathered_context', 'call_disposition']));
  }
  return rendered;
}

/**
 * Renders an endpoint URL: placeholder values are percent-encoded, and the result
 * must be an http or https URL with the scheme the template was written with.
 */
export function renderUrl(template: string, scope: Scope, where = 'endpoint_url'): string {
  const scheme = /^(https?):\/\//i.exec(template)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new InvalidTemplateError(where, 'the URL must start with http:// or https://');
  const rendered = renderString(template, where, scope, URL_MODE, formatUrlPart);
  let url: URL;
  try {
    url = new URL(rendered);
  } catch {
    throw new InvalidTemplateError(where, 'the rendered URL is not a valid URL');
  }
  if (url.protocol !== `${scheme}:`) throw new InvalidTemplateError(where, `the rendered URL must stay ${scheme}`);
  if (url.username !== '' || url.password !== '') {
    throw new InvalidTemplateError(where, 'the URL must not carry a user name or password: store them in a credential');
  }
  return url.href;
}
