import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STACK_NAME, STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { cdkJsonContext } from './synth-helpers.ts';

// Runs the CDK app the way `cdk synth` does (cdk.json's `node infra/app.ts`, with the context in
// CDK_CONTEXT_JSON and the output directory in CDK_OUTDIR), without AWS credentials. Bundling is
// skipped here; the stack test bundles both functions. Each run is a Node process of about 4.5 s of
// CPU (the synthesis), which on a busy shared machine took up to 72 s: hence the long timeouts.
function synthApp(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'webhooks-app-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CDK_OUTDIR: outdir,
    CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context }),
  };
  const result = spawnSync(process.execPath, ['infra/app.ts'], {
    cwd: new URL('../..', import.meta.url),
    env,
    encoding: 'utf8',
  });
  return { outdir, result };
}

describe('infra/app.ts', () => {
  it('synthesizes the stack with cdk-nag on, without credentials, with the CLI outputs', () => {
    const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { app: string };
    expect(cdkJson.app).toBe('node infra/app.ts');
    const { outdir, result } = synthApp({});
    try {
      expect(result.stderr).not.toMatch(/error/i);
      expect(result.status).toBe(0);
      const template = JSON.parse(readFileSync(join(outdir, `${DEFAULT_STACK_NAME}.template.json`), 'utf8')) as {
        Outputs: object;
      };
      expect(Object.keys(template.Outputs).sort()).toEqual(Object.values(STACK_OUTPUTS).sort());
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 180_000);

  it('takes its settings from context, e.g. -c allowPrivateEndpoints=true', () => {
    const { outdir, result } = synthApp({ allowPrivateEndpoints: 'true', stackName: 'Staging' });
    try {
      expect(result.status).toBe(0);
      const template = readFileSync(join(outdir, 'Staging.template.json'), 'utf8');
      expect(template).toContain('"ALLOW_PRIVATE_ENDPOINTS": "true"');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 180_000);

  it('fails with the bad context value named', () => {
    const { outdir, result } = synthApp({ deliverMaxConcurrency: 'lots' });
    rmSync(outdir, { recursive: true, force: true });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('context deliverMaxConcurrency must be a whole number, got "lots"');
  }, 180_000);

  it('names every bad value on its own error line, with no stack trace: an email that is not one, a bus that is not a name', () => {
    const { outdir, result } = synthApp({ alarmEmail: 'notanemail', eventBusName: 'my bus!', logLevel: 'loud' });
    rmSync(outdir, { recursive: true, force: true });
    expect(result.status).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toEqual([
      'error: context logLevel must be debug, info, warn or error, got "loud"',
      'error: context eventBusName must be an event bus name (letters, digits, . _ - /) or its ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME), got "my bus!"',
      'error: context alarmEmail must be an email address such as oncall@example.com, got "notanemail"',
    ]);
  }, 180_000);

  it('names a value the construct refuses (it parses, but cannot deploy) on an error line, with no stack trace', () => {
    const { outdir, result } = synthApp({ deliverMaxConcurrency: '1', requestTimeoutSeconds: '100' });
    rmSync(outdir, { recursive: true, force: true });
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n').filter((line) => line !== '')).toEqual([
      'error: deliverMaxConcurrency must be an integer from 2 to 1000 (SQS event source limits), got 1',
      'error: deliverTimeout (1 minute) must exceed requestTimeout (1 minute 40 seconds) by at least 10 seconds: after a request times out the function still records the outcome and settles the message',
    ]);
  }, 180_000);
});
