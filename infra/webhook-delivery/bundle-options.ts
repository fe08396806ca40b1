import type { BuildOptions } from 'esbuild';

/**
 * How the stack's functions are bundled, as plain values: `function-builder.ts` turns them into
 * CDK bundling options and `bench/cold.bench.ts` into esbuild's own, so the cold-start bench
 * measures the very bundles the stack deploys without loading aws-cdk-lib.
 */
export const FUNCTION_BUNDLE = {
  target: 'node24',
  platform: 'node',
  mainFields: ['module', 'main'],
  minify: true,
  // Some CommonJS dependencies call require() for Node built-ins, which an ES module lacks.
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
} as const;

/**
 * FUNCTION_BUNDLE as esbuild's own options (what the CDK's NodejsFunction passes to esbuild:
 * ESM, no source map, nothing external), for the cold-start bench and the bundle tests.
 */
export function esbuildOptions(): BuildOptions {
  return {
    bundle: true,
    format: 'esm',
    platform: FUNCTION_BUNDLE.platform,
    target: FUNCTION_BUNDLE.target,
    mainFields: [...FUNCTION_BUNDLE.mainFields],
    minify: FUNCTION_BUNDLE.minify,
    sourcemap: false,
    external: [],
    banner: { js: FUNCTION_BUNDLE.banner },
    logLevel: 'warning',
    metafile: true,
  };
}
