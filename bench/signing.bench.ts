/**
 * What Standard Webhooks signing costs per delivery, against rendering the same node.
 *
 *   npm run bench -- signing                 (node bench/signing.bench.ts, on the pinned Node 24)
 *   npm run bench -- signing -- --time 1000  (milliseconds per measurement; default 500)
 *
 * For each body, in the same process and interleaved:
 *   (r) renderNode: what the render step does per delivery (URL, headers, body);
 *   (b) buildRequest: the deliver step's request, unsigned;
 *   (s1) buildRequest + signRequest with one secret; (s2) with two (a rotation).
 * cost = time of (s1) − time of (b), as a share of the time of (r). Signing is
 * cheap when that share is small: it runs once per attempt, rendering once per delivery.
 * See bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildRequest, signRequest } from '../shared/domain/build-request.ts';
import type { DeliveryMessage } from '../shared/domain/delivery.ts';
import { renderNode } from '../shared/domain/render-node.ts';
import type { TemplateContext } from '../shared/schemas/event.ts';
import { NO_RETRY, WebhookNodeSchema, type Json } from '../shared/schemas/node.ts';

const { values: args } = parseArgs({
  options: { time: { type: 'string', default: '500' }, rounds: { type: 'string', default: '5' } },
});
const MEASURE_MS = Number(args.time);
const ROUNDS = Number(args.rounds);
const WARMUP_MS = 300;
const NOW = new Date('2026-11-27T09:30:00Z');
const SECRETS = ['whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=', 'whsec_K7SUYjEkNa+1UdX+mTyr1MUCIQfZlVD7'];

const readJson = (relative: string): unknown =>
  JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as unknown;
const seedTemplate = readJson('../examples/payload-template.json') as Json;
const seedContext = readJson('../examples/context.json') as TemplateContext;

/** 50 copies of the seed template under their own keys: a body of some 9 KB. */
function largeTemplate(): Json {
  const out: Record<string, Json> = {};
  for (let i = 0; i < 50; i++) out[`section_${i}`] = seedTemplate;
  return out;
}

let sink = 0;
function measure(fn: () => number, ms: number): number {
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) sink += fn();
    calls += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return (calls * 1000) / elapsed;
}
const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;

function run(name: string, template: Json) {
  const node = WebhookNodeSchema.parse({
    id: 'bench',
    type: 'webhook',
    data: {
      endpoint_url: 'https://crm.example.com/hooks/{{workflow_id}}',
      custom_headers: [{ key: 'X-Source', value: 'dograh' }],
      payload_template: template,
    },
  });
  const rendered = renderNode(node, seedContext, NOW);
  const message: DeliveryMessage = {
    v: 1,
    delivery_id: 'whd_0123456789abcdef0123456789abcdef',
    organization_id: '42',
    workflow_id: 77,
    workflow_run_id: 1234,
    node_id: 'bench',
    node_name: '',
    method: 'POST',
    url: rendered.url,
    headers: rendered.headers,
    body: rendered.body,
    credential_uuid: 'crm',
    retry: NO_RETRY,
    rendered_at: NOW.toISOString(),
  };
  const credential = { type: 'BEARER_TOKEN', token: 'bench-token' } as const;
  const fns = {
    r: () => (renderNode(node, seedContext, NOW).body as string).length,
    b: () => Object.keys(buildRequest(message, credential, 1, 30_000).headers).length,
    s1: () =>
      Object.keys(
        signRequest(buildRequest(message, credential, 1, 30_000), message.delivery_id, 1764581400, SECRETS.slice(0, 1))
          .headers,
      ).length,
    s2: () =>
      Object.keys(
        signRequest(buildRequest(message, credential, 1, 30_000), message.delivery_id, 1764581400, SECRETS).headers,
      ).length,
  };
  for (const fn of Object.values(fns)) measure(fn, WARMUP_MS);
  const results: Record<keyof typeof fns, number[]> = { r: [], b: [], s1: [], s2: [] };
  for (let round = 0; round < ROUNDS; round++)
    for (const key of Object.keys(fns) as (keyof typeof fns)[]) results[key].push(measure(fns[key], MEASURE_MS));
  const ops = { r: median(results.r), b: median(results.b), s1: median(results.s1), s2: median(results.s2) };
  const us = (o: number) => 1e6 / o;
  return {
    name,
    bytes: (rendered.body ?? '').length,
    ops,
    signUs: us(ops.s1) - us(ops.b),
    sign2Us: us(ops.s2) - us(ops.b),
    renderUs: us(ops.r),
  };
}

const rows = [run('seed example', seedTemplate), run('large (50 sections)', largeTemplate())];
const f = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds of ${MEASURE_MS} ms each, median shown`);
console.log();
console.log(
  'body                 bytes  renderNode ops/s  build ops/s  build+sign(1) ops/s  build+sign(2) ops/s  sign µs (1/2)  render µs  sign/render',
);
for (const r of rows) {
  console.log(
    [
      r.name.padEnd(19),
      String(r.bytes).padStart(6),
      f(r.ops.r).padStart(16),
      f(r.ops.b).padStart(11),
      f(r.ops.s1).padStart(19),
      f(r.ops.s2).padStart(19),
      `${r.signUs.toFixed(1)}/${r.sign2Us.toFixed(1)}`.padStart(13),
      r.renderUs.toFixed(1).padStart(9),
      `${((100 * r.signUs) / r.renderUs).toFixed(0)} %`.padStart(11),
    ].join('  '),
  );
}
console.log();
console.log('sign µs = time of build+sign minus time of build alone (one secret / two secrets of a rotation)');
console.log('sign/render = signing with one secret as a share of rendering the same node');
if (sink === -1) console.log('unreachable: keeps results alive');
