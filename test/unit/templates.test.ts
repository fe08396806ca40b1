import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/schemas/node.ts';
import { render, typed } from '../fixtures/templates.ts';

// The rules of ../shared/CONTRACT.md section 3, one behaviour per test: placeholders, values, structure.

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
