/**
 * `webhooks --help` wall time against a bare `node` start, in fresh processes.
 *
 *   npm run bench -- cli               (node bench/cli.bench.ts)
 *   node bench/cli.bench.ts --runs 21 --json /tmp/cli.json
 *
 * Each run starts `node cli/bin.ts --help` (the real bin, TypeScript stripped by Node as the
 * `webhooks` bin runs) and, interleaved, `node -e ''`; the median wall time of each is shown.
 * ratio = `--help` ÷ bare node start. Goal (issue 10): `--help` ≤ 0.5 s.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '15' }, json: { type: 'string' } },
  allowPositionals: true,
});
const RUNS = Number(args.runs);
const BIN = fileURLToPath(new URL('../cli/bin.ts', import.meta.url));

function wallMs(argv: readonly string[]): number {
  const start = performance.now();
  execFileSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  return performance.now() - start;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const help: number[] = [];
const bare: number[] = [];
wallMs([BIN, '--help']);
for (let i = 0; i < RUNS; i++) {
  help.push(wallMs([BIN, '--help']));
  bare.push(wallMs(['-e', '']));
}
const helpMs = median(help);
const bareMs = median(bare);
console.log(
  `webhooks --help ${helpMs.toFixed(0)} ms, bare node start ${bareMs.toFixed(0)} ms, ratio ${(helpMs / bareMs).toFixed(2)} (goal: --help ≤ 500 ms); ${RUNS} runs, median`,
);
if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify({ runs: RUNS, helpMs, bareMs }, null, 2)}\n`);
