import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCliInProcess, type Run } from '../fixtures/cli.ts';
import { makeEventJson } from '../fixtures/factories.ts';
import { writeDevState } from '../../cli/target.ts';

// `webhooks emit`'s mistakes, each one line with the fix: nothing here reaches AWS (no
// region or no credentials fail before a request; endpoints are loopback).

let dir: string;
let file: string;

function environment(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: dir,
    NO_COLOR: '1',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

function webhooks(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runCliInProcess(args, { cwd: dir, env: environment(env) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-emit-'));
  file = join(dir, 'event.json');
  await writeFile(file, JSON.stringify(makeEventJson({ detail: { workflow_run_id: 9001 } })));
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('webhooks emit with a mistake', () => {
  it('accepts only http and https endpoints', async () => {
    expect(errorLine(await webhooks(['emit', file, '--endpoint', 'ftp://127.0.0.1/x']))).toBe(
      'error: --endpoint: scheme ftp: is not allowed; expected an http or https URL such as http://127.0.0.1:4010',
    );
    expect(errorLine(await webhooks(['emit', file, '--endpoint', 'not a url']))).toBe(
      'error: --endpoint: "not a url" is not a URL; expected one like http://127.0.0.1:4010',
    );
  });

  it('asks whether webhooks dev is running when the intake refuses the connection', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((done) => server.close(() => done()));
    const line = errorLine(await webhooks(['emit', file, '--endpoint', `http://127.0.0.1:${port}`]));
    expect(line).toBe(
      `error: emit: cannot reach http://127.0.0.1:${port} (ECONNREFUSED): is webhooks dev running? Start it with "npm start" or "npx webhooks dev"`,
    );
  });

  it('says --local needs a running webhooks dev', async () => {
    expect(errorLine(await webhooks(['emit', file, '--local']))).toMatch(
      /^error: no webhooks dev is running from this folder \(.*dev\.json not found\): start it with "npm start"/,
    );
    expect(errorLine(await webhooks(['emit', file, '--local', '--endpoint', 'http://127.0.0.1:1']))).toMatch(
      /^error: --local: .* cannot be combined with --endpoint or --region$/,
    );
  });

  it('refuses, with --local, an event webhooks dev would ignore: nothing is sent', async () => {
    const state = join(dir, '.webhooks', 'dev.json');
    const other = join(dir, 'other-source.json');
    await writeFile(other, JSON.stringify({ ...makeEventJson(), source: 'dograh.workflow' }));
    await writeDevState(
      {
        pid: process.pid,
        // Nothing listens here: a refused event must not even try.
        intake: 'http://127.0.0.1:9/',
        sqsEndpoint: 'http://127.0.0.1:9/',
        dynamoEndpoint: 'http://127.0.0.1:9/',
        tableName: 't',
        busName: 'default',
        source: 'dograh.workflows',
        detailType: 'Workflow Run Completed',
        queues: {
          delivery: { url: 'http://127.0.0.1:9/q', arn: 'arn:aws:sqs:us-east-1:000000000000:q' },
          deadLetter: { url: 'http://127.0.0.1:9/d', arn: 'arn:aws:sqs:us-east-1:000000000000:d' },
          renderDeadLetter: { url: 'http://127.0.0.1:9/r', arn: 'arn:aws:sqs:us-east-1:000000000000:r' },
        },
      },
      state,
    );
    try {
      const result = await webhooks(['emit', other, '--local']);
      expect(result.stdout).toBe('');
      expect(errorLine(result)).toBe(
        `error: ${other}: source: "dograh.workflow": webhooks dev matches only "dograh.workflows"; an event that matches no rule is dropped without an error: not sent`,
      );
    } finally {
      await rm(state, { force: true });
    }
  });

  it('warns, sending to an endpoint, about an event the default rule would not match', async () => {
    const other = join(dir, 'other-type.json');
    await writeFile(other, JSON.stringify([makeEventJson(), { ...makeEventJson(), 'detail-type': 'Run Completed' }]));
    const result = await webhooks(['emit', other, '--endpoint', 'http://127.0.0.1:9']);
    expect(result.stderr.split('\n')[0]).toBe(
      `warning: ${other}: 1.detail-type: "Run Completed": the stack's rule matches "Workflow Run Completed" (unless it was deployed with -c detailType=...); an event that matches no rule is dropped without an error`,
    );
  });

  it('names a context file given instead of an event', async () => {
    const context = fileURLToPath(new URL('../../examples/context.json', import.meta.url));
    expect(errorLine(await webhooks(['emit', context, '--local']))).toBe(
      `error: ${context}: (root): this is a run's context (template variables, for render --context), not a run-completed event or its detail`,
    );
  });

  it('names the missing region, then the missing credentials, instead of a raw SDK error', async () => {
    expect(errorLine(await webhooks(['emit', file]))).toMatch(
      /^error: emit: no AWS region is set: pass --region, set AWS_REGION/,
    );
    expect(errorLine(await webhooks(['emit', file], { AWS_REGION: 'us-east-1' }))).toMatch(
      /^error: emit: no AWS credentials found: set AWS_PROFILE/,
    );
  });

  it('gives the same hints where the operations commands look for a deployed stack', async () => {
    expect(errorLine(await webhooks(['failures']))).toMatch(/^error: stack DograhWebhooks: no AWS region is set/);
    expect(errorLine(await webhooks(['failures'], { AWS_REGION: 'us-east-1' }))).toMatch(
      /^error: stack DograhWebhooks: no AWS credentials found/,
    );
  });
});
