/**
 * `npm run bench [-- NAME] [options]`: runs bench/NAME.bench.ts, passing the options on.
 * Without a name, bench/all.ts: every figure of issue 10 in one table (bench/results.json).
 * `npm run bench -- isolation` is the noisy-neighbour bench.
 */
import { existsSync, readdirSync } from 'node:fs';

const [first, ...rest] = process.argv.slice(2);
const named = first !== undefined && !first.startsWith('-');
const name = named ? first : 'all';
const file = new URL(named ? `./${name}.bench.ts` : './all.ts', import.meta.url);
if (!/^[a-z0-9-]+$/.test(name) || !existsSync(file)) {
  const known = readdirSync(new URL('.', import.meta.url))
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.replace('.bench.ts', ''));
  process.stderr.write(`error: no bench named "${name}"; known: ${known.join(', ')}\n`);
  process.exit(1);
}
// The bench parses its own options from argv: hand it argv without the name.
process.argv = [process.argv[0] ?? 'node', file.pathname, ...(named ? rest : process.argv.slice(2))];
await import(file.href);
