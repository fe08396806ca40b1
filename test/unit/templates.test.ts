import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/schemas/node.ts';
import { templateCacheStats } from '../../shared/templates/engine.ts';
import { renderBody, renderPayload, renderUrl } from '../../shared/templates/render.ts';
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
  float: 3.14159,
  negative_float: -0.5,
  huge: 1e21,
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

  it('keeps colons in a plain default', () => {
    expect(render('{{ missing | 10:30 }}')).toBe('10:30');
  });

  it('keeps a URL as a default whole', () => {
    expect(render('{{ missing | https://example.com/a?b=c }}')).toBe('https://example.com/a?b=c');
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
    expect(render('{{ no | n/a }}')).toBe('false');
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
    ['a float', '{{float}}', '3.14159'],
    ['a negative float', '{{negative_float}}', '-0.5'],
    ['an event float (cost_info.total_usd)', '{{cost_info.total_usd}}', '0.42'],
    ['the largest safe integer', '{{max_safe}}', '9007199254740991'],
    ['2^53 + 2 in full digits', '{{past_safe}}', '9007199254740994'],
    ['1e21 in decimal digits, not exponent notation', '{{huge}}', '1000000000000000000000'],
    ['-1e22 in decimal digits', '{{huger_negative}}', '-10000000000000000000000'],
    ['true', '{{yes}}', 'true'],
    ['false', '{{no}}', 'false'],
  ])('writes %s as its decimal or literal text', (_name, template, expected) => {
    expect(render(template)).toBe(expected);
  });

  it('writes an object as its JSON text', () => {
    expect(render('{{obj}}')).toBe('{"a":1,"b":[true,null,"x"]}');
  });

  it('writes an array as its JSON text', () => {
    expect(render('{{list}}')).toBe('[10,{"name":"second"},[1,2]]');
  });

  it('writes a whole event object (gathered_context) as JSON text', () => {
    expect(render('{{gathered_context}}')).toBe('{"resolution":"refund issued","call_disposition":"resolved"}');
  });

  it('keeps a number rendered alone a string, not a JSON number', () => {
    expect(render('{{workflow_run_id}}')).toBe('1234');
  });

  it('writes strings unchanged, unicode included', () => {
    expect(render('{{who}}', { who: 'Zoë 🚀 «quoted» \u0000 "x"' })).toBe('Zoë 🚀 «quoted» \u0000 "x"');
  });
});

describe('array index paths', () => {
  it('reads an array element by index', () => {
    expect(render('{{list.0}}')).toBe('10');
  });

  it('reads through an array element into an object', () => {
    expect(render('{{list.1.name}}')).toBe('second');
  });

  it('reads an array in an array', () => {
    expect(render('{{list.2.1}}')).toBe('2');
  });

  it('renders an index past the end as missing', () => {
    expect(render('[{{list.3 | none}}]')).toBe('[none]');
  });

  it('does not read an index with a leading zero', () => {
    expect(render('[{{list.01}}]')).toBe('[]');
  });

  it('does not read an array by a non-numeric key', () => {
    expect(render('[{{list.first}}]')).toBe('[]');
  });

  it('reads an object key made of digits as a key', () => {
    expect(render('{{codes.404}}', { codes: { '404': 'not found' } })).toBe('not found');
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
      deep: [[['{{list.1.name}}']]],
    };
    expect(render(template)).toEqual({
      run: { id: '1234', tags: ['Support line', { who: 'Ada Lovelace' }] },
      deep: [[['second']]],
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

  it('leaves \\n inside a substituted value as the two characters', () => {
    expect(render('{{escaped}}')).toBe('a\\nb');
  });

  it('leaves \\n inside a substituted value even when a default is given', () => {
    expect(render('{{ escaped | x }}')).toBe('a\\nb');
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
    expect(render('{{current_time_America/New_York}}', CONTEXT, new Date('2026-07-04T16:05:09Z'))).toBe('2026-07-04 12:05:09 EDT');
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
    expect(render('{{current_time_Asia/Tokyo}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toMatch(/^2026-11-28 05:00:00 /);
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

  it('lets a context key of the same name win over a built-in', () => {
    expect(render('{{current_time}}', { current_time: 'from the run' })).toBe('from the run');
  });

  it('does not treat a nested current_time as the built-in', () => {
    expect(render('[{{initial_context.current_time}}]')).toBe('[]');
  });

  it('rejects an unknown zone with InvalidTemplateError naming the zone', () => {
    const error = templateError(() => renderPayload('{{current_time_Mars/Olympus}}', { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template.at'));
    expect(error.path).toBe('data.payload_template.at');
    expect(error.reason).toContain('"Mars/Olympus"');
  });

  it('rejects an unknown zone in current_weekday_<zone>', () => {
    expect(templateError(() => render('{{current_weekday_Nowhere}}')).reason).toContain('unknown time zone "Nowhere"');
  });

  it('rejects current_time_ with an empty zone', () => {
    expect(templateError(() => render('{{current_time_}}')).reason).toContain('unknown time zone ""');
  });
});

describe('call_disposition', () => {
  const scope = (context: unknown) => ({ context, now: FIXED_NOW });

  it('adds call_disposition from gathered_context to an object payload', () => {
    expect(renderBody({ run: '{{workflow_run_id}}' }, scope(CONTEXT))).toEqual({ run: '1234', call_disposition: 'resolved' });
  });

  it('adds an empty call_disposition when gathered_context has none', () => {
    expect(renderBody({ run: 1 }, scope({ gathered_context: {} }))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds an empty call_disposition when the context has no gathered_context', () => {
    expect(renderBody({ run: 1 }, scope({}))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds an empty call_disposition when gathered_context.call_disposition is null', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: null } }))).toEqual({ call_disposition: '' });
  });

  it('keeps the template\'s own call_disposition', () => {
    expect(renderBody({ call_disposition: 'custom' }, scope(CONTEXT))).toEqual({ call_disposition: 'custom' });
  });

  it('keeps a rendered call_disposition key from the template', () => {
    expect(renderBody({ '{{k}}': 'mine' }, scope({ k: 'call_disposition', gathered_context: { call_disposition: 'theirs' } }))).toEqual({
      call_disposition: 'mine',
    });
  });

  it('writes a non-string call_disposition as text', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: 3 } }))).toEqual({ call_disposition: '3' });
  });

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
    expect(url('https://crm.example.com/hooks/{{workflow_id}}/runs/{{workflow_run_id}}')).toBe('https://crm.example.com/hooks/77/runs/1234');
  });

  it('returns a URL without placeholders unchanged', () => {
    expect(url('https://crm.example.com/hooks?x=1')).toBe('https://crm.example.com/hooks?x=1');
  });

  it('percent-encodes placeholder values', () => {
    expect(url('https://h.example/q?who={{spaced}}')).toBe('https://h.example/q?who=two%20words%20%26%20more%2Fslashes%3F');
  });

  it('percent-encodes a "/" in a value so it stays one path segment', () => {
    expect(url('https://h.example/runs/{{v}}/x', { v: '../../admin' })).toBe('https://h.example/runs/..%2F..%2Fadmin/x');
  });

  it('percent-encodes "#" so a value cannot cut the URL short', () => {
    expect(url('https://h.example/a/{{v}}?k=1', { v: 'x#frag' })).toBe('https://h.example/a/x%23frag?k=1');
  });

  it('percent-encodes unicode as UTF-8', () => {
    expect(url('https://h.example/{{v}}', { v: 'Zoë' })).toBe('https://h.example/Zo%C3%AB');
  });

  it('writes numbers in the URL as decimal text', () => {
    expect(url('https://h.example/{{float}}')).toBe('https://h.example/3.14159');
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
    expect(error.reason).toBe('{{missing}} is missing or empty, so the URL cannot be built');
  });

  it('rejects a null value', () => {
    expect(templateError(() => url('https://h.example/{{nothing}}')).reason).toContain('is missing or empty');
  });

  it('rejects an empty value', () => {
    expect(templateError(() => url('https://h.example/{{empty}}')).reason).toContain('{{empty}} is missing or empty');
  });

  it('rejects an empty default for a missing value', () => {
    expect(templateError(() => url('https://h.example/{{ missing | }}')).reason).toContain('is missing or empty');
  });

  it('rejects an object value', () => {
    expect(templateError(() => url('https://h.example/{{obj}}')).reason).toBe('{{obj}} is an object, which cannot be part of a URL');
  });

  it('rejects an array value', () => {
    expect(templateError(() => url('https://h.example/{{list}}')).reason).toBe('{{list}} is an array, which cannot be part of a URL');
  });

  it('rejects a template that does not start with http:// or https://', () => {
    expect(templateError(() => url('ftp://h.example/x')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a javascript: URL', () => {
    expect(templateError(() => url('javascript:alert(1)')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a scheme made of a placeholder', () => {
    expect(templateError(() => url('{{scheme}}://h.example/', { scheme: 'https' })).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a scheme completed by a placeholder', () => {
    expect(templateError(() => url('http{{s}}://h.example/', { s: 's' })).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects leading spaces before the scheme', () => {
    expect(templateError(() => url(' https://h.example/')).reason).toBe('the URL must start with http:// or https://');
  });

  it('keeps the scheme when a value looks like "javascript:" in the host position', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'javascript:alert(1)' })).reason).toBe('the rendered URL is not a valid URL');
  });

  it('keeps a "javascript:" value inside the path as encoded text', () => {
    expect(url('https://h.example/{{v}}', { v: 'javascript:alert(1)' })).toBe('https://h.example/javascript%3Aalert(1)');
  });

  it('does not let a value with "@" change the host', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'user@evil.example' })).reason).toBe('the rendered URL is not a valid URL');
  });

  it('does not let a value with "@" after the host change the host', () => {
    expect(templateError(() => url('https://crm.example.com{{v}}/x', { v: '@evil.example' })).reason).toBe('the rendered URL is not a valid URL');
  });

  it('does not let a value with ":port" change the port', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'h.example:8443' })).reason).toBe('the rendered URL is not a valid URL');
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
    expect(templateError(() => url('https://user:secret@h.example/x')).reason).toContain('must not carry a user name or password');
  });

  it('rejects user info built around a placeholder', () => {
    expect(templateError(() => url('https://{{v}}@h.example/x', { v: 'someone' })).reason).toContain('must not carry a user name or password');
  });

  it('rejects a URL whose rendered host is invalid', () => {
    expect(templateError(() => url('https://{{v}}/', { v: 'has space' })).reason).toBe('the rendered URL is not a valid URL');
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
    const error = templateError(() => renderUrl('https://h.example/{{missing}}', { context: {}, now: FIXED_NOW }, 'endpoint_url'));
    expect(error.path).toBe('endpoint_url');
  });
});

describe('template errors name the field', () => {
  it('names the payload field of a bad placeholder', () => {
    const error = templateError(() =>
      renderPayload({ customer: { name: '{{ not a path }}' } }, { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'),
    );
    expect(error.path).toBe('data.payload_template.customer.name');
  });

  it('names the array index of a bad placeholder', () => {
    const error = templateError(() => renderPayload({ items: ['ok', '{{ }}'] }, { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'));
    expect(error.path).toBe('data.payload_template.items.1');
  });

  it('names the key of a bad key template', () => {
    const error = templateError(() => renderPayload({ '{{ bad key }}': 1 }, { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'));
    expect(error.path).toBe('data.payload_template.{{ bad key }}');
  });

  it('keeps an empty key in the path, as validate reports it', () => {
    const error = templateError(() => renderPayload({ a: { '': '{{ }}' } }, { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'));
    expect(error.path).toBe('data.payload_template.a.');
  });

  it('uses "payload_template" as the default root of the path', () => {
    expect(templateError(() => renderPayload({ a: '{{}}' }, { context: CONTEXT, now: FIXED_NOW })).path).toBe('payload_template.a');
  });

  it('puts path and reason in the message', () => {
    const error = templateError(() => renderPayload('{{}}', { context: CONTEXT, now: FIXED_NOW }, 'data.payload_template'));
    expect(error.message).toBe('data.payload_template: placeholder {{}} has no path');
  });

  it.each([
    ['{{}}', 'placeholder {{}} has no path'],
    ['{{   }}', 'placeholder {{   }} has no path'],
    ['{{ | default }}', 'placeholder {{ | default }} has no path'],
    ['{{ two words }}', 'placeholder {{ two words }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"'],
    ['{{ a..b }}', 'placeholder {{ a..b }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"'],
    ['{{ .a }}', 'placeholder {{ .a }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"'],
    ['{{ a. }}', 'placeholder {{ a. }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"'],
    ['{{ a[0] }}', 'placeholder {{ a[0] }} is not a path: write dot-separated keys of letters, digits, "_", "-", "/" or "+"'],
    ['{{ __proto__ }}', 'placeholder {{ __proto__ }} uses "__proto__", which templates may not read'],
    ['{{ a.prototype }}', 'placeholder {{ a.prototype }} uses "prototype", which templates may not read'],
    ['{{ constructor.name }}', 'placeholder {{ constructor.name }} uses "constructor", which templates may not read'],
  ])('rejects %s with a reason', (template, reason) => {
    const error = templateError(() => render(template));
    expect(error.reason).toBe(reason);
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
