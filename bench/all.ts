/**
 * `npm run bench` with no name: every figure of issue 10 in one table, each beside the baseline
 * it is measured against in the same run, written to bench/results.json.
 *
 *   npm run bench                     (node bench/run.ts → this file; about 5 minutes)
 *   node bench/all.ts --quick         (shorter runs of each, for a smoke check; noisier)
 *
 * Runs each bench in its own process, one after the other (so one does not load the CPU of the
 * next), with `--json` to a temporary file, and keeps their own output in bench/results.log:
 * cost (counted AWS calls × list prices, API destinations as the baseline), deliver (handler ÷
 * bare http.request), cold (bundle import ÷ SDK clients alone), render (render+serialize ÷
 * serialize), local (`webhooks local` deliveries/s ÷ bare http.request at the same concurrency)
 * and cli (`webhooks --help` ÷ a bare node start).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string', default: 'bench/results.json' },
    log: { type: 'string', default: 'bench/results.log' },
  },
  allowPositionals: true,
});
const BENCH = fileURLToPath(new URL('.', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'bench-all-'));
writeFileSync(args.log, '');

const PLAN: Record<string, readonly string[]> = {
  cost: args.quick ? ['--deliveries', '50'] : ['--deliveries', '300'],
  deliver: args.quick ? ['--time', '300', '--rounds', '3'] : ['--time', '700', '--rounds', '5'],
  cold: args.quick ? ['--runs', '7'] : ['--runs', '21'],
  render: args.quick ? ['--time', '200', '--rounds', '3'] : ['--time', '500', '--rounds', '5'],
  local: args.quick ? ['--runs', '20', '--nodes', '10'] : ['--runs', '100', '--nodes', '20'],
  cli: args.quick ? ['--runs', '5'] : ['--runs', '15'],
};

// biome-ignore lint/suspicious/noExplicitAny: each bench's JSON, read by the rows below
const out: Record<string, any> = {};
const seconds: Record<string, number> = {};
for (const [name, extra] of Object.entries(PLAN)) {
  const file = join(tmp, `${name}.json`);
  const start = performance.now();
  process.stderr.write(`bench ${name} ... `);
  const text = execFileSync(process.execPath, [join(BENCH, `${name}.bench.ts`), ...extra, '--json', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  appendFileSync(args.log, `== ${name} ${extra.join(' ')}\n${text}\n`);
  seconds[name] = (performance.now() - start) / 1000;
  process.stderr.write(`${seconds[name].toFixed(0)} s\n`);
  out[name] = JSON.parse(readFileSync(file, 'utf8'));
}
rmSync(tmp, { recursive: true, force: true });

interface Row {
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: number;
  readonly baselineName: string;
  /** value ÷ baseline. */
  readonly ratio: number;
  readonly goal: string;
  readonly met: boolean;
}
const rows: Row[] = [];
const row = (r: Omit<Row, 'ratio'>) => rows.push({ ...r, ratio: r.value / r.baseline });

const apiDestinations: number = out.cost.apiDestinations;
/** Issue 10's goals, by the start of the cost bench's scenario names. */
const costGoals: readonly [string, string, number][] = [
  ['busy', 'busy', 2.5],
  ['quiet', 'quiet', 3.0],
  ['a delivery that takes 3', '3 attempts', 5.0],
];
for (const [scenario, result] of Object.entries(out.cost.scenarios as Record<string, { total: number }>)) {
  const [, short, goal] = costGoals.find(([prefix]) => scenario.startsWith(prefix)) ?? ['', scenario, Number.NaN];
  row({
    figure: `cost per million, ${short}`,
    value: result.total,
    unit: '$',
    baseline: apiDestinations,
    baselineName: 'API destinations $',
    goal: `≤ $${goal.toFixed(2)}`,
    met: result.total <= goal,
  });
}
for (const r of out.deliver.rows as { name: string; handler: number; bare: number; ratio: number }[]) {
  row({
    figure: `deliver handler, ${r.name}`,
    value: r.handler,
    unit: '/s',
    baseline: r.bare,
    baselineName: 'bare http.request /s',
    goal: 'ratio ≥ 0.80',
    met: r.ratio >= 0.8,
  });
}
for (const r of out.cold.rows as { name: string; importMs: number; sdkImportMs: number; ratio: number }[]) {
  row({
    figure: `cold import, ${r.name} bundle`,
    value: r.importMs,
    unit: 'ms',
    baseline: r.sdkImportMs,
    baselineName: 'SDK clients alone ms',
    goal: 'ratio ≤ 1.20',
    met: r.ratio <= 1.2,
  });
}
for (const r of out.render.rows as {
  name: string;
  renderAndStringify: number;
  stringifyOnly: number;
  ratio: number;
}[]) {
  row({
    figure: `render+serialize, ${r.name}`,
    value: r.renderAndStringify,
    unit: '/s',
    baseline: r.stringifyOnly,
    baselineName: 'serialize alone /s',
    goal: 'ratio ≥ 0.50',
    met: r.ratio >= 0.5,
  });
}
const bareSmall = (out.deliver.rows as { bare: number }[])[0]?.bare ?? Number.NaN;
row({
  figure: `webhooks local, ${out.local.deliveries} deliveries`,
  value: out.local.perSecond,
  unit: '/s',
  baseline: bareSmall,
  baselineName: 'bare http.request /s',
  goal: '≥ 300/s',
  met: out.local.perSecond >= 300,
});
row({
  figure: 'webhooks --help',
  value: out.cli.helpMs,
  unit: 'ms',
  baseline: out.cli.bareMs,
  baselineName: 'bare node start ms',
  goal: '≤ 500 ms',
  met: out.cli.helpMs <= 500,
});

const number = (v: number, unit: string) =>
  unit === '$' ? `$${v.toFixed(2)}` : `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)} ${unit}`;
const header = ['figure', 'measured', 'baseline (same run)', 'ratio', 'goal', ''];
const table = rows.map((r) => [
  r.figure,
  number(r.value, r.unit),
  `${number(r.baseline, r.baselineName.split(' ').at(-1) ?? '')} ${r.baselineName.split(' ').slice(0, -1).join(' ')}`,
  r.ratio.toFixed(2),
  r.goal,
  r.met ? 'met' : 'MISSED',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => (t[i] as string).length)));
const line = (cells: readonly string[]) =>
  cells
    .map((c, i) => (i === 0 || i === 2 || i === 4 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
    .join('  ');
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load average ${loadavg()
  .map((l) => l.toFixed(1))
  .join(' ')}`;
console.log(`Node ${process.version}, ${machine}, ${new Date().toISOString()}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const t of table) console.log(line(t));
console.log(
  `\nbench seconds: ${Object.entries(seconds)
    .map(([n, s]) => `${n} ${s.toFixed(0)}`)
    .join(', ')}; each bench's own output: ${args.log}`,
);
writeFileSync(
  args.json,
  `${JSON.stringify({ node: process.version, machine, at: new Date().toISOString(), seconds, rows, benches: out }, null, 2)}\n`,
);
