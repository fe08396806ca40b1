import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../cli/dev-server.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import { devStatePath } from '../../cli/target.ts';
import { errorLine, ROOT, runCli, runCliInProcess } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

async function waitForLine(lines: string[], pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find((l) => pattern.test(l));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm start, as a new user runs it', () => {
  it('starts the local stack, delivers the example event to the sample receiver, and stops cleanly', async () => {
    // Its own process group, so the test can press Ctrl-C the way a terminal does: to the whole group.
    const child: ChildProcessWithoutNullStreams = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      detached: true,
    });
    const lines: string[] = [];
    child.stdout.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
    child.stderr.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
    try {
      await waitForLine(lines, /webhooks dev is up/);
      expect(existsSync(join(ROOT, '.webhooks/dev.json'))).toBe(true);
      await waitForLine(lines, /sample receiver ← POST \/webhook\/dograh \(attempt 1/);
      await waitForLine(lines, /✓ delivered webhook-1 → 127\.0\.0\.1:8787 200/);
      await waitForLine(lines, /✓ delivered webhook-2 → 127\.0\.0\.1:8787 200/);
      expect(
        lines.some((l) => /skipped\s+webhook-3 whd_\w+: disabled in the workflow \("enabled": false\)/.test(l)),
      ).toBe(true);
    } finally {
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      process.kill(-child.pid!, 'SIGINT');
      await closed;
    }
    expect(existsSync(join(ROOT, '.webhooks/dev.json'))).toBe(false);
  }, 90_000);
});

// webhooks emit runs in this process through run(argv, io) (cli/main.ts), the function the bin calls.
describe('webhooks dev and webhooks emit', () => {
  let server: DevServer;
  let receiver: Receiver;
  let dir: string;
  const printed: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'webhooks-dev-'));
    receiver = await startReceiver();
    server = await startDevServer({
      port: 0,
      receiverPort: null,
      secrets: { 'webhooks/credentials/42/tok': { type: 'BEARER_TOKEN', token: 'dev-token' } },
      example: false,
      print: (line) => printed.push(line),
      color: false,
      statePath: join(dir, '.webhooks/dev.json'),
    });
  });

  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
  });

  async function eventFile(
    runId: number,
    nodes = [
      makeNodeJson({
        id: 'n1',
        data: { endpoint_url: `${receiver.origin}/run/${runId}`, credential_uuid: 'tok', retry_config: null },
      }),
    ],
  ) {
    const file = join(dir, `event-${runId}.json`);
    await writeFile(file, JSON.stringify(makeEventJson({ detail: { workflow_run_id: runId, nodes } })));
    return file;
  }

  it('writes a state file other commands find it by, and removes nothing while running', async () => {
    const state = JSON.parse(await readFile(join(dir, '.webhooks/dev.json'), 'utf8'));
    expect(state).toMatchObject({ pid: process.pid, intake: server.intake.endpoint, tableName: expect.any(String) });
  });

  it('takes an event from webhooks emit --endpoint and delivers it, showing one line', async () => {
    const result = await runCliInProcess(['emit', await eventFile(7001), '--endpoint', server.intake.endpoint]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^sent event 0 as [0-9a-f-]{36}\n$/);
    const [request] = await receiver.waitFor('/run/7001', 1);
    expect(request?.headers['authorization']).toBe('Bearer dev-token');
    await waitForLine(printed, /✓ delivered n1 → 127\.0\.0\.1:\d+ 200 .*attempt 1\/1/);
  });

  it('takes an event from webhooks emit --local, found from the state file, and prints its event id', async () => {
    const result = await runCliInProcess(['emit', await eventFile(7020), '--local', '--json'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ event: 0, event_id: expect.stringMatching(/^[0-9a-f-]{36}$/) }]);
    await receiver.waitFor('/run/7020', 1);
  });

  it('shows a duplicate event as dropped, not sent twice', async () => {
    const file = await eventFile(7002);
    await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint]);
    await receiver.waitFor('/run/7002', 1);
    await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint]);
    await waitForLine(printed, /= n1 already delivered: duplicate dropped/);
    expect(receiver.to('/run/7002')).toHaveLength(1);
  });

  it('works with the AWS SDK EventBridge client unchanged', async () => {
    const client = new EventBridgeClient({
      endpoint: server.intake.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const event = makeEventJson({
      detail: {
        workflow_run_id: 7003,
        nodes: [
          makeNodeJson({
            id: 'sdk',
            data: { endpoint_url: `${receiver.origin}/run/7003`, credential_uuid: null, retry_config: null },
          }),
        ],
      },
    });
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'dograh.workflows', DetailType: 'Workflow Run Completed', Detail: JSON.stringify(event.detail) },
          {
            Source: 'dograh.workflows',
            DetailType: 'Workflow Run Completed',
            Detail: '{}',
            EventBusName: 'someone-elses-bus',
          },
          { Source: 'dograh.workflows', DetailType: 'Workflow Run Completed', Detail: 'not json' },
        ],
      }),
    );
    client.destroy();
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.[0]?.EventId).toMatch(/[0-9a-f-]{36}/);
    expect(out.Entries?.[1]?.ErrorCode).toBe('ResourceNotFoundException');
    expect(out.Entries?.[2]?.ErrorCode).toBe('MalformedDetail');
    await receiver.waitFor('/run/7003', 1);
  });

  it('shows a malformed event as refused and keeps it in the render dead-letter queue', async () => {
    const client = new EventBridgeClient({
      endpoint: server.intake.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'dograh.workflows', DetailType: 'Workflow Run Completed', Detail: '{"workflow_run_id":"x"}' },
        ],
      }),
    );
    client.destroy();
    expect(await waitForLine(printed, /refused by the render function/)).toMatch(
      /kept in the render dead-letter queue.*detail\.workflow_run_id/,
    );
  });

  it('ignores events no rule matches, as EventBridge does', async () => {
    const file = join(dir, 'other.json');
    await writeFile(file, JSON.stringify(makeEventJson({ source: 'someone.else', detail: { workflow_run_id: 7004 } })));
    expect((await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint])).code).toBe(0);
    await waitForLine(printed, /matches no rule \(source someone\.else/);
  });

  it('refuses an event over 256 KB before sending, saying so', async () => {
    const file = join(dir, 'big.json');
    await writeFile(
      file,
      JSON.stringify(
        makeEventJson({ detail: { workflow_run_id: 7005, initial_context: { notes: 'x'.repeat(270_000) } } }),
      ),
    );
    const result = await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^error: ${file.replaceAll('.', '\\.')}: detail: the event is \\d+ bytes; EventBridge takes at most 262144`,
      ),
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a PutEvents request whose entries add up to more than 256 KB, as EventBridge does', async () => {
    const client = new EventBridgeClient({
      endpoint: server.intake.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const entry = (runId: number) => ({
      Source: 'dograh.workflows',
      DetailType: 'Workflow Run Completed',
      Detail: JSON.stringify(
        makeEventJson({
          detail: {
            workflow_run_id: runId,
            initial_context: { notes: 'x'.repeat(150_000) },
            nodes: [
              makeNodeJson({
                id: 'n1',
                data: { endpoint_url: `${receiver.origin}/run/${runId}`, credential_uuid: null, retry_config: null },
              }),
            ],
          },
        }).detail,
      ),
    });
    const error = await client
      .send(new PutEventsCommand({ Entries: [entry(7010), entry(7011)] }))
      .catch((e: unknown) => e);
    client.destroy();
    expect(error).toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.to('/run/7010')).toHaveLength(0);
  });

  it('sends events that together pass 256 KB in separate requests', async () => {
    const file = join(dir, 'two-large.json');
    const large = (runId: number) =>
      makeEventJson({
        detail: {
          workflow_run_id: runId,
          initial_context: { notes: 'x'.repeat(150_000) },
          nodes: [
            makeNodeJson({
              id: 'n1',
              data: { endpoint_url: `${receiver.origin}/run/${runId}`, credential_uuid: null, retry_config: null },
            }),
          ],
        },
      });
    await writeFile(file, JSON.stringify([large(7008), large(7009)]));
    const result = await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^sent event 0 as [0-9a-f-]{36}\nsent event 1 as [0-9a-f-]{36}\n$/);
    await receiver.waitFor('/run/7008', 1);
    await receiver.waitFor('/run/7009', 1);
  });

  it('refuses a bad event naming the file, the entry and the field, and sends none of the file', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify([
        makeEventJson({ detail: { workflow_run_id: 7006 } }),
        makeEventJson({ detail: { workflow_id: 'seven' } }),
      ]),
    );
    const result = await runCliInProcess(['emit', file, '--endpoint', server.intake.endpoint]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: ${file}: 1.detail.workflow_id: must be a number, not the text "seven"\n`);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.to('/run/7006')).toHaveLength(0);
  });
});

describe('webhooks dev options', () => {
  it.each(['0', 'five', '2.5'])(
    'refuses --circuit-threshold %s with one error line, before starting anything',
    async (value) => {
      const result = await runCliInProcess(['dev', '--circuit-threshold', value, '--no-example', '--no-receiver']);
      expect(errorLine(result)).toBe(
        `error: --circuit-threshold: expected a whole number of failures, 1 or more, got "${value}"`,
      );
    },
  );
});

describe('webhooks dev with a port taken', () => {
  // The real bin in a child: the hang was the process never ending (the emulators it had started kept it alive).
  it('exits 1 with one error line instead of hanging, leaving no state file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webhooks-dev-taken-'));
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await runCli(['dev', '--port', '0', '--receiver-port', String(port), '--no-example'], {
        cwd: dir,
        timeoutMs: 40_000,
      });
      expect(errorLine(result)).toMatch(
        new RegExp(
          `^error: a port is taken \\(.*EADDRINUSE.*:${port}\\): is another webhooks dev running\\? Pick others with --port / --receiver-port$`,
        ),
      );
      expect(existsSync(join(dir, '.webhooks/dev.json'))).toBe(false);
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the dev state file', () => {
  it('is at the checkout root from any folder inside it, and in the folder itself elsewhere', () => {
    expect(devStatePath(join(ROOT, 'cli', 'commands'))).toBe(join(ROOT, '.webhooks', 'dev.json'));
    expect(devStatePath(ROOT)).toBe(join(ROOT, '.webhooks', 'dev.json'));
    const elsewhere = join(tmpdir(), 'not-the-checkout');
    expect(devStatePath(elsewhere)).toBe(join(elsewhere, '.webhooks', 'dev.json'));
  });
});
