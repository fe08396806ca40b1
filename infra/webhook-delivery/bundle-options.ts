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
