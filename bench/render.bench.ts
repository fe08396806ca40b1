/**
 * Renders per second of payload templates, against JSON.stringify alone.
 *
 *   npm run bench                 (node bench/render.bench.ts, on the pinned Node 24)
 *   npm run bench -- --time 1000  (milliseconds per measurement; default 500)
 *
 * For each template it measures, in the same process and interleaved:
 *   (a) render + stringify: JSON.stringify(renderBody(template, scope)), what the
 *       render step does for every delivery (renderNode calls exactly this);
 *   (b) stringify alone: JSON.stringify of the output (a) produces.
 * ratio = ops/s of (a) ÷ ops/s of (b). Rendering costs no more than serializing
 * when the ratio is ≥ 0.5 (then (a) takes at most twice as long as (b) alone).
 * renderNode (URL, headers and body) is shown for reference.
 *
 * See bench/README.md for how to read the numbers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderNode } from '../shared/domain/render-node.ts';
import type { TemplateContext } from '../shared/schemas/event.ts';
import { WebhookNodeSchema, type Json } from '../shared/schemas/node.ts';
import { templateCacheStats, type Scope } from '../shared/templates/engine.ts';
import { renderBody } from '../shared/templates/render.ts';

const { values: args } = parseArgs({
  options: {
    time: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const MEASURE_MS = Number(args.time);
const ROUNDS = Number(args.rounds);
const WARMUP_MS = 300;

const NOW = new Date('2026-11-27T09:30:00Z');

function readJson(relative: string): unknown {
  return JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as unknown;
}

/** A run's context with the variety a real run has: 50 gathered answers, costs, QA annotations. */
function largeContext(): TemplateContext {
  const gathered: Record<string, unknown> = { call_disposition: 'resolved', resolution: 'refund issued' };
  for (let i = 0; i < 50; i++) {
    gathered[`answer_${i}`] =
      i % 5 === 0 ? i * 17.25 : i % 7 === 0 ? null : `Answer ${i}: the customer said "${'yes, '.repeat(i % 4)}ok"`;
  }
  return {
    organization_id: '42',
    workflow_run_id: 98_765_432,
    workflow_run_name: 'Outbound campaign call to +1 555 0199',
    workflow_id: 77,
    workflow_name: 'Renewal reminders',
    campaign_id: 12,
    call_time: '2026-11-27T09:30:00Z',
    initial_context: {
      customer_name: 'Grace Hopper',
      phone: '+1 555 0199',
      account: { id: 'AC-1001', tier: 'gold', since: 2019 },
    },
    gathered_context: gathered,
    cost_info: {
      total_usd: 0.87,
      duration_seconds: 412,
      breakdown: { llm: 0.31, tts: 0.22, stt: 0.14, telephony: 0.2 },
    },
    annotations: { qa_score: 0.93, flags: ['polite', 'resolved'], summary: 'Customer renewed for a year.' },
    recording_url: 'https://recordings.example.com/runs/98765432.mp3',
    transcript_url: 'https://recordings.example.com/runs/98765432.txt',
  };
}

/** 50 keys, each a nested object with arrays and several placeholders (9 per key, one key templated). */
function largeTemplate(): Json {
  const template: Record<string, Json> = {};
  for (let i = 0; i < 50; i++) {
    const key = i === 0 ? '{{workflow_name}}_summary' : `field_${i}`;
    template[key] = {
      id: `{{workflow_run_id}}-${i}`,
      label: `Field ${i} for {{ initial_context.customer_name | unknown caller }}`,
      value: `{{ gathered_context.answer_${i} | n/a }}`,
      meta: {
        run: '{{workflow_run_name}}',
        at: i === 0 ? '{{current_time}}' : '{{call_time}}',
        cost: '{{ cost_info.total_usd | fallback:0 }}',
        position: i,
        required: i % 2 === 0,
        note: null,
      },
      tags: ['{{workflow_name}}', `tag-${i}`, '{{ gathered_context.call_disposition }}', i],
      history: [{ step: i, note: '{{ annotations.qa_score | 0 }}\\nreviewed' }],
    };
  }
  return template;
}

interface Case {
  readonly name: string;
  readonly template: Json;
  readonly context: TemplateContext;
  /** `typed`: the node's opt-in typed templates (a lone placeholder keeps its JSON type). */
  readonly mode?: 'dograh' | 'typed';
}

const seedContext = readJson('../examples/context.json') as TemplateContext;
const CASES: Case[] = [
  { name: 'seed example', template: readJson('../examples/payload-template.json') as Json, context: seedContext },
  { name: 'large (50 keys)', template: largeTemplate(), context: largeContext() },
  { name: 'large (50 keys), typed', template: largeTemplate(), context: largeContext(), mode: 'typed' },
];

let sink = 0;

/** Calls `fn` for about `ms` milliseconds, in batches so the clock is read rarely; returns calls per second. */
function measure(fn: () => string, ms: number): number {
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) sink += fn().length;
    calls += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return (calls * 1000) / elapsed;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

interface Row {
  readonly name: string;
  readonly bytes: number;
  readonly renderAndStringify: number;
  readonly stringifyOnly: number;
  readonly renderNode: number;
}

function run(c: Case): Row {
  const scope: Scope = { context: c.context, now: NOW, mode: c.mode ?? 'dograh' };
  const node = WebhookNodeSchema.parse({
    id: 'bench',
    type: 'webhook',
    data: {
      endpoint_url: 'https://crm.example.com/hooks/{{workflow_id}}/runs/{{workflow_run_id}}',
      custom_headers: [{ key: 'X-Source', value: 'dograh-{{organization_id}}' }],
      payload_template: c.template,
      ...(c.mode === undefined ? {} : { template_mode: c.mode }),
    },
  });
  const rendered = renderBody(c.template, scope);
  const renderAndStringify = () => JSON.stringify(renderBody(c.template, scope));
  const stringifyOnly = () => JSON.stringify(rendered);
  const wholeNode = () => renderNode(node, c.context, NOW).body as string;
  if (renderAndStringify() !== stringifyOnly()) throw new Error(`${c.name}: (a) and (b) disagree on the output`);

  // Warm up: the template cache and the JIT.
  for (const fn of [renderAndStringify, stringifyOnly, wholeNode]) measure(fn, WARMUP_MS);

  const compiledBefore = templateCacheStats().compiled;
  const a: number[] = [];
  const b: number[] = [];
  const n: number[] = [];
  // Interleaved rounds, median of each: drift (CPU frequency, other load) hits both sides alike.
  for (let round = 0; round < ROUNDS; round++) {
    a.push(measure(renderAndStringify, MEASURE_MS));
    b.push(measure(stringifyOnly, MEASURE_MS));
    n.push(measure(wholeNode, MEASURE_MS));
  }
  compiledWhileMeasuring += templateCacheStats().compiled - compiledBefore;
  return {
    name: c.name,
    bytes: stringifyOnly().length,
    renderAndStringify: median(a),
    stringifyOnly: median(b),
    renderNode: median(n),
  };
}

let compiledWhileMeasuring = 0;

const format = (opsPerSecond: number) => Math.round(opsPerSecond).toLocaleString('en-US');

const rows = CASES.map(run);

const header = [
  'template',
  'body bytes',
  '(a) render+stringify ops/s',
  '(b) stringify ops/s',
  'ratio a/b',
  'renderNode ops/s',
];
const table = rows.map((r) => [
  r.name,
  String(r.bytes),
  format(r.renderAndStringify),
  format(r.stringifyOnly),
  (r.renderAndStringify / r.stringifyOnly).toFixed(2),
  format(r.renderNode),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
const line = (cells: readonly string[]) =>
  cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');

console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds of ${MEASURE_MS} ms each, median shown`);
console.log();
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of table) console.log(line(row));
console.log();
console.log('ratio = ops/s of (a) render + JSON.stringify ÷ ops/s of (b) JSON.stringify alone of the same output');
console.log('goal: ratio ≥ 0.50 (rendering costs no more than serializing)');
for (const r of rows) {
  const ratio = r.renderAndStringify / r.stringifyOnly;
  console.log(`  ${r.name}: ratio ${ratio.toFixed(2)} ${ratio >= 0.5 ? 'meets' : 'misses'} the goal`);
}
console.log(`template strings compiled during the timed rounds: ${compiledWhileMeasuring} (the cache was warm)`);
if (args.json !== undefined) {
  const out = rows.map((r) => ({ ...r, ratio: r.renderAndStringify / r.stringifyOnly }));
  writeFileSync(args.json, `${JSON.stringify({ rounds: ROUNDS, timeMs: MEASURE_MS, rows: out }, null, 2)}\n`);
}
if (sink === -1) console.log('unreachable: keeps results alive');
