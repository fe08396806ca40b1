/**
 * Noisy neighbour: can one organization whose endpoint hangs slow down the others?
 *
 *   npm run bench -- isolation                      (about 4 minutes)
 *   npm run bench -- isolation --seconds 60 --rate 50 --timeout-ms 3000
 *
 * The local pipeline (render, fauxqs, dynalite, deliver, the event source poller)
 * with the poller capped like the stack: MaximumConcurrency and batch size are
 * the construct's defaults. Ten organizations send one-node runs at a fixed
 * rate (open loop): nine healthy ones (70% of the traffic, loopback receivers
 * that answer at once) and one (30%) whose loopback endpoint never answers, so
 * every request to it runs into the request timeout.
 *
 * Scenarios, each on a fresh local stack, in one process:
 *   baseline        the nine healthy organizations alone (isolation on)
 *   bad, before     with the bad tenant, isolation off (no circuits, no early settling): the old behaviour
 *   one lane        with the bad tenant, circuits and early settling but no slow lane
 *   bad, after      with the bad tenant, isolation on: circuits, settling, the slow lane
 *
 * Reported for the healthy organizations: deliveries per second during the load
 * window, p50/p99 from emit to the request reaching the receiver (whole run, and
 * after the bad endpoint's circuit opened); for the bad endpoint: requests per
 * minute once its circuit is open; SQS requests and Lambda GB-s (at the
 * construct's 512 MB) per 1,000 healthy deliveries. Ratios are against the
 * baseline of the same run. Traffic goes to loopback only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { startLocalStack } from '../cli/local-stack.ts';
import { EARLY_DELETE_ID_PREFIX } from '../shared/adapters/sqs-message-settler.ts';
import { DELIVER_EVENT_SOURCE_DEFAULTS } from '../shared/config/config.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '4' },
    'timeout-ms': { type: 'string', default: '3000' },
    only: { type: 'string' },
  },
});
const LOAD_SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const TIMEOUT_MS = Number(args['timeout-ms']);
const HEALTHY_ORGS = 9;
const BAD_SHARE = 0.3;
const DELIVER_MEMORY_GB = 0.5;
const DRAIN_MS = 15_000;

interface Scenario {
  readonly name: string;
  readonly bad: boolean;
  readonly isolation: boolean;
  /** The slow lane (slow mark, diverts, fair share); default with isolation. */
  readonly lanes?: boolean;
}

interface Result {
  readonly scenario: Scenario;
  readonly healthyEmitted: number;
  readonly healthyInWindow: number;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly p99AfterOpen: number | null;
  readonly openedAtS: number | null;
  readonly badRequests: number;
  readonly badPerMinuteOpen: number | null;
  readonly sqsRequests: Record<string, number>;
  readonly gbSeconds: number;
  readonly drained: number;
}

/** A loopback receiver: answers at once, or never (holds the socket until closed). */
async function receiver(
  hang: boolean,
  onRequest: (runId: number, at: number) => void,
): Promise<{ origin: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const at = performance.now();
    const runId = Number(req.headers['x-dograh-workflow-run-id']);
    req.resume();
    req.on('end', () => {
      onRequest(runId, at);
      if (!hang) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runScenario(scenario: Scenario, runBase: number): Promise<Result> {
  const emittedAt = new Map<number, number>();
  const healthyAt = new Map<number, number>();
  const badAt: number[] = [];
  const good = await receiver(false, (runId, at) => {
    if (!healthyAt.has(runId)) healthyAt.set(runId, at);
  });
  const bad = await receiver(true, (_, at) => badAt.push(at));
  let openedAt: number | null = null;
  let gbSeconds = 0;
  const stack = await startLocalStack({
    secrets: {},
    requestTimeoutMs: TIMEOUT_MS,
    pollerConcurrency: DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency,
    batchSize: DELIVER_EVENT_SOURCE_DEFAULTS.batchSize,
    isolation: scenario.isolation,
    slowLane: { enabled: scenario.lanes ?? scenario.isolation },
    logLevel: 'info',
    logSink: (line) => {
      if (openedAt === null && line.includes('endpoint circuit opened')) openedAt = performance.now();
    },
    onDeliverBatch: (ms) => {
      gbSeconds += (ms / 1000) * DELIVER_MEMORY_GB;
    },
  });
  const sqsRequests: Record<string, number> = {};
  stack.sqs.middlewareStack.add(
    (next, context) => async (input) => {
      let name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      const entries = (input.input as { Entries?: Array<{ Id?: string }> }).Entries;
      if (name === 'DeleteMessageBatch' && entries?.[0]?.Id?.startsWith(EARLY_DELETE_ID_PREFIX))
        name = 'DeleteMessageBatch (early settle)';
      sqsRequests[name] = (sqsRequests[name] ?? 0) + 1;
      return next(input);
    },
    { step: 'initialize', name: 'countRequests' },
  );

  const node = (origin: string, org: number) => ({
    id: 'notify',
    type: 'webhook',
    data: {
      name: 'Notify',
      endpoint_url: `${origin}/hook/${org}`,
      payload_template: { run: '{{workflow_run_id}}', org: '{{organization_id}}' },
    },
  });
  const event = (org: number, runId: number, origin: string) => ({
    version: '0',
    id: `bench-${runId}`,
    'detail-type': DEFAULT_DETAIL_TYPE,
    source: DEFAULT_EVENT_SOURCE,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    detail: {
      organization_id: `org-${org}`,
      workflow_id: 1,
      workflow_run_id: runId,
      workflow_name: 'bench',
      workflow_run_name: `run ${runId}`,
      initial_context: {},
      gathered_context: {},
      workflow_definition: { nodes: [node(origin, org)], edges: [] },
    },
  });

  // Open loop: the runs due each tick are emitted whatever the pipeline does; a healthy
  // run goes to one of the nine healthy organizations in turn.
  const healthyRate = RATE * (1 - BAD_SHARE);
  const badRate = scenario.bad ? RATE * BAD_SHARE : 0;
  const start = performance.now();
  const end = start + LOAD_SECONDS * 1000;
  let healthySent = 0;
  let badSent = 0;
  let runId = runBase;
  const emits: Promise<unknown>[] = [];
  while (performance.now() < end) {
    const elapsed = (performance.now() - start) / 1000;
    while (healthySent < elapsed * healthyRate) {
      const id = runId++;
      emittedAt.set(id, performance.now());
      emits.push(stack.emit(event(healthySent % HEALTHY_ORGS, id, good.origin)).catch(() => undefined));
      healthySent++;
    }
    while (badSent < elapsed * badRate) {
      emits.push(stack.emit(event(99, runId++, bad.origin)).catch(() => undefined));
      badSent++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(emits);
  const healthyInWindow = [...healthyAt.values()].filter((at) => at <= end).length;
  // Let the healthy backlog drain, for the latency of every healthy run.
  const drainUntil = performance.now() + DRAIN_MS;
  while (healthyAt.size < emittedAt.size && performance.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 100));
  const latencies = [...healthyAt.entries()].map(([id, at]) => at - (emittedAt.get(id) ?? at)).sort((a, b) => a - b);
  const opened = openedAt as number | null;
  const afterOpen =
    opened === null
      ? []
      : [...healthyAt.entries()]
          .filter(([id]) => (emittedAt.get(id) ?? 0) >= opened)
          .map(([id, at]) => at - (emittedAt.get(id) ?? at))
          .sort((a, b) => a - b);
  const badWhileOpen = opened === null ? 0 : badAt.filter((at) => at > opened && at <= end).length;
  const openMinutes = opened === null ? 0 : (end - opened) / 60_000;
  const result: Result = {
    scenario,
    healthyEmitted: emittedAt.size,
    healthyInWindow,
    throughput: healthyInWindow / LOAD_SECONDS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p99AfterOpen: afterOpen.length === 0 ? null : percentile(afterOpen, 99),
    openedAtS: opened === null ? null : (opened - start) / 1000,
    badRequests: badAt.length,
    badPerMinuteOpen: opened === null || openMinutes <= 0 ? null : badWhileOpen / openMinutes,
    sqsRequests: { ...sqsRequests },
    gbSeconds,
    drained: healthyAt.size,
  };
  await bad.close();
  await stack.stop();
  await good.close();
  return result;
}

const scenarios: Scenario[] = [
  { name: 'baseline (healthy only)', bad: false, isolation: true },
  { name: 'bad tenant, before (isolation off)', bad: true, isolation: false },
  { name: 'bad tenant, circuits and settling, one lane', bad: true, isolation: true, lanes: false },
  { name: 'bad tenant, after (isolation on, slow lane)', bad: true, isolation: true },
];

console.log(
  `isolation bench: ${RATE} runs/s for ${LOAD_SECONDS} s (${(RATE * (1 - BAD_SHARE)).toFixed(1)}/s healthy over ${HEALTHY_ORGS} orgs, ${(RATE * BAD_SHARE).toFixed(1)}/s to a hanging endpoint),` +
    ` request timeout ${TIMEOUT_MS} ms, poller ${DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency} x batch ${DELIVER_EVENT_SOURCE_DEFAULTS.batchSize}, Node ${process.version}`,
);
const results: Result[] = [];
let runBase = 100_000;
for (const s of scenarios.filter((s) => args.only === undefined || s.name.includes(args.only))) {
  const r = await runScenario(s, runBase);
  runBase += 1_000_000;
  results.push(r);
  console.log(`  done: ${s.name}`);
}

const baseline = results.find((r) => !r.scenario.bad);
const ms = (v: number | null) => (v === null || Number.isNaN(v) ? '-' : `${Math.round(v)} ms`);
const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);
const per1000 = (r: Result, n: number, digits = 0) =>
  r.drained === 0 ? '-' : ((n * 1000) / r.drained).toFixed(digits);
console.log('');
console.log(
  '| scenario | healthy/s in window | vs baseline | p50 | p99 | p99 vs baseline | p99 after circuit opened | circuit opened at | bad endpoint requests/min while open |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.scenario.name} | ${r.throughput.toFixed(1)} | ${ratio(r.throughput, baseline?.throughput)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ratio(r.p99, baseline?.p99)} | ${ms(r.p99AfterOpen)} | ${r.openedAtS === null ? '-' : `${r.openedAtS.toFixed(1)} s`} | ${r.badPerMinuteOpen === null ? '-' : r.badPerMinuteOpen.toFixed(1)} |`,
  );
}
console.log('');
console.log(
  '| scenario | healthy delivered | bad endpoint requests | SQS requests per 1,000 healthy deliveries (by action) | deliver GB-s per 1,000 healthy deliveries |',
);
console.log('|---|---:|---:|---|---:|');
for (const r of results) {
  const sqs = Object.entries(r.sqsRequests)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, n]) => `${name} ${per1000(r, n)}`)
    .join(', ');
  console.log(
    `| ${r.scenario.name} | ${r.drained}/${r.healthyEmitted} | ${r.badRequests} | ${sqs} | ${per1000(r, r.gbSeconds, 1)} |`,
  );
}
