import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/schemas/node.ts';
import { templateCacheStats } from '../../shared/templates/engine.ts';
import { OutputBudget } from '../../shared/templates/engine.ts';
import { MAX_TEMPLATE_DEPTH, renderPayload } from '../../shared/templates/render.ts';
import { FIXED_NOW } from '../fixtures/factories.ts';
import { templateError } from '../fixtures/errors.ts';
import { CONTEXT, render } from '../fixtures/templates.ts';

// The rules of ../shared/CONTRACT.md section 3, one behaviour per test: errors name the field; the compile cache.

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
