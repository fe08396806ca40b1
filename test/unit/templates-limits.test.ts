import { describe, expect, it } from 'vitest';
import { zoneCacheSize } from '../../shared/templates/builtins.ts';
import { templateCacheStats } from '../../shared/templates/engine.ts';
import { parseTemplate } from '../../shared/templates/placeholder.ts';
import { renderPayload } from '../../shared/templates/render.ts';
import { ZONES } from '../../shared/templates/tz-abbreviations.ts';
import { FIXED_NOW } from '../fixtures/factories.ts';

// Templates are tenant input: time linear in their size, memory bounded (issue 8 item 5).

/** The fastest of `runs` timings of fn, in ms: the least disturbed by other work on the machine. */
function fastest(fn: () => void, runs: number): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

// Each makes a regex engine running Dograh's pattern backtrack from every "{{":
// a path run, a filter run or a fallback value run to the end of the text.
const ADVERSARIAL: readonly (readonly [string, string])[] = [
  ['"{{" repeated', '{{'],
  ['"{" repeated', '{'],
  ['"{{a|" repeated', '{{a|'],
  ['"{{a|fallback:" repeated', '{{a|fallback:'],
  ['"{{ a" and spaces repeated', '{{ a     '],
  ['"{{current_time_" repeated', '{{current_time_'],
  ['"{{a|b}" repeated', '{{a|b}'],
];

describe('scanning time is linear in the template', () => {
  it.each(ADVERSARIAL)('scans 1 MB of %s in at most ~linear time of 1 KB', (_name, unit) => {
    const small = unit.repeat(Math.ceil(1024 / unit.length));
    const large = unit.repeat(Math.ceil((1024 * 1024) / unit.length));
    // Warm the JIT on the small input first; then take the fastest run of each.
    // Small runs are timed 100 at a time, so the timer's own cost does not count.
    const hundred = () => {
      for (let i = 0; i < 100; i++) parseTemplate(small);
    };
    fastest(hundred, 10);
    const smallMs = fastest(hundred, 20) / 100;
    const largeMs = fastest(() => parseTemplate(large), 3);
    console.log(
      `${JSON.stringify(unit)}: 1 KB ${smallMs.toFixed(4)} ms, 1 MB ${largeMs.toFixed(1)} ms, ratio ${(largeMs / smallMs).toFixed(0)}`,
    );
    // 1024 times the input: linear is ~1000x, quadratic would be ~1,000,000x.
    expect(largeMs / smallMs).toBeLessThan(5000);
  });

  it('renders 1 MB of adversarial text through the engine too', () => {
    const text = '{{a|'.repeat(256 * 1024);
    expect(renderPayload(text, { context: {}, now: FIXED_NOW })).toBe(text);
  });
});

describe('bounded caches', () => {
  it('bounds the compiled-template cache by bytes: ten 240 KB templates do not all stay', () => {
    const big = (i: number) =>
      `${i} ${Math.random()} {{ workflow_run_id }} ${'x'.repeat(240 * 1024)} {{ workflow_name }}`;
    const templates = Array.from({ length: 10 }, (_, i) => big(i));
    const scope = { context: { workflow_run_id: 1 }, now: FIXED_NOW };
    for (const t of templates) renderPayload(t, scope);
    expect(templateCacheStats().bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    // The oldest made room: it is parsed again; the newest is still cached.
    const before = templateCacheStats().compiled;
    renderPayload(templates[9] as string, scope);
    expect(templateCacheStats().compiled - before).toBe(0);
    renderPayload(templates[0] as string, scope);
    expect(templateCacheStats().compiled - before).toBe(1);
  });

  it('does not cache a template bigger than an eighth of the cache', () => {
    const text = `${Math.random()} ${'{{ a }}'.repeat(200_000)}`;
    const before = templateCacheStats().compiled;
    renderPayload(text, { context: {}, now: FIXED_NOW });
    renderPayload(text, { context: {}, now: FIXED_NOW });
    expect(templateCacheStats().compiled - before).toBe(2);
  });

  it('keeps small templates cached next to big ones', () => {
    const small = `kept ${Math.random()} {{ workflow_run_id }}`;
    renderPayload(small, { context: {}, now: FIXED_NOW });
    const before = templateCacheStats().compiled;
    renderPayload(small, { context: {}, now: FIXED_NOW });
    expect(templateCacheStats().compiled).toBe(before);
  });

  it('keeps one time-zone entry per canonical zone, whatever the spellings', () => {
    const variants: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const name = 'Europe/Paris'
        .split('')
        .map((c, k) => ((i >> (k % 12)) & 1 ? c.toUpperCase() : c.toLowerCase()))
        .join('');
      variants.push(`{{current_time_${name}}}`);
    }
    renderPayload(variants, { context: {}, now: FIXED_NOW, warnings: [] });
    renderPayload(['{{current_time_Europe/Paris}}', '{{current_time_Asia/Tokyo}}'], { context: {}, now: FIXED_NOW });
    const zoneCount = ZONES.split(/\s+/).filter((z) => z !== '').length;
    expect(zoneCacheSize()).toBeLessThanOrEqual(zoneCount);
    expect(zoneCacheSize()).toBeLessThan(20);
  });

  it('renders a case variant of a zone as unknown, as Dograh on Linux does', () => {
    expect(renderPayload('[{{current_time_EUROPE/PARIS}}]', { context: {}, now: FIXED_NOW })).toBe('[]');
  });

  it('keeps at most 20 warnings for one render', () => {
    const warnings: string[] = [];
    renderPayload(
      Array.from({ length: 100 }, (_, i) => `{{current_time_Nowhere/${i}}}`),
      { context: {}, now: FIXED_NOW, warnings },
    );
    expect(warnings).toHaveLength(20);
  });
});
