/**
 * Fairness between organizations (issue 8): does a campaign from one organization
 * delay the others' first attempts?
 *
 *   npm run bench -- fairness                        (about 5 minutes)
 *   npm run bench -- fairness --backlog 10000 --seconds 40 --rate 3
 *
 * The local pipeline with the pollers capped like the stack (main lane 10 × 10, slow
 * lane 2 × 10). One organization emits a campaign of `--backlog` one-node runs as
 * fast as render takes them; nine others emit `--rate` runs per second between them
 * for `--seconds`, open loop. Every endpoint is a loopback receiver that answers at once.
 *
 * Scenarios, each on a fresh local stack, in one process:
 *   baseline        the nine organizations alone
 *   one lane        with the campaign, the slow lane off: every delivery on one queue (as before)
 *   lanes           with the campaign, the slow lane on: past its fair share the campaign waits there
 *
 * Reported: the nine organizations' p50/p99 from emit to the request reaching their
 * receiver, as ratios against the baseline of the same run, and from render's answer to
 * the request (the queues' part: locally render shares one event loop with the campaign's
 * renders and every delivery, which a Lambda per event does not); the campaign's drain time
 * and deliveries per second (what fairness costs it); how many of its deliveries took
 * the slow lane. fauxqs ignores MessageGroupId, so SQS fair queues play no part here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { startLocalStack } from '../cli/local-stack.ts';
import { DELIVER_EVENT_SOURCE_DEFAULTS, SLOW_LANE_EVENT_SOURCE_DEFAULTS } from '../shared/config/config.ts';
import { DEFAULT_FAIR_SHARE } from '../shared/domain/lanes.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';

const { values: args } = parseArgs({
  options: {
    backlog: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const BACKLOG = Number(args.backlog);
const LOAD_SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const OTHER_ORGS = 9;
/** Campaign runs being rendered at once: a producer emitting as fast as render answers. */
const EMIT_CONCURRENCY = 20;
const DRAIN_LIMIT_MS = 240_000;

interface Scenario {
  readonly name: string;
  readonly campaign: boolean;
  readonly lanes: boolean;
}

interface Result {
  readonly scenario: Scenario;
  readonly othersEmitted: number;
  readonly othersDelivered: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** From render's answer (the message on a queue) to the request: the queues' share of the wait. */
  readonly queuedP50: number;
  readonly queuedP99: number;
  readonly campaignDelivered: number;
  readonly campaignDrainS: number | null;
  readonly campaignOnSlowLane: number;
}

async function receiver(onRequest: (runId: number, at: number) => void) {
  const server: Server = createServer((req, res) => {
    const at = performance.now();
    const runId = Number(req.headers['x-dograh-workflow-run-id']);
    req.resume();
    req.on('end', () => {
      onRequest(runId, at);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function event(org: string, runId: number, origin: string) {
  return {
    version: '0',
    id: `fair-${runId}`,
    'detail-type': DEFAULT_DETAIL_TYPE,
    source: DEFAULT_EVENT_SOURCE,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    detail: {
      organization_id: org,
      workflow_id: 1,
      workflow_run_id: runId,
      workflow_name: 'bench',
      workflow_run_name: `run ${runId}`,
      initial_context: {},
      gathered_context: {},
      workflow_definition: {
        nodes: [
          {
            id: 'notify',
            type: 'webhook',
            data: {
              name: 'Notify',
              endpoint_url: `${origin}/hook/${org}`,
              payload_template: { run: '{{workflow_run_id}}' },
            },
          },
        ],
        edges: [],
      },
    },
  };
}

async function runScenario(scenario: Scenario, runBase: number): Promise<Result> {
  const emittedAt = new Map<number, number>();
  const enqueuedAt = new Map<number, number>();
  const othersAt = new Map<number, number>();
  const campaignIds = new Set<number>();
  let campaignLastAt = 0;
  let campaignDelivered = 0;
  const good = await receiver((runId, at) => {
    if (campaignIds.has(runId)) {
      campaignDelivered++;
      campaignLastAt = Math.max(campaignLastAt, at);
    } else if (!othersAt.has(runId)) othersAt.set(runId, at);
  });
  const stack = await startLocalStack({
    secrets: {},
    requestTimeoutMs: 10_000,
    pollerConcurrency: DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency,
    batchSize: DELIVER_EVENT_SOURCE_DEFAULTS.batchSize,
    slowLane: { enabled: scenario.lanes },
  });
  let onSlowLane = 0;
  stack.sqs.middlewareStack.add(
    (next, context) => async (input) => {
      if (context.commandName === 'SendMessageBatchCommand') {
        const i = input.input as SendMessageBatchCommandInput;
        if (i.QueueUrl === stack.queues.slow.url) onSlowLane += i.Entries?.length ?? 0;
      }
      return next(input);
    },
    { step: 'initialize', name: 'countSlowLane' },
  );

  const start = performance.now();
  let runId = runBase;
  // The campaign: as fast as render takes it, EMIT_CONCURRENCY at a time.
  const campaign = (async () => {
    if (!scenario.campaign) return;
    let next = 0;
    const worker = async () => {
      while (next < BACKLOG) {
        next++;
        const id = runId++;
        campaignIds.add(id);
        await stack.emit(event('org-campaign', id, good.origin)).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: EMIT_CONCURRENCY }, worker));
  })();
  // The others: open loop, one organization after another.
  const end = start + LOAD_SECONDS * 1000;
  let sent = 0;
  const emits: Promise<unknown>[] = [];
  while (performance.now() < end) {
    const elapsed = (performance.now() - start) / 1000;
    while (sent < elapsed * RATE) {
      const id = runId++;
      emittedAt.set(id, performance.now());
      emits.push(
        stack
          .emit(event(`org-${sent % OTHER_ORGS}`, id, good.origin))
          .then(() => enqueuedAt.set(id, performance.now()))
          .catch(() => undefined),
      );
      sent++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(emits);
  await campaign;
  const drainUntil = performance.now() + DRAIN_LIMIT_MS;
  while (
    (othersAt.size < emittedAt.size || campaignDelivered < (scenario.campaign ? BACKLOG : 0)) &&
    performance.now() < drainUntil
  )
    await new Promise((r) => setTimeout(r, 100));
  const latencies = [...othersAt.entries()].map(([id, at]) => at - (emittedAt.get(id) ?? at)).sort((a, b) => a - b);
  const queued = [...othersAt.entries()].map(([id, at]) => at - (enqueuedAt.get(id) ?? at)).sort((a, b) => a - b);
  const result: Result = {
    queuedP50: percentile(queued, 50),
    queuedP99: percentile(queued, 99),
    scenario,
    othersEmitted: emittedAt.size,
    othersDelivered: othersAt.size,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    campaignDelivered,
    campaignDrainS: scenario.campaign && campaignDelivered >= BACKLOG ? (campaignLastAt - start) / 1000 : null,
    campaignOnSlowLane: onSlowLane,
  };
  await stack.stop();
  await good.close();
  return result;
}

const scenarios: Scenario[] = [
  { name: 'baseline (nine organizations alone)', campaign: false, lanes: true },
  { name: 'campaign, one lane (before)', campaign: true, lanes: false },
  { name: 'campaign, slow lane (after)', campaign: true, lanes: true },
];

console.log(
  `fairness bench: a campaign of ${BACKLOG} runs from one organization; nine others at ${RATE} runs/s for ${LOAD_SECONDS} s;` +
    ` main lane ${DELIVER_EVENT_SOURCE_DEFAULTS.maxConcurrency} x ${DELIVER_EVENT_SOURCE_DEFAULTS.batchSize}, slow lane ${SLOW_LANE_EVENT_SOURCE_DEFAULTS.maxConcurrency} x ${DELIVER_EVENT_SOURCE_DEFAULTS.batchSize},` +
    ` fair share ${DEFAULT_FAIR_SHARE.deliveries} per ${DEFAULT_FAIR_SHARE.windowSeconds} s, Node ${process.version}`,
);
const results: Result[] = [];
let runBase = 100_000;
for (const s of scenarios.filter((s) => args.only === undefined || s.name.includes(args.only))) {
  results.push(await runScenario(s, runBase));
  runBase += 1_000_000;
  console.log(`  done: ${s.name}`);
}
const baseline = results.find((r) => !r.scenario.campaign);
const ms = (v: number) => (Number.isNaN(v) ? '-' : `${Math.round(v)} ms`);
const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);
console.log('');
console.log(
  '| scenario | others delivered | others p50 | others p99 | p99 vs baseline | others max | queued p50 / p99 | campaign delivered | campaign drained in | campaign /s | campaign on the slow lane |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const drain = r.campaignDrainS;
  console.log(
    `| ${r.scenario.name} | ${r.othersDelivered}/${r.othersEmitted} | ${ms(r.p50)} | ${ms(r.p99)} | ${ratio(r.p99, baseline?.p99)} | ${ms(r.max)} | ${ms(r.queuedP50)} / ${ms(r.queuedP99)} | ${r.scenario.campaign ? `${r.campaignDelivered}/${BACKLOG}` : '-'} | ${drain === null ? '-' : `${drain.toFixed(1)} s`} | ${drain === null ? '-' : (BACKLOG / drain).toFixed(0)} | ${r.scenario.campaign ? r.campaignOnSlowLane : '-'} |`,
  );
}
