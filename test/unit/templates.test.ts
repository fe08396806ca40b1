import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/schemas/node.ts';
import { templateCacheStats } from '../../shared/templates/engine.ts';
import { OutputBudget } from '../../shared/templates/engine.ts';
import { MAX_TEMPLATE_DEPTH, renderBody, renderPayload, renderUrl } from '../../shared/templates/render.ts';
import { FIXED_NOW, makeContext } from '../fixtures/factories.ts';
import { templateError } from '../fixtures/errors.ts';

// The rules of ../shared/CONTRACT.md section 3, one behaviour per test.

const CONTEXT = {
  ...makeContext(),
  text: 'hello',
  empty: '',
  nothing: null,
  zero: 0,
  no: false,
  yes: true,
  int: 42,
  negative: -17,
  float: 2.71875,
  negative_float: -0.5,
  huge: 1e21,
  tiny: 0.00001,
  small: 0.0001,
  tinier: 1.5e-7,
  huger_negative: -1e22,
  past_safe: 2 ** 53 + 2,
  max_safe: Number.MAX_SAFE_INTEGER,
  obj: { a: 1, b: [true, null, 'x'] },
  empty_obj: {},
  list: [10, { name: 'second' }, [1, 2]],
  escaped: 'a\\nb',
  spaced: 'two words & more/slashes?',
};

function render(template: Json, context: unknown = CONTEXT, now: Date = FIXED_NOW): Json {
  return renderPayload(template, { context, now });
}

function typed(template: Json, context: unknown = CONTEXT): Json {
  return renderPayload(template, { context, now: FIXED_NOW, mode: 'typed' });
}

function url(template: string, context: unknown = CONTEXT): string {
  return renderUrl(template, { context, now: FIXED_NOW }, 'data.endpoint_url');
}

describe('placeholder forms', () => {
  it('replaces {{path}} with the value at the path', () => {
    expect(render('{{workflow_name}}')).toBe('Support line');
  });

  it('allows spaces inside the braces', () => {
    expect(render('{{   workflow_name }}')).toBe('Support line');
  });

  it('allows tabs and newlines around the path', () => {
    expect(render('{{\tworkflow_name\n}}')).toBe('Support line');
  });

  it('follows dot-separated keys into nested objects', () => {
    expect(render('{{initial_context.customer_name}}')).toBe('Ada Lovelace');
  });

  it('keeps the literal text around placeholders', () => {
    expect(render('Run {{workflow_run_id}} of {{ workflow_name }}.')).toBe('Run 1234 of Support line.');
  });

  it('renders several placeholders next to each other', () => {
    expect(render('{{int}}{{text}}{{int}}')).toBe('42hello42');
  });

  it('uses {{ path | default }} when the value is missing', () => {
    expect(render('{{ missing | unknown caller }}')).toBe('unknown caller');
  });

  it('uses the legacy {{ path | fallback:default }} when the value is missing', () => {
    expect(render('{{ missing | fallback:unknown caller }}')).toBe('unknown caller');
  });

  it('trims spaces after fallback: in the legacy form', () => {
    expect(render('{{missing|fallback:   padded  }}')).toBe('padded');
  });

  it('treats an empty default as the empty string', () => {
    expect(render('[{{ missing | }}]')).toBe('[]');
  });

  it('treats an empty legacy default as the empty string', () => {
    expect(render('[{{ missing | fallback: }}]')).toBe('[]');
  });

  it('cuts a plain default at its first colon, as Dograh does', () => {
    expect(render('{{ missing | 10:30 }}')).toBe('10');
  });

  it('renders only the text before the colons of {{x | a:b:c}}', () => {
    expect(render('{{ missing | a:b:c }}')).toBe('a');
  });

  it('cuts a URL default at its scheme, as Dograh does', () => {
    expect(render('{{ missing | https://example.com/a?b=c }}')).toBe('https');
  });

  it('keeps colons after fallback: in the legacy form', () => {
    expect(render('{{ missing | fallback:https://example.com/a }}')).toBe('https://example.com/a');
  });

  it('renders a bare fallback as the path in title case', () => {
    expect(render('{{initial_context.missing|fallback}}')).toBe('Initial_Context.Missing');
  });

  it.each([
    ["it's.ok", "It'S.Ok"],
    ['straße', 'Straße'],
    ['ßa.x', 'Ssa.X'],
    ['ǆemal.x1y', 'ǅemal.X1Y'],
    ['ΣΑΣ.σασ', 'Σασ.Σασ'],
    ['ΣΑΣ_x', 'Σας_X'],
    ['ﬁre', 'Fire'],
  ])('title-cases %s as Python does', (path, expected) => {
    expect(render(`{{ ${path} | fallback }}`)).toBe(expected);
  });

  it('leaves {{x|}} and {{x|a:}} as text: they do not match the pattern', () => {
    expect(render('{{missing|}} {{missing|a:}}')).toBe('{{missing|}} {{missing|a:}}');
  });

  it('keeps "|" after the first one as part of the default', () => {
    expect(render('{{ missing | a|b }}')).toBe('a|b');
  });

  it('ignores the default when the value is present', () => {
    expect(render('{{ text | ignored }}')).toBe('hello');
  });

  it('ignores the legacy default when the value is present', () => {
    expect(render('{{ text | fallback:ignored }}')).toBe('hello');
  });

  it('leaves a "{{" with no closing braces as text', () => {
    expect(render('price {{ text')).toBe('price {{ text');
  });

  it('leaves lone closing braces as text', () => {
    expect(render('}} and }')).toBe('}} and }');
  });
});

describe('missing values and defaults', () => {
  it('renders a missing top-level key as the empty string', () => {
    expect(render('[{{missing}}]')).toBe('[]');
  });

  it('renders a missing nested key as the empty string', () => {
    expect(render('[{{initial_context.nobody.here}}]')).toBe('[]');
  });

  it('renders a path through a scalar as the empty string', () => {
    expect(render('[{{text.inner}}]')).toBe('[]');
  });

  it('renders null as the empty string', () => {
    expect(render('[{{nothing}}]')).toBe('[]');
  });

  it('renders a null from the event (transcript_url) as the empty string', () => {
    expect(render('[{{transcript_url}}]')).toBe('[]');
  });

  it('applies the default to null', () => {
    expect(render('{{ nothing | n/a }}')).toBe('n/a');
  });

  it('applies the default to the empty string', () => {
    expect(render('{{ empty | n/a }}')).toBe('n/a');
  });

  it('does not apply the default to 0', () => {
    expect(render('{{ zero | n/a }}')).toBe('0');
  });

  it('does not apply the default to false', () => {
    expect(render('{{ no | n/a }}')).toBe('False');
  });

  it('does not apply the default to an empty object', () => {
    expect(render('{{ empty_obj | n/a }}')).toBe('{}');
  });

  it('renders a missing key against an empty context as the empty string', () => {
    expect(render('[{{workflow_name}}]', {})).toBe('[]');
  });
});

describe('values become text', () => {
  it.each([
    ['an integer', '{{int}}', '42'],
    ['zero', '{{zero}}', '0'],
    ['a negative integer', '{{negative}}', '-17'],
    ['a float', '{{float}}', '2.71875'],
    ['a negative float', '{{negative_float}}', '-0.5'],
    ['an event float (cost_info.total_usd)', '{{cost_info.total_usd}}', '0.42'],
    ['1e-05 as Python writes it', '{{tiny}}', '1e-05'],
    ['0.0001 in decimal, as Python writes it', '{{small}}', '0.0001'],
    ['1.5e-07 with a two-digit exponent', '{{tinier}}', '1.5e-07'],
    ['the largest safe integer', '{{max_safe}}', '9007199254740991'],
    ['2^53 + 2 in full digits', '{{past_safe}}', '9007199254740994'],
    ['1e21 in decimal digits, not exponent notation', '{{huge}}', '1000000000000000000000'],
    ['-1e22 in decimal digits', '{{huger_negative}}', '-10000000000000000000000'],
    ['true as Python writes it', '{{yes}}', 'True'],
    ['false as Python writes it', '{{no}}', 'False'],
  ])('writes %s', (_name, template, expected) => {
    expect(render(template)).toBe(expected);
  });

  it("writes an object as Python's json.dumps does", () => {
    expect(render('{{obj}}')).toBe('{"a": 1, "b": [true, null, "x"]}');
  });

  it("writes an array as Python's json.dumps does", () => {
    expect(render('{{list}}')).toBe('[10, {"name": "second"}, [1, 2]]');
  });

  it('escapes non-ASCII in an object as \\uXXXX, surrogate pairs included', () => {
    expect(render('{{v}}', { v: { city: 'Köln', icon: '🚀', tab: '\t', q: '"' } })).toBe(
      '{"city": "K\\u00f6ln", "icon": "\\ud83d\\ude80", "tab": "\\t", "q": "\\""}',
    );
  });

  it('writes a whole event object (gathered_context) as JSON text', () => {
    expect(render('{{gathered_context}}')).toBe('{"resolution": "refund issued", "call_disposition": "resolved"}');
  });

  it('keeps a number rendered alone a string, not a JSON number', () => {
    expect(render('{{workflow_run_id}}')).toBe('1234');
  });

  it('writes strings unchanged, unicode included', () => {
    expect(render('{{who}}', { who: 'Zoë 🚀 «quoted» \u0000 "x"' })).toBe('Zoë 🚀 «quoted» \u0000 "x"');
  });
});

describe('array index paths', () => {
  it('does not index a list by default: Dograh walks objects only', () => {
    expect(render('[{{list.0}}]')).toBe('[]');
  });

  it('reads an array element by index in typed mode', () => {
    expect(typed('{{list.0}}')).toBe(10);
  });

  it('reads through an array element into an object in typed mode', () => {
    expect(typed('{{list.1.name}}')).toBe('second');
  });

  it('reads an array in an array in typed mode', () => {
    expect(typed('{{list.2.1}}')).toBe(2);
  });

  it('renders an index past the end as missing', () => {
    expect(typed('[{{list.3 | none}}]')).toBe('[none]');
  });

  it('does not read an index with a leading zero', () => {
    expect(typed('[{{list.01}}]')).toBe('[]');
  });

  it('does not read an array by a non-numeric key', () => {
    expect(typed('[{{list.first}}]')).toBe('[]');
  });

  it('reads an object key made of digits as a key', () => {
    expect(render('{{codes.404}}', { codes: { '404': 'not found' } })).toBe('not found');
  });
});

describe('typed templates (template_mode: typed)', () => {
  it.each([
    ['an integer', '{{int}}', 42],
    ['a float', '{{tiny}}', 0.00001],
    ['a boolean', '{{yes}}', true],
    ['an object', '{{obj}}', { a: 1, b: [true, null, 'x'] }],
    ['an array', '{{list}}', [10, { name: 'second' }, [1, 2]]],
    ['a string', '{{text}}', 'hello'],
    ['null', '{{nothing}}', null],
    ['a missing value, as null', '{{missing}}', null],
  ])('keeps %s when the string is exactly one placeholder', (_name, template, expected) => {
    expect(typed(template)).toEqual(expected);
  });

  it('keeps Dograh text when the string holds more than the placeholder', () => {
    expect(typed(' {{int}}')).toBe(' 42');
    expect(typed('{{yes}}{{no}}')).toBe('TrueFalse');
  });

  it('renders the default of a missing value as text', () => {
    expect(typed('{{ missing | 0 }}')).toBe('0');
  });

  it('keeps built-ins as text and keys as strings', () => {
    expect(typed({ '{{int}}': '{{current_time}}' })).toEqual({ '42': '2026-11-27 09:30:00 UTC' });
  });

  it('is off by default: a lone placeholder is text', () => {
    expect(render('{{int}}')).toBe('42');
  });
});

describe('structure', () => {
  it('renders object keys as templates', () => {
    expect(render({ 'run_{{workflow_run_id}}': 'x' })).toEqual({ run_1234: 'x' });
  });

  it('renders a key that is only a placeholder', () => {
    expect(render({ '{{text}}': '{{int}}' })).toEqual({ hello: '42' });
  });

  it('renders arrays element by element', () => {
    expect(render(['{{text}}', '{{int}}', 'plain'])).toEqual(['hello', '42', 'plain']);
  });

  it('renders nested objects and arrays recursively', () => {
    const template: Json = {
      run: { id: '{{workflow_run_id}}', tags: ['{{workflow_name}}', { who: '{{initial_context.customer_name}}' }] },
      deep: [[['{{obj.b}}']]],
    };
    expect(render(template)).toEqual({
      run: { id: '1234', tags: ['Support line', { who: 'Ada Lovelace' }] },
      deep: [[['[true, null, "x"]']]],
    });
  });

  it('keeps JSON numbers in the template as numbers', () => {
    expect(render({ n: 1.5, m: -3, z: 0 })).toEqual({ n: 1.5, m: -3, z: 0 });
  });

  it('keeps JSON booleans in the template as booleans', () => {
    expect(render({ t: true, f: false })).toEqual({ t: true, f: false });
  });

  it('keeps JSON null in the template as null', () => {
    expect(render({ z: null, list: [null] })).toEqual({ z: null, list: [null] });
  });

  it('keeps a bare number template as the number', () => {
    expect(render(7)).toBe(7);
  });

  it('keeps empty objects and arrays', () => {
    expect(render({ a: {}, b: [] })).toEqual({ a: {}, b: [] });
  });

  it('renders a bare string template', () => {
    expect(render('{{text}}')).toBe('hello');
  });

  it('keeps a rendered "__proto__" key as an ordinary own key', () => {
    const out = render({ '{{key}}': 'value' }, { key: '__proto__' }) as Record<string, Json>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(JSON.stringify(out)).toBe('{"__proto__":"value"}');
    expect(({} as Record<string, unknown>)['value']).toBeUndefined();
  });

  it('does not change the template it renders', () => {
    const template: Json = { '{{text}}': ['{{int}}', { a: '{{yes}}' }] };
    const before = JSON.stringify(template);
    render(template);
    expect(JSON.stringify(template)).toBe(before);
  });
});

describe('"\\n" in templates', () => {
  it('turns the two characters \\ n in literal text into a newline', () => {
    expect(render('line one\\nline two')).toBe('line one\nline two');
  });

  it('turns \\n in a default into a newline', () => {
    expect(render('{{ missing | a\\nb }}')).toBe('a\nb');
  });

  it('turns \\n in a legacy default into a newline', () => {
    expect(render('{{ missing | fallback:a\\nb }}')).toBe('a\nb');
  });

  it('turns \\n in an object key into a newline', () => {
    expect(render({ 'a\\nb': 1 })).toEqual({ 'a\nb': 1 });
  });

  it('turns \\n inside a substituted value into a newline too, as Dograh replaces after substituting', () => {
    expect(render('{{escaped}}')).toBe('a\nb');
  });

  it('joins a value ending in "\\" and a literal "n" into a newline', () => {
    expect(render('{{v}}n', { v: 'x\\' })).toBe('x\n');
  });

  it('turns every \\n of a literal into a newline', () => {
    expect(render('\\n{{text}}\\n\\n')).toBe('\nhello\n\n');
  });

  it('leaves a real newline in a template as a newline', () => {
    expect(render('a\nb')).toBe('a\nb');
  });
});

describe('built-ins', () => {
  it('writes current_time as "YYYY-MM-DD HH:MM:SS UTC"', () => {
    expect(render('{{current_time}}')).toBe('2026-11-27 09:30:00 UTC');
  });

  it('writes current_time_<zone> in the zone with its abbreviation', () => {
    expect(render('{{current_time_America/New_York}}')).toBe('2026-11-27 04:30:00 EST');
  });

  it('follows daylight saving time in current_time_<zone>', () => {
    expect(render('{{current_time_America/New_York}}', CONTEXT, new Date('2026-07-04T16:05:09Z'))).toBe(
      '2026-07-04 12:05:09 EDT',
    );
  });

  it('writes current_time_<zone> for a Pacific zone', () => {
    expect(render('{{current_time_America/Los_Angeles}}')).toBe('2026-11-27 01:30:00 PST');
  });

  it('writes current_time_UTC with "UTC"', () => {
    expect(render('{{current_time_UTC}}')).toBe('2026-11-27 09:30:00 UTC');
  });

  it('writes midnight as 00, not 24', () => {
    expect(render('{{current_time}}', CONTEXT, new Date('2026-11-27T00:05:07Z'))).toBe('2026-11-27 00:05:07 UTC');
  });

  it('moves the date with the zone', () => {
    expect(render('{{current_time_Asia/Tokyo}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toMatch(
      /^2026-11-28 05:00:00 /,
    );
  });

  it('writes current_weekday as the English day name in UTC', () => {
    expect(render('{{current_weekday}}')).toBe('Friday');
  });

  it('writes current_weekday_<zone> for the day in that zone', () => {
    expect(render('{{current_weekday_America/New_York}}', CONTEXT, new Date('2026-11-27T02:00:00Z'))).toBe('Thursday');
  });

  it('uses the same instant for every built-in of one render', () => {
    expect(render('{{current_weekday}} {{current_time}}')).toBe('Friday 2026-11-27 09:30:00 UTC');
  });

  it('allows spaces and a default around a built-in', () => {
    expect(render('{{ current_weekday | never }}')).toBe('Friday');
  });

  it('lets a built-in win over a context key of the same name, as in Dograh', () => {
    expect(render('{{current_time}}', { current_time: 'from the run' })).toBe('2026-11-27 09:30:00 UTC');
  });

  it.each([
    ['Europe/Paris', '2026-11-27 10:30:00 CET'],
    ['Asia/Kolkata', '2026-11-27 15:00:00 IST'],
    ['Asia/Tokyo', '2026-11-27 18:30:00 JST'],
    ['Australia/Sydney', '2026-11-27 20:30:00 AEDT'],
    ['Asia/Dubai', '2026-11-27 13:30:00 +04'],
    ['Asia/Kathmandu', '2026-11-27 15:15:00 +0545'],
    ['Etc/GMT+5', '2026-11-27 04:30:00 -05'],
  ])('writes current_time_%s with the tz database abbreviation', (zone, expected) => {
    expect(render(`{{current_time_${zone}}}`)).toBe(expected);
  });

  it('writes CEST in summer', () => {
    expect(render('{{current_time_Europe/Berlin}}', CONTEXT, new Date('2026-07-01T12:00:00Z'))).toBe(
      '2026-07-01 14:00:00 CEST',
    );
  });

  it('gives current_weekday the zone of the first zoned built-in of the string', () => {
    expect(render('{{current_time_Asia/Tokyo}} {{current_weekday}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toBe(
      '2026-11-28 05:00:00 JST Saturday',
    );
  });

  it('gives current_time the zone of a later zoned built-in too', () => {
    expect(render('{{current_time}} / {{current_weekday_Asia/Tokyo}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toBe(
      '2026-11-28 05:00:00 JST / Saturday',
    );
  });

  it('keeps the zone to its own string', () => {
    expect(render(['{{current_time_Asia/Tokyo}}', '{{current_time}}'])).toEqual([
      '2026-11-27 18:30:00 JST',
      '2026-11-27 09:30:00 UTC',
    ]);
  });

  it('does not treat a nested current_time as the built-in', () => {
    expect(render('[{{initial_context.current_time}}]')).toBe('[]');
  });

  it('renders an unknown zone as missing and warns, naming the zone', () => {
    const warnings: string[] = [];
    expect(
      renderPayload(
        { at: '[{{current_time_Mars/Olympus}}]' },
        { context: CONTEXT, now: FIXED_NOW, warnings },
        'data.payload_template',
      ),
    ).toEqual({ at: '[]' });
    expect(warnings).toEqual([
      'data.payload_template: unknown time zone "Mars/Olympus" in a current_time or current_weekday built-in: rendered as missing',
    ]);
  });

  it('applies the default to a built-in with an unknown zone', () => {
    expect(render('{{current_weekday_Nowhere | some day}}')).toBe('some day');
  });

  it('treats a zone spelled in another case as unknown, as Dograh on Linux does', () => {
    expect(render('[{{current_time_europe/paris}}]')).toBe('[]');
  });

  it('renders current_time_ with an empty zone as missing', () => {
    expect(render('[{{current_time_}}]')).toBe('[]');
  });
});

describe('call_disposition', () => {
  const scope = (context: unknown) => ({ context, now: FIXED_NOW });

  it('adds call_disposition from gathered_context to an object payload', () => {
    expect(renderBody({ run: '{{workflow_run_id}}' }, scope(CONTEXT))).toEqual({
      run: '1234',
      call_disposition: 'resolved',
    });
  });

  it('adds an empty call_disposition when gathered_context has none', () => {
    expect(renderBody({ run: 1 }, scope({ gathered_context: {} }))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds an empty call_disposition when the context has no gathered_context', () => {
    expect(renderBody({ run: 1 }, scope({}))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds a null call_disposition as it is, as Dograh does', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: null } }))).toEqual({ call_disposition: null });
  });

  it("keeps the template's own call_disposition", () => {
    expect(renderBody({ call_disposition: 'custom' }, scope(CONTEXT))).toEqual({ call_disposition: 'custom' });
  });

  it('keeps a rendered call_disposition key from the template', () => {
    expect(
      renderBody(
        { '{{k}}': 'mine' },
        scope({ k: 'call_disposition', gathered_context: { call_disposition: 'theirs' } }),
      ),
    ).toEqual({
      call_disposition: 'mine',
    });
  });

  it('adds a non-string call_disposition with its JSON type, as Dograh does', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: 3 } }))).toEqual({ call_disposition: 3 });
  });

  it.each([[''], [[]], [0], [false]])(
    'renders an empty template %j as an object with only call_disposition',
    (template) => {
      expect(renderBody(template as Json, scope(CONTEXT))).toEqual({ call_disposition: 'resolved' });
    },
  );

  it('renders a null template as an object with only call_disposition', () => {
    expect(renderBody(null, scope(CONTEXT))).toEqual({ call_disposition: 'resolved' });
  });

  it('does not add call_disposition to an array payload', () => {
    expect(renderBody(['{{text}}'], scope(CONTEXT))).toEqual(['hello']);
  });

  it('does not add call_disposition to a string payload', () => {
    expect(renderBody('{{text}}', scope(CONTEXT))).toBe('hello');
  });

  it('does not add call_disposition to a number payload', () => {
    expect(renderBody(5, scope(CONTEXT))).toBe(5);
  });

  it('does not add call_disposition to nested objects', () => {
    expect(renderBody({ inner: {} }, scope(CONTEXT))).toEqual({ inner: {}, call_disposition: 'resolved' });
  });
});

describe('endpoint_url', () => {
  it('renders placeholders into the URL', () => {
    expect(url('https://crm.example.com/hooks/{{workflow_id}}/runs/{{workflow_run_id}}')).toBe(
      'https://crm.example.com/hooks/77/runs/1234',
    );
  });

  it('returns a URL without placeholders unchanged', () => {
    expect(url('https://crm.example.com/hooks?x=1')).toBe('https://crm.example.com/hooks?x=1');
  });

  it('percent-encodes placeholder values', () => {
    expect(url('https://h.example/q?who={{spaced}}')).toBe(
      'https://h.example/q?who=two%20words%20%26%20more%2Fslashes%3F',
    );
  });

  it('percent-encodes a "/" in a value so it stays one path segment', () => {
    expect(url('https://h.example/runs/{{v}}/x', { v: '../../admin' })).toBe(
      'https://h.example/runs/..%2F..%2Fadmin/x',
    );
  });

  it('percent-encodes "#" so a value cannot cut the URL short', () => {
    expect(url('https://h.example/a/{{v}}?k=1', { v: 'x#frag' })).toBe('https://h.example/a/x%23frag?k=1');
  });

  it('percent-encodes unicode as UTF-8', () => {
    expect(url('https://h.example/{{v}}', { v: 'Zoë' })).toBe('https://h.example/Zo%C3%AB');
  });

  it('writes numbers in the URL as decimal text', () => {
    expect(url('https://h.example/{{float}}')).toBe('https://h.example/2.71875');
  });

  it('uses the default when the value is missing', () => {
    expect(url('https://h.example/{{ missing | none yet }}')).toBe('https://h.example/none%20yet');
  });

  it('uses the legacy default when the value is missing', () => {
    expect(url('https://h.example/{{ missing | fallback:0 }}')).toBe('https://h.example/0');
  });

  it('does not turn \\n in a URL template into a newline (the URL parser reads "\\" as "/")', () => {
    expect(url('https://h.example/a\\nb')).toBe('https://h.example/a/nb');
  });

  it('keeps an upper-case scheme, normalised by the URL parser', () => {
    expect(url('HTTPS://h.example/x')).toBe('https://h.example/x');
  });

  it('accepts http as written', () => {
    expect(url('http://127.0.0.1:8787/runs/{{workflow_run_id}}')).toBe('http://127.0.0.1:8787/runs/1234');
  });

  it('rejects a missing value', () => {
    const error = templateError(() => url('https://h.example/{{missing}}'));
    expect(error.path).toBe('data.endpoint_url');
    expect(error.reason).toBe('{{missing}} has no value, so the URL cannot be built');
  });

  it('rejects a null value', () => {
    expect(templateError(() => url('https://h.example/{{nothing}}')).reason).toContain('has no value');
  });

  it('rejects an empty value', () => {
    expect(templateError(() => url('https://h.example/{{empty}}')).reason).toContain('{{empty}} is empty');
  });

  it('accepts an empty default for a missing value, as Dograh does', () => {
    expect(url('https://h.example/a{{ missing | }}b')).toBe('https://h.example/ab');
  });

  it('writes booleans in a URL as true and false', () => {
    expect(url('https://h.example/{{yes}}/{{no}}')).toBe('https://h.example/true/false');
  });

  it("percent-encodes !'()* as Python's quote does", () => {
    expect(url('https://h.example/{{v}}', { v: "it's (a)!*" })).toBe('https://h.example/it%27s%20%28a%29%21%2A');
  });

  it.each([
    ['https://h.example/{{workflow_id', 'the URL template has a "{{" without its "}}"'],
    ['https://h.example/workflow_id}}', 'the URL template has a "}}" without its "{{"'],
    ['https://h.example/{{{{workflow_id}}}}', 'the URL template nests "{{" inside "{{"'],
    [
      'https://h.example/{{ workflow_id x }}',
      'the URL template has braces that are not a placeholder (write {{ path }} or {{ path | default }})',
    ],
  ])('rejects %s', (template, reason) => {
    expect(templateError(() => url(template)).reason).toBe(reason);
  });

  it('rejects an object value', () => {
    expect(templateError(() => url('https://h.example/{{obj}}')).reason).toBe(
      '{{obj}} is an object, which cannot be part of a URL',
    );
  });

  it('rejects an array value', () => {
    expect(templateError(() => url('https://h.example/{{list}}')).reason).toBe(
      '{{list}} is an array, which cannot be part of a URL',
    );
  });

  it('rejects a template that does not start with http:// or https://', () => {
    expect(templateError(() => url('ftp://h.example/x')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a javascript: URL', () => {
    expect(templateError(() => url('javascript:alert(1)')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a scheme made of a placeholder', () => {
    expect(templateError(() => url('{{scheme}}://h.example/', { scheme: 'https' })).reason).toBe(
      'the URL must start with http:// or https://',
    );
  });

  it('rejects a scheme completed by a placeholder', () => {
    expect(templateError(() => url('http{{s}}://h.example/', { s: 's' })).reason).toBe(
      'the URL must start with http:// or https://',
    );
  });

  it('rejects leading spaces before the scheme', () => {
    expect(templateError(() => url(' https://h.example/')).reason).toBe('the URL must start with http:// or https://');
  });

  it('keeps the scheme when a value looks like "javascript:" in the host position', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'javascript:alert(1)' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('keeps a "javascript:" value inside the path as encoded text', () => {
    expect(url('https://h.example/{{v}}', { v: 'javascript:alert(1)' })).toBe(
      'https://h.example/javascript%3Aalert%281%29',
    );
  });

  it('does not let a value with "@" change the host', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'user@evil.example' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('does not let a value with "@" after the host change the host', () => {
    expect(templateError(() => url('https://crm.example.com{{v}}/x', { v: '@evil.example' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('does not let a value with ":port" change the port', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'h.example:8443' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('keeps a value with "@" in the path as encoded text, leaving the host alone', () => {
    const rendered = url('https://crm.example.com/{{v}}', { v: 'user@evil.example' });
    expect(new URL(rendered).host).toBe('crm.example.com');
    expect(rendered).toBe('https://crm.example.com/user%40evil.example');
  });

  it('rejects a user name written in the template', () => {
    expect(templateError(() => url('https://user@h.example/x')).reason).toBe(
      'the URL must not carry a user name or password: store them in a credential',
    );
  });

  it('rejects a user name and password written in the template', () => {
    expect(templateError(() => url('https://user:secret@h.example/x')).reason).toContain(
      'must not carry a user name or password',
    );
  });

  it('rejects user info built around a placeholder', () => {
    expect(templateError(() => url('https://{{v}}@h.example/x', { v: 'someone' })).reason).toContain(
      'must not carry a user name or password',
    );
  });

  it('rejects a URL whose rendered host is invalid', () => {
    expect(templateError(() => url('https://{{v}}/', { v: 'has space' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('rejects a value that is a whole ".." path segment', () => {
    expect(templateError(() => url('https://h.example/api/{{v}}/hook', { v: '..' })).reason).toContain('{{v}} is ".."');
  });

  it('rejects a value that is a whole "." path segment', () => {
    expect(templateError(() => url('https://h.example/api/{{v}}/hook', { v: '.' })).reason).toContain('{{v}} is "."');
  });

  it('accepts dots inside a longer value', () => {
    expect(url('https://h.example/files/{{v}}', { v: '..a.b..' })).toBe('https://h.example/files/..a.b..');
  });

  it('does not turn \\n in a URL default into a newline', () => {
    expect(url('https://h.example/{{ missing | a\\nb }}')).toBe('https://h.example/a%5Cnb');
  });

  it('names the field it was given in its errors', () => {
    const error = templateError(() =>
      renderUrl('https://h.example/{{missing}}', { context: {}, now: FIXED_NOW }, 'endpoint_url'),
    );
    expect(error.path).toBe('endpoint_url');
  });
});

describe('template errors name the field', () => {
  // A payload fails only when it cannot be built at all: too large, or nested too deep.
  const tight = () => ({ context: { big: 'x'.repeat(100) }, now: FIXED_NOW, budget: new OutputBudget(150) });

  it('names the payload field where the output passed its limit', () => {
    const error = templateError(() =>
      renderPayload({ customer: { name: '{{big}}', again: '{{big}}' } }, tight(), 'data.payload_template'),
    );
    expect(error.path).toBe('data.payload_template.customer.again');
    expect(error.reason).toMatch(/^payload too large/);
  });

  it('names the array index', () => {
    const error = templateError(() =>
      renderPayload({ items: ['{{big}}', '{{big}}'] }, tight(), 'data.payload_template'),
    );
    expect(error.path).toBe('data.payload_template.items.1');
  });

  it('names a key template', () => {
    const error = templateError(() => renderPayload({ a: '{{big}}', '{{big}}': 1 }, tight(), 'data.payload_template'));
    expect(error.path).toBe(`data.payload_template.{{big}}`);
  });

  it('keeps an empty key in the path, as validate reports it', () => {
    const error = templateError(() => renderPayload({ a: { '': '{{big}}{{big}}' } }, tight(), 'data.payload_template'));
    expect(error.path).toBe('data.payload_template.a.');
  });

  it('uses "payload_template" as the default root of the path', () => {
    expect(templateError(() => renderPayload({ a: '{{big}}{{big}}' }, tight())).path).toBe('payload_template.a');
  });

  it('stops a payload that repeats a big value before building it whole', () => {
    const template = { copies: Array.from({ length: 7000 }, () => '{{big}}') };
    const context = { big: 'y'.repeat(60_000) };
    const error = templateError(() =>
      renderPayload(
        template,
        { context, now: FIXED_NOW, budget: new OutputBudget(256 * 1024) },
        'data.payload_template',
      ),
    );
    expect(error.path).toBe('data.payload_template.copies.4');
    expect(error.reason).toContain('payload too large');
  });

  it(`refuses a template nested deeper than ${MAX_TEMPLATE_DEPTH} levels before walking it`, () => {
    let template: Json = '{{text}}';
    for (let i = 0; i < 5000; i++) template = [template];
    const error = templateError(() =>
      renderPayload(template, { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'),
    );
    expect(error.path).toBe('data.payload_template');
    expect(error.reason).toBe(`the template is nested deeper than ${MAX_TEMPLATE_DEPTH} levels of objects and arrays`);
  });

  it(`renders a template nested exactly ${MAX_TEMPLATE_DEPTH} levels deep`, () => {
    let template: Json = '{{text}}';
    for (let i = 0; i < MAX_TEMPLATE_DEPTH; i++) template = { a: template };
    expect(JSON.stringify(render(template))).toContain('"hello"');
  });

  it('refuses a context value nested too deep to write, instead of overflowing the stack', () => {
    let value: unknown = 1;
    for (let i = 0; i < 100_000; i++) value = [value];
    const error = templateError(() =>
      renderPayload({ a: '{{v}}' }, { context: { v: value }, now: FIXED_NOW }, 'data.payload_template'),
    );
    expect(error.path).toBe('data.payload_template.a');
    expect(error.reason).toContain('nested deeper than');
  });

  it.each([
    ['{{}}', '{{}}'],
    ['{{   }}', '{{   }}'],
    ['{{ | default }}', '{{ | default }}'],
    ['{{ two words }}', '{{ two words }}'],
    ['[{{ a..b }}]', '[]'],
    ['[{{ .a }}]', '[]'],
    ['[{{ a[0] }}]', '[]'],
    ['[{{ __proto__ }}]', '[]'],
    ['[{{ a.prototype }}]', '[]'],
    ['[{{ constructor.name }}]', '[]'],
  ])('renders %s as Dograh does, without failing the node', (template, expected) => {
    expect(render(template)).toBe(expected);
  });
});

describe('compile cache', () => {
  // Each test uses text no other test renders, so earlier renders cannot have warmed it.
  const unique = (label: string) => `${label} ${Math.random().toString(36).slice(2)} {{workflow_run_id}}`;

  it('compiles a template once when it is rendered twice', () => {
    const template = unique('twice');
    const before = templateCacheStats().compiled;
    render(template);
    render(template);
    expect(templateCacheStats().compiled - before).toBe(1);
  });

  it('compiles once for different contexts', () => {
    const template = unique('contexts');
    const before = templateCacheStats().compiled;
    expect(render(template, { workflow_run_id: 1 })).toMatch(/ 1$/);
    expect(render(template, { workflow_run_id: 2 })).toMatch(/ 2$/);
    expect(templateCacheStats().compiled - before).toBe(1);
  });

  it('compiles a string repeated inside one payload once', () => {
    const text = unique('repeated');
    const before = templateCacheStats().compiled;
    render({ a: text, b: [text, text], c: { d: text } });
    expect(templateCacheStats().compiled - before).toBe(1);
  });

  it('compiles each distinct string of a payload', () => {
    const before = templateCacheStats().compiled;
    render({ a: unique('first'), b: unique('second') });
    expect(templateCacheStats().compiled - before).toBe(2);
  });

  it('does not compile text without placeholders', () => {
    const before = templateCacheStats().compiled;
    render(`plain ${Math.random()}`);
    expect(templateCacheStats().compiled - before).toBe(0);
  });

  it('keeps a compiled template in the cache', () => {
    const template = unique('kept');
    render(template);
    const { cached } = templateCacheStats();
    render(template);
    expect(templateCacheStats().cached).toBe(cached);
  });

  it('renders the same output from the cache as on first compile', () => {
    const template = unique('same');
    const first = render(template);
    expect(render(template)).toBe(first);
  });
});
