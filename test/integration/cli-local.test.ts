import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SummaryEntry } from '../../cli/commands/local.ts';
import { deliveryId } from '../../shared/domain/delivery.ts';
import { BIN, NODE, runCli, runCliInProcess, runProcess } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// `webhooks local` as a user runs it: the real bin in a child process, its whole
// pipeline on the emulators, delivering to a loopback receiver here.

let dir: string;
let receiver: Receiver;

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
  });
}

/** Runs `webhooks local` on these events and returns its summary. */
async function local(name: string, events: unknown[]): Promise<SummaryEntry[]> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(events));
  const result = await runCli(['local', '--event', file, '--timeout', '30']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SummaryEntry[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-local-'));
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('webhooks local', () => {
  it('prints one entry per delivery when the file holds the same event twice, and sends it once', async () => {
    const event = makeEventJson({
      detail: { workflow_run_id: 8001, nodes: [node('n1', '/twice'), node('off', '/off', { enabled: false })] },
    });
    const summary = await local('twice.json', [event, event]);
    expect(summary).toEqual([
      {
        delivery_id: deliveryId('42', 8001, 'n1'),
        node_id: 'n1',
        workflow_run_id: 8001,
        status: 'delivered',
        attempts: 1,
        last_status_code: 200,
        error: null,
      },
      {
        delivery_id: deliveryId('42', 8001, 'off'),
        node_id: 'off',
        workflow_run_id: 8001,
        status: 'skipped',
        attempts: 0,
        last_status_code: null,
        error: 'disabled in the workflow ("enabled": false): not sent, not recorded',
      },
    ]);
    expect(receiver.to('/twice')).toHaveLength(1);
  });

  it('waits for a node a later event fixed, and reports it delivered rather than its failed render', async () => {
    // The first event lacks the URL's value, so the node fails to render; the second brings it.
    const broken = node('n1', '/fixed/{{initial_context.account}}');
    const first = makeEventJson({ detail: { workflow_run_id: 8002, nodes: [broken] } });
    const second = makeEventJson({
      detail: { workflow_run_id: 8002, nodes: [broken], initial_context: { account: 'acme' } },
    });
    const summary = await local('fixed.json', [first, second]);
    expect(summary).toEqual([
      {
        delivery_id: deliveryId('42', 8002, 'n1'),
        node_id: 'n1',
        workflow_run_id: 8002,
        status: 'delivered',
        attempts: 1,
        last_status_code: 200,
        error: null,
      },
    ]);
    expect(receiver.to('/fixed/acme')).toHaveLength(1);
  });

  it('reports a node the last event still cannot render as failed, once', async () => {
    const broken = node('n1', '/never/{{initial_context.account}}');
    const event = makeEventJson({ detail: { workflow_run_id: 8003, nodes: [broken] } });
    const summary = await local('still-broken.json', [event, event]);
    expect(summary).toEqual([
      expect.objectContaining({
        node_id: 'n1',
        status: 'failed',
        attempts: 0,
        error: expect.stringContaining('{{initial_context.account}}'),
      }),
    ]);
  });

  it("prints its whole summary into a pipe read slowly, past the pipe's 64 KiB, and exits 0 by itself", async () => {
    // 400 disabled nodes are 400 summary entries (about 80 KB) without 400 requests; one is sent.
    const nodes = [
      node('sent', '/slow-pipe'),
      ...Array.from({ length: 400 }, (_, i) => node(`off-${i}`, '/off', { enabled: false })),
    ];
    const file = join(dir, 'slow-pipe.json');
    await writeFile(file, JSON.stringify(makeEventJson({ detail: { workflow_run_id: 8010, nodes } })));
    // As the report found it: a reader that starts late, behind a shell pipe. The exit code is the CLI's own.
    const out = join(dir, 'slow-pipe.out');
    const script = `"$0" "$1" local --event "$2" --timeout 60 2>"$3.err" | (sleep 4; cat > "$3"); echo \${PIPESTATUS[0]} > "$3.code"`;
    const shell = await runProcess('bash', ['-c', script, NODE, BIN, file, out], { timeoutMs: 110_000 });
    expect(shell.code, shell.stderr).toBe(0);
    const code = Number((await readFile(`${out}.code`, 'utf8')).trim());
    const stderr = await readFile(`${out}.err`, 'utf8');
    expect(code, stderr).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text.length, stderr).toBeGreaterThan(65_536);
    const summary = JSON.parse(text) as SummaryEntry[];
    expect(summary).toHaveLength(401);
    expect(summary[0]).toMatchObject({ node_id: 'sent', status: 'delivered' });
    expect(summary.filter((e) => e.status === 'skipped')).toHaveLength(400);
  }, 120_000);
});

describe('webhooks local --fail-on-any', () => {
  /** A loopback port nothing listens on: bound, then closed. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((done) => server.close(() => done()));
    return port;
  }

  it('exits 3 when a delivery failed, still printing the summary, whose error names host and port', async () => {
    const port = await closedPort();
    const event = makeEventJson({
      detail: {
        workflow_run_id: 8101,
        nodes: [
          node('ok', '/smoke'),
          makeNodeJson({
            id: 'refused',
            data: { endpoint_url: `http://127.0.0.1:${port}/hook`, credential_uuid: null, retry_config: null },
          }),
        ],
      },
    });
    const file = join(dir, 'smoke.json');
    await writeFile(file, JSON.stringify(event));
    const result = await runCliInProcess(['local', '--event', file, '--timeout', '30', '--fail-on-any']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toBe('1 of 2 deliveries failed (--fail-on-any)\n');
    const summary = JSON.parse(result.stdout) as SummaryEntry[];
    expect(summary.find((e) => e.node_id === 'ok')).toMatchObject({ status: 'delivered' });
    expect(summary.find((e) => e.node_id === 'refused')?.error).toContain(
      `POST http://127.0.0.1:${port}: connection failed (ECONNREFUSED)`,
    );
  });

  it('exits 0 when every delivery went out', async () => {
    const file = join(dir, 'smoke-ok.json');
    await writeFile(
      file,
      JSON.stringify(makeEventJson({ detail: { workflow_run_id: 8102, nodes: [node('ok', '/smoke-ok')] } })),
    );
    const result = await runCliInProcess(['local', '--event', file, '--timeout', '30', '--fail-on-any']);
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as SummaryEntry[])[0]).toMatchObject({ status: 'delivered' });
  });
});
