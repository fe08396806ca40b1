// Over 400 lines on purpose: one corpus of hostile templates with its canaries, and every describe
// runs the whole corpus (in one template position or in all of them).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { renderNode } from '../../shared/domain/render-node.ts';
import { InvalidTemplateError } from '../../shared/errors.ts';
import type { Json } from '../../shared/schemas/node.ts';
import { renderBody, renderPayload, renderUrl } from '../../shared/templates/render.ts';
import { FIXED_NOW, makeContext, makeNode } from '../fixtures/factories.ts';

// Templates are tenant input (CONTRACT section 3). This corpus shows, case by
// case, that a template can only read its context's own keys and never runs code:
// each entry renders to an exact, inert output (Dograh's own, checked against its renderer)
// or fails with InvalidTemplateError.

const GLOBAL_CANARY = 'CANARY-GLOBAL-5e1f0c';
const ENV_CANARY = 'CANARY-ENV-a93d27';
const PROTO_CANARY = 'CANARY-PROTO-71b4e8';
const ENV_KEY = 'WEBHOOKS_TEMPLATE_TEST_CANARY';
const CANARIES = [GLOBAL_CANARY, ENV_CANARY, PROTO_CANARY];

type Globals = typeof globalThis & Record<string, unknown>;
const globals = globalThis as Globals;

beforeAll(() => {
  globals['__canary'] = GLOBAL_CANARY;
  process.env[ENV_KEY] = ENV_CANARY;
  // Inherited, not own: a lookup that walked the prototype chain would find these.
  // Non-enumerable so nothing else in the process trips over them.
  Object.defineProperty(Object.prototype, 'polluted', {
    value: PROTO_CANARY,
    configurable: true,
    writable: true,
    enumerable: false,
  });
  Object.defineProperty(Array.prototype, 'polluted_array', {
    value: PROTO_CANARY,
    configurable: true,
    writable: true,
    enumerable: false,
  });
  Object.defineProperty(String.prototype, 'polluted_string', {
    value: PROTO_CANARY,
    configurable: true,
    writable: true,
    enumerable: false,
  });
});

afterAll(() => {
  delete globals['__canary'];
  delete process.env[ENV_KEY];
  delete (Object.prototype as Record<string, unknown>)['polluted'];
  delete (Array.prototype as unknown as Record<string, unknown>)['polluted_array'];
  delete (String.prototype as unknown as Record<string, unknown>)['polluted_string'];
});

afterEach(() => {
  vi.restoreAllMocks();
});

const CONTEXT = {
  ...makeContext(),
  a: 'A',
  list: [1, 2],
  nested: { inner: { leaf: 'L' } },
};

const ERROR = Symbol('InvalidTemplateError');
type Expected = string | typeof ERROR;

interface Case {
  readonly template: string;
  readonly expected: Expected;
}

function cases(rows: readonly (readonly [string, Expected])[]): Case[] {
  return rows.map(([template, expected]) => ({ template, expected }));
}

const PROPERTY_WALKS = cases([
  ['{{ workflow_name.length }}', ''],
  ['{{ workflow_name.0 }}', ''],
  ['{{ initial_context.toString }}', ''],
  ['{{ initial_context.hasOwnProperty }}', ''],
  ['{{ hasOwnProperty }}', ''],
  ['{{ valueOf }}', ''],
  ['{{ toString }}', ''],
  ['{{ toLocaleString }}', ''],
  ['{{ isPrototypeOf }}', ''],
  ['{{ propertyIsEnumerable }}', ''],
  ['{{ __defineGetter__ }}', ''],
  ['{{ __lookupGetter__ }}', ''],
  ['{{ list.length }}', ''],
  ['{{ list.map }}', ''],
  ['{{ list.constructor }}', ''],
  ['{{ a.__proto__ }}', ''],
  ['{{ __proto__ }}', ''],
  ['{{ __proto__.polluted }}', ''],
  ['{{ constructor }}', ''],
  ['{{ constructor.constructor }}', ''],
  ['{{ a.constructor.constructor }}', ''],
  ['{{ prototype }}', ''],
  ['{{ Object.prototype }}', ''],
  ['{{ polluted }}', ''],
  ['{{ initial_context.polluted }}', ''],
  ['{{ list.polluted_array }}', ''],
  ['{{ a.polluted_string }}', ''],
  ['{{ nested.inner.polluted | clean }}', 'clean'],
  ['{{ a.b.c.d.e.f }}', ''],
]);

const OUTSIDE_NAMES = [
  'process',
  'process.env',
  `process.env.${ENV_KEY}`,
  'process.mainModule',
  'require',
  'require.main',
  'globalThis',
  `globalThis.__canary`,
  'global',
  'global.process',
  '__canary',
  'module',
  'module.exports',
  'exports',
  'import',
  'import.meta',
  '__dirname',
  '__filename',
  'eval',
  'Function',
  'this',
  'self',
  'window',
  'arguments',
  'it',
  'it.l',
  'it.v',
  'options',
  '__eta',
  'include',
  'layout',
  'console',
  'fetch',
];

const ETA_SYNTAX = cases([
  ['<%= process.exit(1) %>', '<%= process.exit(1) %>'],
  ['<%~ it %>', '<%~ it %>'],
  ['<% throw 1 %>', '<% throw 1 %>'],
  ['<%- x %>', '<%- x %>'],
  ['<%= global.process.mainModule %>', '<%= global.process.mainModule %>'],
  ["<%= require('child_process').execSync('id') %>", "<%= require('child_process').execSync('id') %>"],
  ['<%~ include("x") %>', '<%~ include("x") %>'],
  ['<% layout("x") %>', '<% layout("x") %>'],
  ['<%~ it.v(0) %><%~ it.l %>', '<%~ it.v(0) %><%~ it.l %>'],
  ['<%= globalThis.__canary %>', '<%= globalThis.__canary %>'],
  ['<%', '<%'],
  ['%>', '%>'],
  ['<%= unterminated', '<%= unterminated'],
  ['{{ a }}<%= 1 %>', 'A<%= 1 %>'],
  ['<%= "{{ a }}" %>', '<%= "A" %>'],
  ['{{= it.x }}', '{{= it.x }}'],
  ['{{=it}}', ''],
  ['{{~ it }}', '{{~ it }}'],
  ['{{~it}}', ''],
  ['{{- x }}', '{{- x }}'],
  ['{{ it.x; process.exit(1) }}', '{{ it.x; process.exit(1) }}'],
  ['{{ a() }}', ''],
  ["{{ a['b'] }}", ''],
  ['{{ a?.b }}', ''],
  ['{{ a;b }}', ''],
  ['{{ $ }}', ''],
  ['{{ process.exit(1) }}', ''],
]);

const CODE_IN_DEFAULTS = cases([
  ['{{ x | ${process.env.HOME} }}', '{{ x | ${process.env.HOME} }}'],
  ['{{ x | ${globalThis.__canary} }}', '{{ x | ${globalThis.__canary} }}'],
  ['{{ x | <%= 1+1 %> }}', '<%= 1+1 %>'],
  ['{{ x | <%~ it %> }}', '<%~ it %>'],
  ["{{ x | '); process.exit(1); (' }}", "'); process.exit(1); ('"],
  ['{{ x | "+process.exit(1)+" }}', '"+process.exit(1)+"'],
  ['{{ x | `${1+1}` }}', '{{ x | `${1+1}` }}'],
  ['{{ x | */ process.exit(1) /* }}', '*/ process.exit(1) /*'],
  ['{{ x | it.l[0] }}', 'it.l[0]'],
  ['{{ x | fallback:${process.exit(1)} }}', '{{ x | fallback:${process.exit(1)} }}'],
  ['{{ x | \\u0041 }}', '\\u0041'],
  ['{{ x | \\x41 }}', '\\x41'],
  ['{{ x | {{ a }}', '{{ a'],
  ['{{ x || 1 }}', '| 1'],
]);

const CLOSING_BRACES = cases([
  ['{{ a }}}', 'A}'],
  ['{{{ a }}}', '{A}'],
  ['{{ a | }} }}', 'A }}'],
  ['}}{{', '}}{{'],
  ['{{ {{ a }} }}', '{{ A }}'],
  ['{{{{a}}}}', '}}'],
  ['{{ a', '{{ a'],
  ['{{ a }', '{{ a }'],
  ['{ { a } }', '{ { a } }'],
  ['{{}}}}', '{{}}}}'],
  ['{{ x | }}}', '}'],
  ['{{ x | a }} b }}', 'a b }}'],
  ['{{ a }}{{ a }}', 'AA'],
  ['}}{{ a }}{{', '}}A{{'],
  ['{{ a }}}}', 'A}}'],
]);

const QUOTES_AND_BACKSLASHES = cases([
  ['it\'s "quoted" `ticked`', 'it\'s "quoted" `ticked`'],
  ["'); process.exit(1); ('", "'); process.exit(1); ('"],
  ['`${process.exit(1)}`', '`${process.exit(1)}`'],
  ['\\', '\\'],
  ['\\\\', '\\\\'],
  ['C:\\temp\\new', 'C:\\temp\new'],
  ['\\\\n', '\\\n'],
  ['\\"{{ a }}\\"', '\\"A\\"'],
  ['{{ x | \\" }}', '\\"'],
  ['{{ x | \\ }}', '\\'],
  ["{{ x | ' }}", "'"],
  ['{{ x | ` }}', '`'],
  ['</script><script>alert(1)</script>', '</script><script>alert(1)</script>'],
  ['\u2028{{ a }}\u2029', '\u2028A\u2029'],
]);

const UNICODE = cases([
  ['Zoë 日本語 🚀 {{ a }}', 'Zoë 日本語 🚀 A'],
  ['{{ x | ñandú 🚀 }}', 'ñandú 🚀'],
  ['\u202Eevil\u202C{{ a }}', '\u202Eevil\u202CA'],
  ['\uD800 lone surrogate', '\uD800 lone surrogate'],
  ['｛｛ a ｝｝', '｛｛ a ｝｝'],
  ['{{ café }}', ''],
  ['{{ \u0430bc }}', ''],
  ['{{\u200Ba}}', ''],
  ['{{ a\u0000 }}', ''],
]);

const LONG = cases([
  ['a'.repeat(1_000_000), 'a'.repeat(1_000_000)],
  ['{{ a }}'.repeat(10_000), 'A'.repeat(10_000)],
  ['{{'.repeat(100_000), '{{'.repeat(100_000)],
  ['}}'.repeat(100_000), '}}'.repeat(100_000)],
  [`{{ ${Array(2000).fill('k').join('.')} }}`, ''],
  [`{{ ${'k'.repeat(10_000)} | fine }}`, 'fine'],
  [`{{ x | ${'d'.repeat(100_000)} }}`, 'd'.repeat(100_000)],
  [`{{ ${'{{ '.repeat(10_000)}}}`, '{{ '.repeat(9_999)],
]);

const GROUPS: readonly (readonly [string, Case[]])[] = [
  ['property walks and prototype access', PROPERTY_WALKS],
  ['eta syntax', ETA_SYNTAX],
  ['code in defaults', CODE_IN_DEFAULTS],
  ['closing-brace tricks', CLOSING_BRACES],
  ['quotes, backticks and backslashes', QUOTES_AND_BACKSLASHES],
  ['unicode', UNICODE],
  ['very long strings', LONG],
];
const ALL: Case[] = [
  ...GROUPS.flatMap(([, group]) => group),
  ...OUTSIDE_NAMES.map((name) => ({ template: `{{ ${name} }}`, expected: '' })),
];

const label = (template: string) => JSON.stringify(template.length > 60 ? `${template.slice(0, 57)}...` : template);

type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'template-error'; error: InvalidTemplateError }
  | { kind: 'other'; error: unknown };

/** Runs a render, classifying what happens; anything but a value or an InvalidTemplateError is a failure. */
function attempt(fn: () => unknown): Outcome {
  try {
    return { kind: 'ok', value: fn() };
  } catch (error) {
    return error instanceof InvalidTemplateError ? { kind: 'template-error', error } : { kind: 'other', error };
  }
}

function expectNoCanary(value: unknown): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  for (const canary of CANARIES) expect(text).not.toContain(canary);
}

/** Guards against side effects: process.exit, new globals, changed environment. */
function watchSideEffects() {
  const exit = vi.spyOn(process, 'exit').mockImplementation(() => {
    throw new Error('process.exit was called');
  });
  const globalsBefore = Object.getOwnPropertyNames(globalThis).sort().join();
  const envBefore = JSON.stringify(process.env);
  return () => {
    expect(exit).not.toHaveBeenCalled();
    expect(Object.getOwnPropertyNames(globalThis).sort().join()).toBe(globalsBefore);
    expect(JSON.stringify(process.env)).toBe(envBefore);
  };
}

describe.each(GROUPS)('%s', (_group, group) => {
  it.each(group.map((c) => [label(c.template), c] as const))(
    'renders %s inertly or rejects it',
    (_name, { template, expected }) => {
      const check = watchSideEffects();
      const outcome = attempt(() => renderPayload(template, { context: CONTEXT, now: FIXED_NOW }));
      check();
      if (expected === ERROR) {
        expect(outcome.kind).toBe('template-error');
      } else {
        expect(outcome).toEqual({ kind: 'ok', value: expected });
      }
    },
  );
});

describe('names outside the context', () => {
  it.each(OUTSIDE_NAMES)('renders {{ %s }} as missing when the context lacks it', (name) => {
    expect(renderPayload(`[{{ ${name} }}]`, { context: CONTEXT, now: FIXED_NOW })).toBe('[]');
  });

  it.each(OUTSIDE_NAMES)('uses the default for {{ %s | default }}', (name) => {
    expect(renderPayload(`{{ ${name} | safe }}`, { context: CONTEXT, now: FIXED_NOW })).toBe('safe');
  });

  it('reads "process" and "require" as ordinary keys when the context has them', () => {
    const context = { process: { env: 'just data' }, require: 'also data' };
    expect(renderPayload('{{ process.env }} {{ require }}', { context, now: FIXED_NOW })).toBe('just data also data');
  });

  it('renders {{ import.meta.url }} as a missing path, not as JavaScript', () => {
    expect(renderPayload('{{ import.meta.url | none }}', { context: {}, now: FIXED_NOW })).toBe('none');
  });
});

describe('values are data, never templates', () => {
  const valueCases = [
    '{{ a }}',
    '{{ process.env.HOME }}',
    '<%= process.exit(1) %>',
    '<%~ it %>',
    '${process.exit(1)}',
    "'); process.exit(1); ('",
    '}}{{',
  ];

  it.each(valueCases)('writes the value %s as it is, without rendering it again', (value) => {
    const check = watchSideEffects();
    expect(renderPayload('[{{ v }}]', { context: { v: value, a: 'A' }, now: FIXED_NOW })).toBe(`[${value}]`);
    check();
  });

  it('writes a value that looks like a placeholder into a key without rendering it again', () => {
    expect(renderPayload({ '{{ k }}': 1 }, { context: { k: '{{ a }}', a: 'A' }, now: FIXED_NOW })).toEqual({
      '{{ a }}': 1,
    });
  });

  it('turns the two characters \\n of a value into a newline, as Dograh does after substituting', () => {
    expect(renderPayload('[{{ v }}]', { context: { v: 'a\\nb' }, now: FIXED_NOW })).toBe('[a\nb]');
  });

  it('does not render a default that looks like a placeholder', () => {
    expect(renderPayload('{{ x | {{a}} }}', { context: { a: 'A' }, now: FIXED_NOW })).toBe('{{a }}');
  });
});

describe('the whole corpus in every template position', () => {
  // Whatever the position, the outcome is a value free of canaries or an InvalidTemplateError.
  it.each(ALL.map((c) => [label(c.template), c.template] as const))(
    'keeps %s inert as an object key',
    (_name, template) => {
      const check = watchSideEffects();
      const outcome = attempt(() => renderBody({ [template]: 'v' }, { context: CONTEXT, now: FIXED_NOW }));
      check();
      expect(outcome.kind).not.toBe('other');
      if (outcome.kind === 'ok') expectNoCanary(outcome.value);
    },
  );

  it.each(ALL.map((c) => [label(c.template), c.template] as const))('keeps %s inert in a URL', (_name, template) => {
    const check = watchSideEffects();
    const outcome = attempt(() =>
      renderUrl(`https://hooks.example.com/in/${template}`, { context: CONTEXT, now: FIXED_NOW }),
    );
    check();
    expect(outcome.kind).not.toBe('other');
    if (outcome.kind === 'ok') {
      expectNoCanary(outcome.value);
      expect(new URL(outcome.value as string).host).toBe('hooks.example.com');
    }
  });

  it.each(ALL.map((c) => [label(c.template), c.template] as const))(
    'keeps %s inert in a whole node',
    (_name, template) => {
      const node = makeNode({
        data: {
          http_method: 'POST',
          custom_headers: [{ key: 'X-Probe', value: template }],
          payload_template: { probe: template, list: [template], [template]: template } as Json,
        },
      });
      const check = watchSideEffects();
      const outcome = attempt(() => renderNode(node, CONTEXT, FIXED_NOW));
      check();
      expect(outcome.kind).not.toBe('other');
      if (outcome.kind === 'ok') expectNoCanary(outcome.value);
    },
  );
});

describe('no code is generated', () => {
  // The engine only scans text and looks paths up: nothing may reach the Function
  // constructor (or eval, which a Proxy cannot see but which the engine never names).
  it('renders the whole corpus without constructing a single Function', () => {
    const bodies: string[] = [];
    const RealFunction = globalThis.Function;
    const recording = new Proxy(RealFunction, {
      construct(target, args: unknown[]) {
        bodies.push(String(args[args.length - 1]));
        return Reflect.construct(target, args) as object;
      },
      apply(target, self, args: unknown[]) {
        bodies.push(String(args[args.length - 1]));
        return Reflect.apply(target, self, args) as unknown;
      },
    });
    const salt = Math.random().toString(36).slice(2);
    let rendered = 0;
    try {
      globals['Function'] = recording;
      ALL.forEach((c, i) => {
        // A fresh prefix per case defeats the compile cache, so every template is parsed here.
        const outcome = attempt(() =>
          renderPayload(`${salt}-${i} ${c.template}`, { context: CONTEXT, now: FIXED_NOW }),
        );
        expect(outcome.kind).not.toBe('other');
        if (outcome.kind === 'ok') rendered++;
      });
    } finally {
      globals['Function'] = RealFunction;
    }
    expect(rendered).toBe(ALL.length);
    expect(bodies).toEqual([]);
  });
});
