import { InvalidTemplateError } from '../errors.ts';
import type { Json } from '../schemas/node.ts';
import {
  compile,
  formatText,
  formatUrlPart,
  expandNewlines,
  renderString,
  renderTypedString,
  type Scope,
} from './engine.ts';
import { strayBraces } from './placeholder.ts';
import { setOwn } from '../domain/own-key.ts';

const PAYLOAD = { newlines: true } as const;
const URL_MODE = { newlines: false } as const;

/** A payload template nested deeper than this is refused before anything walks it. */
export const MAX_TEMPLATE_DEPTH = 64;

/**
 * Throws when `template` nests objects and arrays deeper than {@link MAX_TEMPLATE_DEPTH};
 * checked with an explicit stack, so the check itself cannot overflow.
 */
export function checkTemplateDepth(template: unknown, where: string): void {
  const stack: [unknown, number][] = [[template, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_TEMPLATE_DEPTH) {
      throw new InvalidTemplateError(where, DEPTH_REASON);
    }
    for (const item of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
    }
  }
}

/**
 * Renders a payload template as Dograh's `render_template` does: strings (object keys
 * too) are templates, arrays and objects are walked, JSON numbers, booleans and null
 * stay as they are. `where` is the field path used in errors (e.g. `data.payload_template`).
 */
export function renderPayload(template: Json, scope: Scope, where = 'payload_template'): Json {
  const { warnings } = scope;
  const before = warnings?.length ?? 0;
  try {
    return walk(template, scope, 0);
  } catch (error) {
    if (error === TOO_DEEP) throw new InvalidTemplateError(where, DEPTH_REASON);
    throw within(where, error);
  } finally {
    // The walk builds no paths (below): a warning names the template, not the exact field.
    if (warnings !== undefined) for (let i = before; i < warnings.length; i++) warnings[i] = `${where}: ${warnings[i]}`;
  }
}

const TOO_DEEP = Symbol('too deep');
const DEPTH_REASON = `the template is nested deeper than ${MAX_TEMPLATE_DEPTH} levels of objects and arrays`;

// The walk builds no field paths: they are needed only for an error, so an error
// collects its path on the way up (`within`), and a render that succeeds, nearly
// every render, pays nothing for them. It counts its depth and stops at the limit
// before going deeper, so it never recurses past MAX_TEMPLATE_DEPTH (the rule of
// checkTemplateDepth, which validate applies, without a second pass per delivery).
function walk(template: Json, scope: Scope, depth: number): Json {
  if (typeof template === 'string') {
    if (scope.mode !== 'typed') return renderString(template, '', scope, PAYLOAD, formatText);
    const rendered = renderTypedString(template, '', scope, PAYLOAD, formatText);
    return typeof rendered === 'string' ? rendered : typedValue(rendered.value, scope);
  }
  if (template === null || typeof template !== 'object') return template;
  if (depth >= MAX_TEMPLATE_DEPTH) throw TOO_DEEP;
  if (Array.isArray(template)) {
    const out: Json[] = [];
    for (let i = 0; i < template.length; i++) {
      try {
        out.push(walk(template[i] as Json, scope, depth + 1));
      } catch (error) {
        throw within(String(i), error);
      }
    }
    return out;
  }
  // A plain object, not Object.create(null): V8 keeps plain objects in fast mode,
  // which both this walk and JSON.stringify of the body depend on for speed.
  const out: Record<string, Json> = {};
  for (const key of Object.keys(template)) {
    let renderedKey: string;
    let value: Json;
    try {
      renderedKey = renderString(key, '', scope, PAYLOAD, formatText);
      value = walk(template[key] as Json, scope, depth + 1);
    } catch (error) {
      throw within(key, error);
    }
    // A rendered key "__proto__" stays an ordinary own key.
    setOwn(out, renderedKey, value);
  }
  return out;
}

/** A typed template's value as JSON: missing is null; a string still gets Dograh's "\n" rule. */
function typedValue(value: unknown, scope: Scope): Json {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    scope.budget?.spend(value.length, '');
    return expandNewlines(value);
  }
  if (typeof value === 'object') scope.budget?.spend(JSON.stringify(value).length, '');
  return value as Json;
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
 * The body Dograh would send for a payload template (`_build_webhook_payload`): an
 * empty template (null, "", [], {}, 0, false) is an empty object, and an object payload
 * without `call_disposition` gets `gathered_context.call_disposition` as it is (or "").
 */
export function renderBody(template: Json, scope: Scope, where = 'payload_template'): Json {
  const empty =
    template === null ||
    template === '' ||
    template === 0 ||
    template === false ||
    (Array.isArray(template) ? template.length === 0 : typeof template === 'object' && !hasKeys(template));
  const rendered = renderPayload(empty ? {} : template, scope, where);
  if (
    typeof rendered === 'object' &&
    rendered !== null &&
    !Array.isArray(rendered) &&
    !Object.hasOwn(rendered, 'call_disposition')
  ) {
    rendered['call_disposition'] = callDisposition(scope.context);
  }
  return rendered;
}

function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

function callDisposition(context: unknown): Json {
  const gathered =
    isObject(context) && Object.hasOwn(context, 'gathered_context') ? context['gathered_context'] : undefined;
  if (!isObject(gathered) || !Object.hasOwn(gathered, 'call_disposition')) return '';
  return (gathered['call_disposition'] ?? null) as Json;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const STRAY_BRACES =
  'the URL template has braces that are not a placeholder (write {{ path }} or {{ path | default }})';

/** Python's `str.count`: non-overlapping occurrences, left to right. */
function count(text: string, part: string): number {
  let n = 0;
  for (let i = text.indexOf(part); i !== -1; i = text.indexOf(part, i + part.length)) n++;
  return n;
}

/**
 * What can be said of a URL template without a context: its braces balance (as Dograh
 * counts them) and do not nest, and it starts with http:// or https://. Returns the scheme.
 */
export function checkUrlTemplate(template: string, where: string): 'http' | 'https' {
  const opens = count(template, '{{');
  const closes = count(template, '}}');
  if (opens > closes) throw new InvalidTemplateError(where, 'the URL template has a "{{" without its "}}"');
  if (closes > opens) throw new InvalidTemplateError(where, 'the URL template has a "}}" without its "{{"');
  if (template.includes('{{{{')) throw new InvalidTemplateError(where, 'the URL template nests "{{" inside "{{"');
  const scheme = /^(https?):\/\//i.exec(template)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new InvalidTemplateError(where, 'the URL must start with http:// or https://');
  // Values are percent-encoded, so braces left in the text outlive rendering, and Dograh refuses them.
  if (opens > 0 && strayBraces(compile(template)).length > 0) throw new InvalidTemplateError(where, STRAY_BRACES);
  return scheme as 'http' | 'https';
}

// What a URL template needs no context for, by its text: the scheme checkUrlTemplate
// found and, for a template without placeholders, the URL it validated to. Both are
// pure functions of the text, so a warm Lambda checks each endpoint's URL once instead
// of per delivery (the checks, and for a plain URL the WHATWG parse, cost more than
// rendering a small body). Only successes are kept: a template that fails is checked
// again each time and throws, with its own `where`, as before. Bounded by count and
// length; the oldest entry goes first.
interface UrlPlan {
  readonly scheme: 'http' | 'https';
  /** The rendered URL of a template without "{{": the same for every run. */
  readonly href: string | undefined;
}
const MAX_URL_PLANS = 1000;
// Key and href together at most 4,096 UTF-16 characters: 1000 entries weigh at most 8 MB.
const MAX_PLANNED_URL_CHARS = 4096;
const urlPlans = new Map<string, UrlPlan>();

function rememberUrl(template: string, plan: UrlPlan): void {
  if (template.length + (plan.href?.length ?? 0) > MAX_PLANNED_URL_CHARS) return;
  if (urlPlans.size >= MAX_URL_PLANS) urlPlans.delete(urlPlans.keys().next().value as string);
  urlPlans.set(template, plan);
}

/**
 * Renders an endpoint URL as Dograh's `render_url_template` does: unbalanced `{{`/`}}`,
 * a nested `{{{{`, or a brace left over after rendering is an error; values are
 * percent-encoded (formatUrlPart). Ours on top: the template must start with http:// or
 * https://, the rendered URL must parse, keep that scheme, and carry no user name or
 * password. Returns the URL as the WHATWG parser writes it (what the request uses).
 */
export function renderUrl(template: string, scope: Scope, where = 'endpoint_url'): string {
  const plan = urlPlans.get(template);
  if (plan?.href !== undefined) return plan.href;
  let scheme = plan?.scheme;
  const placeholders = template.includes('{{');
  if (scheme === undefined) {
    scheme = checkUrlTemplate(template, where);
    if (placeholders) rememberUrl(template, { scheme, href: undefined });
  }
  const rendered = placeholders ? renderString(template, where, scope, URL_MODE, formatUrlPart) : template;
  if (rendered.includes('{{') || rendered.includes('}}')) {
    throw new InvalidTemplateError(where, STRAY_BRACES);
  }
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
  if (!placeholders) rememberUrl(template, { scheme, href: url.href });
  return url.href;
}
