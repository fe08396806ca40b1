import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../cli/dev-server.ts';
import { deliveryId } from '../../shared/domain/delivery.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { ROOT, runProcess } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// The Dograh producer (integrations/dograh, Python) and the AWS CLI against `webhooks dev`, in-process:
// boto3 and `aws events put-events` talk to its PutEvents intake as they would to EventBridge, and each
// event must reach the receiver and be recorded as delivered in the outcome log.
const PRODUCER = join(ROOT, 'integrations/dograh');
/** python3 with boto3; .ci/run points this at Debian's when the python3 on PATH lacks it. */
const PYTHON = process.env['PRODUCER_PYTHON'] ?? 'python3';

let server: DevServer;
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-producer-'));
  receiver = await startReceiver();
  server = await startDevServer({
    port: 0,
    receiverPort: null,
    secrets: {},
    example: false,
    print: () => undefined,
    color: false,
    statePath: join(dir, '.webhooks/dev.json'),
  });
});

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
});

/** Fake credentials and the intake: nothing here ever reaches AWS. */
function awsEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    PYTHONDONTWRITEBYTECODE: '1',
    PRODUCER_INTAKE_ENDPOINT: server.intake.endpoint,
    PRODUCER_RECEIVER_ORIGIN: receiver.origin,
  };
}

async function expectDelivered(ids: readonly string[]): Promise<DeliveryRecord[]> {
  const records = await server.stack.waitUntilFinal(ids, 60_000);
  expect(records.map((r) => [r.delivery_id, r.status, r.last_status_code])).toEqual(
    ids.map((id) => [id, 'delivered', 200]),
  );
  return records;
}

describe('the Dograh producer (Python)', () => {
  it('passes its unit tests', async () => {
    const result = await runProcess(PYTHON, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: PRODUCER,
      env: awsEnv(),
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^Ran \d+ tests in .*\n\nOK\n$/m);
  }, 150_000);

  it('publishes with the real boto3 client into webhooks dev, and every event is delivered', async () => {
    const result = await runProcess(PYTHON, ['-m', 'unittest', '-v', 'tests.e2e_intake'], {
      cwd: PRODUCER,
      env: awsEnv(),
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Ran 4 tests/);

    // The completion handler's run: both webhook nodes, rendered from the detail it built.
    const [a] = await receiver.waitFor('/producer/9101/a', 1, 60_000);
    await receiver.waitFor('/producer/9101/b', 1, 60_000);
    const links = 'https://dograh.example.com/api/v1/public/download/workflow/tok-abc';
    expect(JSON.parse(a!.body)).toEqual({
      run: '9101',
      recording: `${links}/recording`,
      user: `${links}/user_recording`,
      campaign: '9',
      call_disposition: 'resolved',
    });
    expect(a!.headers['x-dograh-delivery-id']).toBe(deliveryId('42', 9101, 'a'));
    // Eleven runs in two PutEvents requests, and the run whose workflow was cut to its webhook nodes.
    const batch = Array.from({ length: 11 }, (_, i) => 9200 + i);
    for (const run of batch) await receiver.waitFor(`/producer/batch/${run}`, 1, 60_000);
    await receiver.waitFor('/producer/cut/9301', 1, 60_000);
    const records = await expectDelivered([
      deliveryId('42', 9101, 'a'),
      deliveryId('42', 9101, 'b'),
      ...batch.map((run) => deliveryId('42', run, 'n')),
      deliveryId('42', 9301, 'n'),
    ]);
    // The handler's nodes carry Dograh's own retry policy (5 attempts); the publisher's, sent as they are, one.
    expect(records.map((r) => r.max_attempts)).toEqual([5, 5, ...batch.map(() => 1), 1]);
  }, 150_000);
});

describe('the AWS CLI', () => {
  it('aws events put-events --endpoint-url into webhooks dev is delivered', async () => {
    const node = makeNodeJson({
      id: 'cli',
      data: { endpoint_url: `${receiver.origin}/producer/cli/9401`, credential_uuid: null, retry_config: null },
    });
    const detail = makeEventJson({ detail: { workflow_run_id: 9401, nodes: [node] } }).detail;
    const entries = join(dir, 'entries.json');
    await writeFile(
      entries,
      JSON.stringify([
        { Source: 'dograh.workflows', DetailType: 'Workflow Run Completed', Detail: JSON.stringify(detail) },
      ]),
    );
    const result = await runProcess(
      'aws',
      [
        'events',
        'put-events',
        '--endpoint-url',
        server.intake.endpoint,
        '--entries',
        `file://${entries}`,
        '--output',
        'json',
      ],
      {
        env: awsEnv(),
        timeoutMs: 120_000,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { FailedEntryCount: number; Entries: { EventId?: string }[] };
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    await receiver.waitFor('/producer/cli/9401', 1, 60_000);
    await expectDelivered([deliveryId('42', 9401, 'cli')]);
  }, 150_000);
});
