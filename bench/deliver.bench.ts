/**
 * The deliver handler against a bare `http.request` with keep-alive, at the same concurrency.
 *
 *   npm run bench -- deliver            (node bench/deliver.bench.ts)
 *   node bench/deliver.bench.ts --time 1000 --rounds 7 --json /tmp/deliver.json
 *
 * (a) the real deliver handler (`makeHandler`) with the real guarded HTTP sender, logger (info
 * level, lines dropped), metrics, snippet redaction and clock, on batches of 10 messages (the
 * event source's batch size), one batch at a time, so 10 requests in flight; the outcome log is
 * the in-memory store (same state rules as DynamoDB, no emulator in the way; a fresh one per
 * batch, as the DynamoDB store keeps nothing in memory), the queue actions
 * are no-ops (every delivery succeeds, none are called).
 * (b) 10 loops of `http.request` on one keep-alive agent, the same method, URL, headers and body.
 * Both talk to one loopback receiver in a child process that answers 200 with an empty body, so
 * the receiver's CPU is not counted against either side. Rounds interleave, median shown.
 * ratio = deliveries/s of (a) ÷ requests/s of (b); goal ≥ 0.8 (issue 10).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { makeHandler } from '../functions/deliver/handler.ts';
import { RESPONSE_SNIPPET_BYTES } from '../functions/deliver/handler.ts';
import { createGuardedHttpSender } from '../shared/adapters/guarded-http-sender.ts';
import { createMemoryDeliveryStore } from '../shared/adapters/memory-delivery-store.ts';
import type { DeliveryMessage } from '../shared/domain/delivery.ts';
import { LOCAL_ADDRESS_POLICY } from '../shared/net/address-policy.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { createMetrics } from '../shared/observability/metrics.ts';
import { redactText } from '../shared/observability/redact.ts';
import { systemClock } from '../shared/ports/clock.ts';
import type { DeliverDeps } from '../shared/use-cases/deliver-message.ts';

const { values: args } = parseArgs({
  options: {
    time: { type: 'string', default: '700' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
  allowPositionals: true,
});
const MEASURE_MS = Number(args.time);
const ROUNDS = Number(args.rounds);
const CONCURRENCY = 10;

/** A JSON body of about `bytes` bytes. */
function jsonBody(bytes: number): string {
  const answers: Record<string, string> = {};
  let i = 0;
  while (JSON.stringify(answers).length < bytes - 40) answers[`question_${i++}`] = `answer number ${i} of the call`;
  const text = JSON.stringify({ run_id: 1042, answers });
  return text;
}

// The receiver: its own process, so its CPU is not either side's.
const receiver = spawn(
  process.execPath,
  [
    '-e',
    `const s=require('node:http').createServer((q,r)=>{q.resume();q.on('end',()=>{r.writeHead(200,{'content-length':0});r.end();});});
     s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const [portLine] = (await once(receiver.stdout, 'data')) as [Buffer];
const port = Number(portLine.toString().trim());
const url = `http://127.0.0.1:${port}/hooks/7`;

let sequence = 0;
function message(body: string): DeliveryMessage {
  const i = sequence++;
  return {
    v: 1,
    delivery_id: `whd_${String(i).padStart(32, '0')}`,
    organization_id: 'org-1',
    workflow_id: 7,
    workflow_run_id: 1000 + i,
    node_id: 'webhook-1',
    node_name: 'Notify',
    method: 'POST',
    url,
    headers: { 'X-Source': 'dograh', 'Content-Type': 'application/json' },
    body,
    credential_uuid: null,
    retry: { max_attempts: 3, backoff: 'exponential', initial_delay_seconds: 1, max_delay_seconds: 10 },
    rendered_at: new Date().toISOString(),
  };
}

// The queue body is the message's JSON, as the render function writes it. Lambda hands the
// handler that string; serializing a 17 KB body anew for every record would count the bench's
// own work against the handler, so the body's JSON is made once and spliced in.
const BODY_MARK = '@@body@@';
const bodyJson = new Map<string, string>();
function queueBody(m: DeliveryMessage): string {
  let json = bodyJson.get(m.body ?? '');
  if (json === undefined) {
    json = JSON.stringify(m.body);
    bodyJson.set(m.body ?? '', json);
  }
  const spliced = json;
  return JSON.stringify({ ...m, body: BODY_MARK }).replace(`"${BODY_MARK}"`, () => spliced);
}

function record(m: DeliveryMessage): SQSRecord {
  return {
    messageId: m.delivery_id,
    receiptHandle: m.delivery_id,
    body: queueBody(m),
    attributes: {} as SQSRecord['attributes'],
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:deliveries',
    awsRegion: 'us-east-1',
  };
}

const sender = createGuardedHttpSender({ policy: LOCAL_ADDRESS_POLICY });
function deps(): DeliverDeps {
  return {
    store: createMemoryDeliveryStore(),
    credentials: { get: async () => ({ type: 'NONE' }), invalidate() {}, signingSecrets: async () => null },
    sender,
    actions: {
      delay: async () => {
        throw new Error('bench: no delivery should be retried');
      },
      deadLetter: async () => {
        throw new Error('bench: no delivery should be dead-lettered');
      },
    },
    clock: systemClock,
    log: createLogger({ level: 'info', sink: () => {} }),
    metrics: createMetrics({ namespace: 'Bench', sink: () => {} }),
    random: Math.random,
    requestTimeoutMs: 30_000,
    snippet: (text) => redactText(text, RESPONSE_SNIPPET_BYTES),
  };
}

/** A rate and this process's CPU time per operation (µs): the second moves less with the machine's load. */
interface Rate {
  readonly perSecond: number;
  readonly cpuUs: number;
}
function rateOf(done: number, start: number, cpu: NodeJS.CpuUsage): Rate {
  const used = process.cpuUsage(cpu);
  return { perSecond: (done * 1000) / (performance.now() - start), cpuUs: (used.user + used.system) / done };
}

/** (a) batches of 10 through the handler for `ms`; deliveries per second. */
async function handlerRate(body: string, ms: number): Promise<Rate> {
  const base = deps();
  let done = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < ms) {
    const event: SQSEvent = { Records: Array.from({ length: CONCURRENCY }, () => record(message(body))) };
    // A fresh in-memory outcome log per batch: the DynamoDB store the function runs with keeps
    // no record in memory, and one holding every record of the run made the garbage collector
    // 46 µs of each delivery (against 9 µs of a bare request).
    const handler = makeHandler({ ...base, store: createMemoryDeliveryStore() });
    const response = await handler(event);
    if (response.batchItemFailures.length > 0) throw new Error('bench: a delivery was kept for a retry');
    done += CONCURRENCY;
  }
  return rateOf(done, start, cpu);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function bareOnce(body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'X-Source': 'dograh',
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`bench: receiver answered ${res.statusCode}`));
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** (b) 10 loops of http.request for `ms`; requests per second. */
async function bareRate(body: string, ms: number): Promise<Rate> {
  let done = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() - start < ms) {
        await bareOnce(body);
        done++;
      }
    }),
  );
  return rateOf(done, start, cpu);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const cases = [
  { name: '158 B body', body: jsonBody(158) },
  { name: '17 KB body', body: jsonBody(17_409) },
];
const rows: {
  name: string;
  bytes: number;
  handler: number;
  bare: number;
  ratio: number;
  handlerCpuUs: number;
  bareCpuUs: number;
}[] = [];
for (const c of cases) {
  const sample = message(c.body);
  if (queueBody(sample) !== JSON.stringify(sample)) throw new Error('bench: the spliced queue body is not the JSON');
  // Warm-up: JIT, sockets, the sender's per-endpoint state.
  await handlerRate(c.body, 300);
  await bareRate(c.body, 300);
  const a: Rate[] = [];
  const b: Rate[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    a.push(await handlerRate(c.body, MEASURE_MS));
    b.push(await bareRate(c.body, MEASURE_MS));
  }
  const handler = median(a.map((r) => r.perSecond));
  const bare = median(b.map((r) => r.perSecond));
  rows.push({
    name: c.name,
    bytes: Buffer.byteLength(c.body),
    handler,
    bare,
    ratio: handler / bare,
    handlerCpuUs: median(a.map((r) => r.cpuUs)),
    bareCpuUs: median(b.map((r) => r.cpuUs)),
  });
}
receiver.kill();
agent.destroy();

console.log(
  `Node ${process.version}, ${CONCURRENCY} in flight, ${ROUNDS} interleaved rounds of ${MEASURE_MS} ms, median`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(12)} ${String(r.bytes).padStart(6)} B  handler ${Math.round(r.handler).toLocaleString('en-US').padStart(7)}/s  bare http.request ${Math.round(r.bare).toLocaleString('en-US').padStart(7)}/s  ratio ${r.ratio.toFixed(2)} (goal ≥ 0.8); CPU ${r.handlerCpuUs.toFixed(0)} µs per delivery, ${r.bareCpuUs.toFixed(0)} µs per bare request`,
  );
}
if (args.json !== undefined)
  writeFileSync(args.json, `${JSON.stringify({ concurrency: CONCURRENCY, rows }, null, 2)}\n`);
process.exit(0);
