import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esbuildOptions } from '../../infra/webhook-delivery/bundle-options.ts';

// What the deliver and render functions' bundles hold, from esbuild's metafile with the stack's own
// bundling options: the cold start of each function is the import of its bundle.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FUNCTIONS = ['deliver', 'render'] as const;
let out: string;
const metafiles = new Map<string, Metafile>();

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'function-bundles-'));
  for (const name of FUNCTIONS) {
    const result = await build({
      ...esbuildOptions(),
      entryPoints: [join(ROOT, `functions/${name}/handler.ts`)],
      outfile: join(out, `${name}.mjs`),
      write: false,
    });
    metafiles.set(name, result.metafile as Metafile);
  }
}, 120_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Our modules in the bundle that import `specifier` (as written in their source). */
function importersOf(meta: Metafile, specifier: string): string[] {
  return Object.entries(meta.inputs)
    .filter(([path, input]) => !path.includes('node_modules') && input.imports.some((i) => i.original === specifier))
    .map(([path]) => path)
    .sort();
}

describe.each(FUNCTIONS)('the %s bundle', (name) => {
  it('builds its schemas with zod/mini, never zod classic, slower to load and to build schemas with', () => {
    const meta = metafiles.get(name) as Metafile;
    expect(importersOf(meta, 'zod')).toEqual([]);
    expect(importersOf(meta, 'zod/mini').length).toBeGreaterThan(0);
  });

  it('holds its own config schema and no other function’s: each is built at import', () => {
    const meta = metafiles.get(name) as Metafile;
    const configs = Object.keys(meta.inputs).filter((path) => /^shared\/config\/.*-config\.ts$/.test(path));
    expect(configs).toEqual([`shared/config/${name}-config.ts`]);
  });
});
