/**
 * `webhooks local` end to end: deliveries per second through the whole local pipeline.
 *
 *   npm run bench -- local                      (node bench/local.bench.ts; 100 runs x 20 nodes)
 *   node bench/local.bench.ts --runs 50 --nodes 40 --json /tmp/local.json
 *   node bench/local.bench.ts --cpu-prof /tmp/prof   (the CLI runs under node --cpu-prof)
 *
 * Writes an events file of `--runs` one-run events with `--nodes` webhook nodes each, all to a
 * loopback receiver in this process that answers 200 at once, then runs the real CLI,
 * `node cli/bin.ts local --event FILE`, in a child process: render, fauxqs, dynalite, deliver and
 * the event source poller, as a user runs it. Reported: deliveries/s from the first request that
 * reaches the receiver to the last (the pipeline's rate), and the wall time of the whole command
 * (emulators' start and the summary included). Every delivery must arrive and be `delivered`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '20' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
  allowPositionals: true,
});
const RUNS = Number(args.runs);
const NODES = Number(args.nodes);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

let received = 0;
let first = 0;
let last = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const now = performance.now();
    if (received === 0) first = now;
    last = now;
    received++;
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function event(run: number): Record<string, unknown> {
  return {
    organization_id: 42,
    workflow_run_id: run,
    workflow_run_name: `bench run ${run}`,
    workflow_id: 77,
    workflow_name: 'bench',
    campaign_id: null,
    call_time: '2026-11-27T09:30:00Z',
    initial_context: { customer_name: 'Ada' },
    gathered_context: { resolution: 'refund issued' },
    cost_info: {},
    annotations: {},
    recording_url: null,
    transcript_url: null,
    workflow_definition: {
      nodes: Array.from({ length: NODES }, (_, i) => ({
        id: `n${i}`,
        type: 'webhook',
        position: { x: 0, y: 0 },
        data: {
          name: `node ${i}`,
          enabled: true,
          http_method: 'POST',
          endpoint_url: `${origin}/hooks/${run}/${i}`,
          credential_uuid: null,
          custom_headers: [],
          payload_template: { run: '{{workflow_run_id}}', who: '{{initial_context.customer_name}}', node: String(i) },
        },
      })),
      edges: [],
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'local-bench-'));
const eventsFile = join(dir, 'events.json');
writeFileSync(eventsFile, JSON.stringify(Array.from({ length: RUNS }, (_, r) => event(10_000 + r))));

const profiling = args['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']];
// The CLI's CPU time, all its threads (the dynalite worker's too), written as it exits: a figure
// other work on the machine moves much less than the rate.
const cpuFile = join(dir, 'cpu.json');
const cpuAtExit = `process.on('exit', () => process.getBuiltinModule('node:fs').writeFileSync(${JSON.stringify(cpuFile)}, JSON.stringify(process.cpuUsage())))`;
const nodeArgs = [...profiling, '--import', `data:text/javascript,${encodeURIComponent(cpuAtExit)}`];
const started = performance.now();
const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'cli/bin.ts'), 'local', '--event', eventsFile], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let stdout = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk: string) => {
  stdout += chunk;
});
const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
const wallMs = performance.now() - started;
server.close();
server.closeAllConnections();
const cpu = JSON.parse(readFileSync(cpuFile, 'utf8')) as { user: number; system: number };
rmSync(dir, { recursive: true, force: true });

const expected = RUNS * NODES;
const summary = JSON.parse(stdout) as { status: string }[];
const delivered = summary.filter((e) => e.status === 'delivered').length;
if (code !== 0 || delivered !== expected || received !== expected) {
  process.stderr.write(`local bench: exit ${code}, ${delivered} delivered, ${received} received of ${expected}\n`);
  process.exit(1);
}
const perSecond = (expected * 1000) / Math.max(1, last - first);
const cpuMsPerDelivery = (cpu.user + cpu.system) / 1000 / expected;
console.log(
  `webhooks local, ${RUNS} runs x ${NODES} nodes = ${expected} deliveries: ${perSecond.toFixed(0)} deliveries/s (first to last request), whole command ${(wallMs / 1000).toFixed(1)} s, CPU ${cpuMsPerDelivery.toFixed(2)} ms per delivery (goal ≥ 300/s)`,
);
if (args.json !== undefined) {
  writeFileSync(
    args.json,
    `${JSON.stringify({ runs: RUNS, nodes: NODES, deliveries: expected, perSecond, wallMs, windowMs: last - first, cpuMsPerDelivery }, null, 2)}\n`,
  );
}
