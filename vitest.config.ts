import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A test that asserts nothing cannot fail: make that an error.
    expect: { requireAssertions: true },
  },
});
