import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { devStatePath, writeDevState } from '../../cli/target.ts';
import { STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { errorLine, runCliInProcess, type Run } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { startFakeCloudFormation } from '../fixtures/fake-cloudformation.ts';

// `webhooks deliveries` against a local stack: through the `webhooks dev` state file (--local),
// and through CloudFormation outputs served by a loopback fake (the AWS path), the SDK pointed at
// the emulators by AWS_ENDPOINT_URL_*. Same pattern as cli-operations.test.ts.

let dir: string;
let stack: LocalStack;
let receiver: Receiver;
let cloudFormation: { origin: string; close(): Promise<void> };
let records: Map<string, DeliveryRecord>;
const RUN = 8123;
const STACK = 'DograhWebhooks-desk';

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

function awsEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.origin,
    AWS_ENDPOINT_URL_SQS: stack.sqsEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoEndpoint,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-deliveries-'));
  receiver = await startReceiver();
  receiver.on('/ok', () => ({ status: 200 }));
  receiver.on('/down', () => ({ status: 500, body: `{"error":"${'x'.repeat(200)}"}` }));
  stack = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000 });
  await writeDevState(
    {
      pid: process.pid,
      intake: 'http://127.0.0.1:9/',
      sqsEndpoint: stack.sqsEndpoint,
      dynamoEndpoint: stack.dynamoEndpoint,
      tableName: LOCAL_TABLE_NAME,
      busName: 'default',
      source: 'dograh.workflows',
      detailType: 'Workflow Run Completed',
      queues: stack.queues,
    },
    devStatePath(dir),
  );
  const nodes = [node('crm-with-a-very-long-node-id', '/ok'), node('billing', '/down')];
  const rendered = await stack.emit(
    makeEventJson({ detail: { workflow_run_id: RUN, organization_id: 42, workflow_id: 77, nodes } }),
  );
  // Another run of the same workflow, and one of another workflow: not listed for RUN.
  const other = await stack.emit(
    makeEventJson({
      detail: { workflow_run_id: RUN + 1, organization_id: 42, workflow_id: 78, nodes: [node('other', '/down')] },
    }),
  );
  const final = await stack.waitUntilFinal(
    [...rendered, ...other].map((r) => r.delivery_id),
    20_000,
  );
  records = new Map(final.map((r) => [`${r.workflow_run_id}/${r.node_id}`, r]));

  const outputs: Record<string, string> = {
    [STACK_OUTPUTS.outcomeTableName]: LOCAL_TABLE_NAME,
    [STACK_OUTPUTS.deliveryQueueUrl]: stack.queues.delivery.url,
    [STACK_OUTPUTS.deliveryQueueArn]: stack.queues.delivery.arn,
    [STACK_OUTPUTS.deadLetterQueueUrl]: stack.queues.deadLetter.url,
    [STACK_OUTPUTS.deadLetterQueueArn]: stack.queues.deadLetter.arn,
    [STACK_OUTPUTS.eventBusName]: 'default',
    [STACK_OUTPUTS.eventSource]: 'dograh.workflows',
    [STACK_OUTPUTS.eventDetailType]: 'Workflow Run Completed',
  };
  cloudFormation = await startFakeCloudFormation(new Map([[STACK, outputs]]));
}, 60_000);

afterAll(async () => {
  await cloudFormation?.close();
  await stack?.stop();
  await receiver?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('deliveries --run', () => {
  it('lists every delivery of the run in a table no wider than 100 columns', async () => {
    const result = await webhooks(['deliveries', '--run', String(RUN), '--local']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0]).toMatch(/^NODE\s+STATUS\s+ATT\s+CODE\s+ENDPOINT\s+DELIVERY ID$/);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
    const crm = records.get(`${RUN}/crm-with-a-very-long-node-id`)!;
    const billing = records.get(`${RUN}/billing`)!;
    expect(lines.find((l) => l.endsWith(crm.delivery_id))).toMatch(
      /^crm-with-a-very-l…\s+delivered\s+1\/\d+\s+200\s+127\.0\.0\.1:\d+\s+whd_/,
    );
    const billingRow = lines.findIndex((l) => l.endsWith(billing.delivery_id));
    expect(lines[billingRow]).toMatch(/^billing\s+failed\s+1\/1\s+500\s+127\.0\.0\.1:\d+\s+whd_/);
    // Its error on the line under it; none under the delivered one.
    expect(lines[billingRow + 1]).toBe(`  error: ${billing.last_error}`);
    expect(result.stdout).toMatch(/endpoint answered 500/);
    expect(result.stdout.match(/^ {2}error: /gm)).toHaveLength(1);
    expect(result.stdout).not.toContain(records.get(`${RUN + 1}/other`)!.delivery_id);
    expect(result.stdout).toMatch(
      /\n2 deliveries for run 8123 \(webhooks dev \(pid \d+\)\): (1 delivered, 1 failed|1 failed, 1 delivered)\n/,
    );
  });

  it('prints --json with stable types: organization id a string, workflow and run ids numbers', async () => {
    const result = await webhooks(['deliveries', '--run', String(RUN), '--local', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const entries = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(entries).toHaveLength(2);
    const billing = entries.find((e) => e['node_id'] === 'billing')!;
    expect(billing).toMatchObject({
      organization_id: '42',
      workflow_id: 77,
      workflow_run_id: RUN,
      status: 'failed',
      attempts: 1,
      max_attempts: 1,
      last_status_code: 500,
    });
    expect(billing['error']).toMatch(/^endpoint answered 500/);
    expect(entries.find((e) => e['node_id'] !== 'billing')).toMatchObject({
      status: 'delivered',
      last_status_code: 200,
      error: null,
    });
  });

  it('says so when the run has no deliveries', async () => {
    const result = await webhooks(['deliveries', '--run', '999999', '--local']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^no deliveries for run 999999 \(webhooks dev/);
  });

  it('works on the deployed stack found from its CloudFormation outputs', async () => {
    const result = await webhooks(['deliveries', '--run', String(RUN), '--stack', STACK, '--json'], awsEnv());
    expect(result.code, result.stderr).toBe(0);
    const ids = (JSON.parse(result.stdout) as { delivery_id: string }[]).map((e) => e.delivery_id).sort();
    expect(ids).toEqual(
      [
        records.get(`${RUN}/crm-with-a-very-long-node-id`)!.delivery_id,
        records.get(`${RUN}/billing`)!.delivery_id,
      ].sort(),
    );
  });
});

describe('deliveries --workflow --since', () => {
  it('lists every delivery of the workflow in the window, delivered and failed, in 100 columns', async () => {
    const result = await webhooks(['deliveries', '--workflow', '77', '--since', '1h', '--local']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0]).toMatch(/^\s*RUN\s+NODE\s+STATUS\s+ATT\s+CODE\s+DELIVERY ID$/);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
    const crm = records.get(`${RUN}/crm-with-a-very-long-node-id`)!;
    const billing = records.get(`${RUN}/billing`)!;
    expect(lines.find((l) => l.endsWith(crm.delivery_id))).toMatch(
      new RegExp(`^${RUN}\\s+crm-with-a-very-l…\\s+delivered\\s+1/\\d+\\s+200\\s+whd_`),
    );
    const billingRow = lines.findIndex((l) => l.endsWith(billing.delivery_id));
    expect(lines[billingRow]).toMatch(new RegExp(`^${RUN}\\s+billing\\s+failed\\s+1/1\\s+500\\s+whd_`));
    expect(lines[billingRow + 1]).toBe(`  error: ${billing.last_error}`);
    // Workflow 78's run is not listed for 77.
    expect(result.stdout).not.toContain(records.get(`${RUN + 1}/other`)!.delivery_id);
    expect(result.stdout).toMatch(
      /\n2 deliveries for workflow 77: (1 delivered, 1 failed|1 failed, 1 delivered)\ncreated between .* UTC \(webhooks dev \(pid \d+\)\)\n/,
    );
  });

  it('prints --json with stable types, newest first, locally and on the deployed stack', async () => {
    const local = await webhooks(['deliveries', '--workflow', '78', '--since', '1h', '--local', '--json']);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout)).toEqual([
      expect.objectContaining({
        delivery_id: records.get(`${RUN + 1}/other`)!.delivery_id,
        organization_id: '42',
        workflow_id: 78,
        workflow_run_id: RUN + 1,
        status: 'failed',
        attempts: 1,
        last_status_code: 500,
      }),
    ]);
    const aws = await webhooks(['deliveries', '--workflow', '77', '--stack', STACK, '--json'], awsEnv());
    expect(aws.code, aws.stderr).toBe(0);
    const entries = JSON.parse(aws.stdout) as { delivery_id: string; created_at: string; status: string }[];
    expect(entries.map((e) => e.delivery_id).sort()).toEqual(
      [
        records.get(`${RUN}/crm-with-a-very-long-node-id`)!.delivery_id,
        records.get(`${RUN}/billing`)!.delivery_id,
      ].sort(),
    );
    expect(entries[0]!.created_at >= entries[1]!.created_at).toBe(true);
    expect(entries.map((e) => e.status).sort()).toEqual(['delivered', 'failed']);
  });

  it('keeps to the window and the limit', async () => {
    const none = await webhooks(['deliveries', '--workflow', '77', '--since', '1h', '--until', '30m', '--local']);
    expect(none.stdout).toMatch(/^no deliveries for workflow 77 created between/);
    const one = await webhooks(['deliveries', '--workflow', '77', '--limit', '1', '--local']);
    expect(one.stdout).toMatch(/\n1 delivery for workflow 77: .*; the newest 1 shown, --limit shows more\n/);
  });
});

describe('deliveries with bad input', () => {
  it('names the flags', async () => {
    expect(errorLine(await webhooks(['deliveries', '--local']))).toBe(
      'error: deliveries: give exactly one of --run ID or --workflow ID (with --since)',
    );
    expect(errorLine(await webhooks(['deliveries', '--run', 'abc', '--local']))).toMatch(
      /^error: --run: expected a whole number/,
    );
    expect(errorLine(await webhooks(['deliveries', '--workflow', '7', '--since', 'soon', '--local']))).toMatch(
      /^error: --since: expected a duration/,
    );
  });
});
