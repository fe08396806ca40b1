/**
 * Cold import of the deliver and render bundles against their SDK clients alone.
 *
 *   npm run bench -- cold               (node bench/cold.bench.ts)
 *   node bench/cold.bench.ts --runs 31 --json /tmp/cold.json --metafile /tmp/meta
 *
 * Each function is bundled with esbuild as the stack bundles it (FUNCTION_BUNDLE in
 * infra/webhook-delivery/bundle-options.ts: ESM, node24, minified, no source map, the AWS SDK
 * bundled, the createRequire banner), and so is a baseline entry that imports only the SDK
 * clients the function constructs. Each bundle is then imported in a fresh `node` process
 * (`NODE_OPTIONS=--enable-source-maps`, as the functions run), timing `import()` inside it,
 * `--runs` times, the four bundles interleaved; the median is shown.
 * ratio = median import ms of the function's bundle ÷ that of its SDK clients alone; goal ≤ 1.2.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { esbuildOptions } from '../infra/webhook-delivery/bundle-options.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '21' },
    json: { type: 'string' },
    /** A folder: writes each bundle's esbuild metafile there, for `esbuild --analyze`-style reading. */
    metafile: { type: 'string' },
  },
  allowPositionals: true,
});
const RUNS = Number(args.runs);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The bundling options of the stack's functions (FUNCTION_BUNDLE, as function-builder.ts uses it), as esbuild options. */
const STACK_BUNDLING: BuildOptions = esbuildOptions();

const out = mkdtempSync(join(tmpdir(), 'cold-bench-'));
const SDK = {
  deliver: ['client-dynamodb:DynamoDBClient', 'client-sqs:SQSClient', 'client-secrets-manager:SecretsManagerClient'],
  render: ['client-dynamodb:DynamoDBClient', 'client-sqs:SQSClient'],
} as const;

interface Bundle {
  readonly name: string;
  readonly file: string;
  readonly bytes: number;
  readonly metafile: Metafile;
}

async function bundle(name: string, options: { entry: string } | { contents: string }): Promise<Bundle> {
  const file = join(out, `${name}.mjs`);
  const result = await build({
    ...STACK_BUNDLING,
    ...('entry' in options
      ? { entryPoints: [options.entry] }
      : { stdin: { contents: options.contents, resolveDir: ROOT, loader: 'js' } }),
    outfile: file,
  });
  const metafile = result.metafile as Metafile;
  const bytes = Object.values(metafile.outputs).reduce((s, o) => s + o.bytes, 0);
  return { name, file, bytes, metafile };
}

const bundles: Bundle[] = [];
for (const fn of ['deliver', 'render'] as const) {
  bundles.push(await bundle(fn, { entry: join(ROOT, `functions/${fn}/handler.ts`) }));
  const contents = SDK[fn]
    .map((spec) => {
      const [pkg, name] = spec.split(':');
      return `export { ${name} } from '@aws-sdk/${pkg}';`;
    })
    .join('\n');
  bundles.push(await bundle(`${fn}-sdk`, { contents }));
}
if (args.metafile !== undefined) {
  for (const b of bundles) writeFileSync(join(args.metafile, `${b.name}.meta.json`), JSON.stringify(b.metafile));
}

/** One fresh process: the ms its `import()` of `file` took. */
function importMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const text = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, NODE_OPTIONS: '--enable-source-maps' },
    encoding: 'utf8',
  });
  return Number(text);
}

const times = new Map<string, number[]>(bundles.map((b) => [b.name, []]));
for (const b of bundles) importMs(b.file); // warm the page cache
for (let run = 0; run < RUNS; run++) for (const b of bundles) times.get(b.name)?.push(importMs(b.file));
rmSync(out, { recursive: true, force: true });

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** The biggest inputs of a bundle, by bytes they add to the output. */
function topInputs(b: Bundle, n: number): { path: string; bytes: number }[] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(b.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'our code';
      sizes.set(pkg, (sizes.get(pkg) ?? 0) + input.bytesInOutput);
    }
  }
  return [...sizes.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([path, bytes]) => ({ path, bytes }));
}

const rows = (['deliver', 'render'] as const).map((fn) => {
  const full = bundles.find((b) => b.name === fn) as Bundle;
  const sdk = bundles.find((b) => b.name === `${fn}-sdk`) as Bundle;
  const fullMs = median(times.get(fn) ?? []);
  const sdkMs = median(times.get(`${fn}-sdk`) ?? []);
  return {
    name: fn,
    bundleBytes: full.bytes,
    sdkBytes: sdk.bytes,
    importMs: fullMs,
    sdkImportMs: sdkMs,
    ratio: fullMs / sdkMs,
    largest: topInputs(full, 6),
  };
});

console.log(`Node ${process.version}, ${RUNS} fresh processes per bundle, interleaved, median import() time`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(8)} bundle ${(r.bundleBytes / 1024).toFixed(0).padStart(4)} KiB ${r.importMs.toFixed(1).padStart(6)} ms   SDK clients alone ${(r.sdkBytes / 1024).toFixed(0).padStart(4)} KiB ${r.sdkImportMs.toFixed(1).padStart(6)} ms   ratio ${r.ratio.toFixed(2)} (goal ≤ 1.2)`,
  );
  console.log(`         largest: ${r.largest.map((l) => `${l.path} ${(l.bytes / 1024).toFixed(0)} KiB`).join(', ')}`);
}
if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify({ runs: RUNS, rows }, null, 2)}\n`);
