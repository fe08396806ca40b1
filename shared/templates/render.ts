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
  try {
    return walk(template, scope);
  } catch (error) {
    throw within(where, error);
  }
}

// The walk builds no field paths: they are needed only for an error, so an error
// collects its path on the way up (`within`), and a render that succeeds, nearly
// every render, pays nothing for them.
function walk(template: Json, scope: Scope): Json {
  if (typeof template === 'string') return renderString(template, '', scope, PAYLOAD, formatText);
  if (Array.isArray(template)) {
    const out: Json[] = [];
    for (let i = 0; i < template.length; i++) {
      try {
        out.push(walk(template[i] as Json, scope));
      } catch (error) {
        throw within(String(i), error);
      }
    }
    return out;
  }
  if (template === null || typeof template !== 'object') return template;
  // A plain object, not Object.create(null): V8 keeps plain objects in fast mode,
  // which both this walk and JSON.stringify of the body depend on for speed.
  const out: Record<string, Json> = {};
  for (const key of Object.keys(template)) {
    let renderedKey: string;
    let value: Json;
    try {
      renderedKey = renderString(key, '', scope, PAYLOAD, formatText);
      value = walk(template[key] as Json, scope);
    } catch (error) {
      throw within(key, error);
    }
    // An assignment to "__proto__" would set the prototype: define it as an ordinary own key.
    if (renderedKey === '__proto__') Object.defineProperty(out, renderedKey, { value, enumerable: true, writable: true, configurable: true });
    else out[renderedKey] = value;
  }
  return out;
}

// Errors that already carry a field path: an empty path on one of them is an empty key
// (`{"": ...}`), not "no path yet", and must stay in the path.
const placed = new WeakSet<InvalidTemplateError>();

/** The same template error, one level further out: `prefix` goes in front of its path. */
function within(prefix: string, error: unknown): unknown {
  if (!(error instanceof InvalidTemplateError)) return error;
  const outer = new InvalidTemplateError(placed.has(error) ? `${prefix}.${error.path}` : prefix, error.reason);
  placed.add(outer);
  return outer;
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
