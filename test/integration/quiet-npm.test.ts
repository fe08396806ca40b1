import { describe, expect, it } from 'vitest';
import { runProcess } from '../fixtures/cli.ts';

// Issue 12 item 9: npm on an older system Node warns EBADENGINE about packages that only ever run
// on the pinned Node 24, and on a fresh machine boxes in its own update notice. The project's
// .npmrc keeps both out of `npm ci` and `npx webhooks`; this reads npm's effective settings there.
describe('npm in this checkout', () => {
  it('prints errors only and no update notice', async () => {
    const result = await runProcess('npm', ['config', 'get', 'loglevel', 'update-notifier']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      'loglevel=error',
      'update-notifier=false',
    ]);
  });
});
