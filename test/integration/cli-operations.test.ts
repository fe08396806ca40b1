// Over 400 lines on purpose: every command here reads the same failures, set up once on one local stack;
// a file per command would start a stack and repeat that setup for each.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { devStatePath, writeDevState } from '../../cli/target.ts';
import { STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { OUTCOME_TABLE } from '../../shared/adapters/outcome-table-layout.ts';
import { deliveryId, type DeliveryMessage } from '../../shared/domain/delivery.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import type { AttemptRecord, DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { describeStacks } from '../fixtures/fake-cloudformation.ts';
import { errorLine, runCli, runCliInProcess, type Run } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { fakeServer } from '../fixtures/fake-aws-server.ts';

// The operations commands (failures, inspect, redrive, replay) run against a local stack
// started here: through the `webhooks dev` state file (--local), and through CloudFormation
// outputs served by a loopback fake (the AWS path), with the SDK pointed at the emulators by
// AWS_ENDPOINT_URL_*. They run in this process through run(argv, io) (cli/main.ts), the
// function the bin calls; one AWS-path test runs the real bin in a child process, as an
// operator runs it.

let dir: string;
let stack: LocalStack;
let receiver: Receiver;
let nextRun = 7000;

/** Runs `webhooks ...` in the temp folder, with no AWS config of this machine in reach. */
function webhooks(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runCliInProcess(args, { cwd: dir, env: { ...environment(), ...env } });
}

/** The same, as the real bin in a child process. */
function webhooksBin(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { cwd: dir, env: { ...environment(), ...env }, timeoutMs: 30_000 });
}

function environment(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: dir,
    NO_COLOR: '1',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function json<T>(result: Run): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
  });
}

/** Emits one run and waits until its deliveries are final; returns their records by node id. */
async function run(nodes: NodeJson[], detail: Record<string, unknown> = {}): Promise<Map<string, DeliveryRecord>> {
  const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: nextRun++, nodes, ...detail } }));
  const records = await stack.waitUntilFinal(
    rendered.map((r) => r.delivery_id),
    15_000,
  );
  return new Map(records.map((r) => [r.node_id, r]));
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether the delivery queue holds no message, visible or in flight: everything redriven was handled. */
async function deliveryQueueDrained(): Promise<boolean> {
  const { Attributes = {} } = await stack.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: stack.queues.delivery.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Attributes.ApproximateNumberOfMessages === '0' && Attributes.ApproximateNumberOfMessagesNotVisible === '0';
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-ops-'));
  receiver = await startReceiver();
  stack = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000 });
  // What `webhooks dev` writes; this process is the one that counts as running.
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
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('redrive with an empty dead-letter queue', () => {
  it('says there is nothing to move and exits 0', async () => {
    const result = await webhooks(['redrive', '--local']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^nothing to redrive: the dead-letter queue is empty/);
  });
});

describe('with failures on record', () => {
  const DOWN_BODY = '{"error":"database down"}';
  let a: DeliveryRecord;
  let b: DeliveryRecord;
  let badNode: DeliveryRecord;
  let old: DeliveryMessage;
  const LONG_ERROR = `endpoint answered 500: ${'x'.repeat(150)} END`;

  beforeAll(async () => {
    receiver.on('/down', () => ({ status: 500, body: DOWN_BODY }));
    const first = await run(
      [node('crm', '/down'), node('broken', '/down', { endpoint_url: 'https://crm.example.com/{{missing}}' })],
      {
        organization_id: 42,
        workflow_id: 77,
      },
    );
    a = first.get('crm')!;
    badNode = first.get('broken')!;
    b = (await run([node('billing', '/down')], { organization_id: 43, workflow_id: 88 })).get('billing')!;
    // A failure three days old, written as the deliver function would have then.
    const oldMs = Date.now() - 3 * 86_400_000;
    old = {
      v: 1,
      delivery_id: deliveryId('42', 6000, 'old'),
      organization_id: '42',
      workflow_id: 77,
      workflow_run_id: 6000,
      node_id: 'old',
      node_name: 'Old hook',
      method: 'POST',
      url: `${receiver.origin}/down`,
      headers: {},
      body: '{}',
      credential_uuid: null,
      retry: { max_attempts: 1, backoff: 'exponential', initial_delay_seconds: 30, max_delay_seconds: 3600 },
      rendered_at: new Date(oldMs).toISOString(),
    };
    await stack.store.claim(old, oldMs, 60_000);
    await stack.store.recordAttempt(
      old,
      {
        attempt: 1,
        at: new Date(oldMs).toISOString(),
        duration_ms: 31,
        status_code: 500,
        error_class: 'http_transient',
        error_message: LONG_ERROR,
        response_snippet: null,
      },
      { status: 'failed' },
      oldMs,
    );
  });

  describe('failures', () => {
    it('lists the recent failures in a table of 100 columns, whose and why on the line under each row', async () => {
      const result = await webhooks(['failures', '--local']);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines[0]).toMatch(/^TIME \(UTC\)\s+RUN\s+NODE\s+CODE\s+ATT\s+DELIVERY ID$/);
      for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
      const rowAt = (id: string) => lines.findIndex((line) => line.endsWith(id));
      const host = new URL(receiver.origin).host;
      expect(lines[rowAt(a.delivery_id)]).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+${a.workflow_run_id}\\s+crm\\s+500\\s+1/1\\s+${a.delivery_id}$`,
        ),
      );
      expect(lines[rowAt(a.delivery_id) + 1]).toMatch(
        new RegExp(`^  org 42 · workflow 77 · ${host.replace(/\./g, '\\.')} · endpoint answered 500`),
      );
      expect(lines[rowAt(b.delivery_id) + 1]).toMatch(/^ {2}org 43 · workflow 88 · /);
      // A node that never rendered has no status code and no attempt.
      expect(lines[rowAt(badNode.delivery_id)]).toMatch(/\s+-\s+0\/1\s+whd_/);
      expect(lines[rowAt(badNode.delivery_id) + 1]).toMatch(
        /^ {2}org 42 · workflow 77 · crm\.example\.com · cannot render: /,
      );
      expect(result.stdout).not.toContain(old.delivery_id);
      expect(result.stdout).toMatch(/\n3 failures between .* UTC \(webhooks dev \(pid \d+\)\)\n/);
    });

    it('prints the full error and every field with --json, and reaches older failures with --since', async () => {
      const entries = json<Record<string, unknown>[]>(
        await webhooks(['failures', '--local', '--since', '7d', '--json']),
      );
      expect(entries.map((e) => e['delivery_id'])).toEqual(
        expect.arrayContaining([a.delivery_id, b.delivery_id, badNode.delivery_id, old.delivery_id]),
      );
      expect(entries).toHaveLength(4);
      // Newest first: the three-day-old one comes last.
      expect(entries.at(-1)).toEqual({
        final_at: expect.any(String),
        organization_id: '42',
        workflow_id: 77,
        workflow_run_id: 6000,
        node_id: 'old',
        node_name: 'Old hook',
        method: 'POST',
        endpoint_host: receiver.origin,
        status_code: 500,
        error: LONG_ERROR,
        attempts: 1,
        max_attempts: 1,
        delivery_id: old.delivery_id,
        replayable: true,
        reconciled: 0,
        stranded: false,
        circuit: null,
      });
      expect(entries.find((e) => e['delivery_id'] === badNode.delivery_id)).toMatchObject({
        status_code: null,
        attempts: 0,
        replayable: false,
      });
    });

    it('cuts a long error in the table', async () => {
      const result = await webhooks(['failures', '--local', '--since', '7d']);
      const lines = result.stdout.split('\n');
      const row = lines[lines.findIndex((line) => line.endsWith(old.delivery_id)) + 1] ?? '';
      expect(row.length).toBe(100);
      expect(row).toContain('endpoint answered 500: xxx');
      expect(row).toContain('…');
      expect(row).not.toContain('END');
    });

    it('filters by organization with --org and by workflow with --workflow', async () => {
      const [byOrg, byWorkflow] = await Promise.all([
        webhooks(['failures', '--local', '--org', '43', '--json']),
        webhooks(['failures', '--local', '--since', '7d', '--workflow', '77', '--json']),
      ]);
      expect(json<{ delivery_id: string }[]>(byOrg).map((e) => e.delivery_id)).toEqual([b.delivery_id]);
      expect(
        json<{ delivery_id: string }[]>(byWorkflow)
          .map((e) => e.delivery_id)
          .sort(),
      ).toEqual([a.delivery_id, badNode.delivery_id, old.delivery_id].sort());
    });

    it('keeps the newest with --limit', async () => {
      const entries = json<{ delivery_id: string }[]>(
        await webhooks(['failures', '--local', '--since', '7d', '--limit', '3', '--json']),
      );
      expect(entries).toHaveLength(3);
      expect(entries.map((e) => e.delivery_id)).not.toContain(old.delivery_id);
    });

    it('says so when a window holds no failure, and exits 3 with --fail-on-any only when it finds some', async () => {
      const [empty, found] = await Promise.all([
        webhooks(['failures', '--local', '--since', '2020-01-01', '--until', '2020-01-02T00:00:00Z', '--fail-on-any']),
        webhooks(['failures', '--local', '--fail-on-any']),
      ]);
      expect(empty.code).toBe(0);
      expect(empty.stdout).toMatch(/^no failures between 2020-01-01 00:00:00 and 2020-01-02 00:00:00 UTC/);
      expect(found.code).toBe(3);
      expect(found.stdout).toContain(a.delivery_id);
    });

    it('refuses a bad --since, --limit or --workflow, naming the flag', async () => {
      const [since, limit, workflow, decades] = await Promise.all([
        webhooks(['failures', '--local', '--since', 'yesterday']),
        webhooks(['failures', '--local', '--limit', 'ten']),
        webhooks(['failures', '--local', '--workflow', '7x']),
        webhooks(['failures', '--local', '--since', '1990-01-01']),
      ]);
      expect(errorLine(since, 1)).toMatch(
        /^error: --since: expected a duration back from now \(30m, 24h, 7d\) or an ISO time .*got "yesterday"$/,
      );
      expect(errorLine(decades, 1)).toMatch(
        /^error: --since: a window across all organizations may span at most \d+ days$/,
      );
      expect(errorLine(limit, 1)).toMatch(/^error: --limit: /);
      expect(errorLine(workflow, 1)).toMatch(/^error: --workflow: /);
    });
  });

  describe('inspect', () => {
    it('lists the placeholders that rendered empty, and why', async () => {
      const records = await run(
        [
          node('empty-values', '/ops/empty', {
            payload_template: { a: '{{initial_context.nope}}', b: '{{recording_url}}' },
          }),
        ],
        { recording_url: null },
      );
      const result = await webhooks(['inspect', records.get('empty-values')?.delivery_id ?? '', '--local']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(
        "  empty values data.payload_template: {{initial_context.nope}} is missing from the run's context\n",
      );
      expect(result.stdout).toContain(
        "               data.payload_template: {{recording_url}} is null in the run's context\n",
      );
    });

    it('tells the story of a failed delivery: who, where, attempts, and what to do next', async () => {
      const result = await webhooks(['inspect', a.delivery_id, '--local']);
      expect(result.code, result.stderr).toBe(0);
      const out = result.stdout;
      expect(out.split('\n')[0]).toBe(`delivery ${a.delivery_id}  failed`);
      expect(out).toMatch(
        /\n {2}organization 42\n {2}workflow {5}77\n {2}run {10}\d+\n {2}node {9}crm \(Notify CRM\)\n/,
      );
      expect(out).toContain(`  request      POST ${receiver.origin}\n`);
      expect(out).toContain('  attempts     1 of 1\n');
      expect(out).toMatch(/ {2}last error {3}endpoint answered 500/);
      expect(out).toContain(`webhooks replay ${a.delivery_id} --local`);
      expect(out).toMatch(/#\s+TIME \(UTC\)\s+DURATION\s+CODE\s+CLASS\n/);
      expect(out).toMatch(
        /\n {2}1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+ ms\s+500\s+http_transient\n {5}endpoint answered 500[^\n]*\n {5}response: \{"error":"database down"\}\n/,
      );
    });

    it('prints the record with --json, with the attempt timeline but without the kept request itself', async () => {
      const record = json<Record<string, unknown>>(await webhooks(['inspect', a.delivery_id, '--local', '--json']));
      expect(record).toMatchObject({
        delivery_id: a.delivery_id,
        status: 'failed',
        organization_id: '42',
        node_id: 'crm',
        attempts: 1,
        max_attempts: 1,
        last_status_code: 500,
        replayed_at: [],
        request_kept: true,
      });
      expect(record['attempt_log']).toEqual([
        expect.objectContaining({
          attempt: 1,
          status_code: 500,
          error_class: 'http_transient',
          response_snippet: DOWN_BODY,
        }),
      ]);
      expect(record).not.toHaveProperty('request');
    });

    it('keeps every line within 100 columns for long values, wrapping them, with the cut texts whole in --json', async () => {
      // Written to the store as the deliver function would have, for a host that is never dialled.
      const host = `https://${'customer-relationship-management.'.repeat(3)}example.com:8443`;
      const reason = `endpoint answered 503: ${Array.from({ length: 40 }, (_, i) => `reason-${i}`).join(' ')}`;
      const body = JSON.stringify({ error: 'upstream unavailable', detail: 'x'.repeat(400) });
      const field = `data.payload_template.${'nested.'.repeat(6)}value`;
      const long: DeliveryMessage = {
        ...old,
        delivery_id: deliveryId('44', 6001, 'long'),
        organization_id: '44',
        workflow_run_id: 6001,
        node_id: 'notify-the-crm-of-the-completed-call',
        node_name: `Notify ${'the CRM of the call '.repeat(5)}end`,
        url: `${host}/hooks/${'segment/'.repeat(20)}?token=s3cret`,
        retry: { max_attempts: 2, backoff: 'fixed', initial_delay_seconds: 1, max_delay_seconds: 1 },
        empty_placeholders: [{ field, placeholder: '{{initial_context.nope}}', reason: 'missing' }],
      };
      const nowMs = Date.now();
      const attempt = (n: number, fields: Partial<AttemptRecord> = {}): AttemptRecord => ({
        attempt: n,
        at: new Date(nowMs + n * 1000).toISOString(),
        duration_ms: 1200,
        status_code: 503,
        error_class: 'http_transient',
        error_message: reason,
        response_snippet: body,
        ...fields,
      });
      const refused = `endpoint answered 401: ${reason}`;
      await stack.store.claim(long, nowMs, 60_000);
      await stack.store.recordAttempt(long, attempt(1), { status: 'retrying', atMs: nowMs + 2_000 }, nowMs + 1_500);
      await stack.store.claim(long, nowMs + 2_000, 60_000);
      await stack.store.recordAttempt(
        long,
        attempt(2, {
          status_code: 401,
          error_class: 'http_permanent',
          error_message: refused,
          resent_after_status: 401,
        }),
        { status: 'failed' },
        nowMs + 3_000,
      );

      const result = await webhooks(['inspect', long.delivery_id, '--local']);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
      // A field's value wraps under itself: read whole again, nothing is lost.
      const value = (name: string, joiner: string) => {
        const start = lines.findIndex((line) => line.startsWith(`  ${name.padEnd(13)}`));
        expect(start, name).toBeGreaterThan(0);
        const rest = lines.slice(start + 1);
        const end = rest.findIndex((line) => !line.startsWith(' '.repeat(15)));
        return [lines[start], ...rest.slice(0, end)].map((line) => line?.slice(15)).join(joiner);
      };
      expect(value('request', '')).toBe(`POST ${host}`);
      expect(value('node', ' ')).toBe(`${long.node_id} (${long.node_name})`);
      expect(value('last error', ' ')).toBe(refused);
      expect(value('empty values', ' ')).toBe(`${field}: {{initial_context.nope}} is missing from the run's context`);
      expect(value('what next', ' ')).toBe(
        `the endpoint refused the credential (401): update the secret or the endpoint's keys, then: webhooks replay ${long.delivery_id} --local (or webhooks redrive --local)`,
      );
      // The timeline: a row per attempt, its message and response under it, cut past a few lines.
      const row = (n: number) => lines.findIndex((line) => line.startsWith(`  ${n}  `));
      expect(lines[row(1)]).toMatch(/^ {2}1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+1\.2 s\s+503\s+http_transient$/);
      const under1 = lines.slice(row(1) + 1, row(2));
      expect(under1[0]).toMatch(/^ {5}endpoint answered 503: reason-0 reason-1 /);
      expect(under1.filter((line) => line.startsWith('     response: {"error":"upstream unavailable"'))).toHaveLength(
        1,
      );
      expect(under1.filter((line) => line.endsWith('…'))).toHaveLength(2);
      expect(lines[row(2)]).toMatch(/\s+401\s+http_permanent$/);
      expect(lines[row(2) + 1]).toMatch(/^ {5}resent after 401 \(cached credential refused\); endpoint answered 401: /);
      const record = json<{ attempt_log: AttemptRecord[] }>(
        await webhooks(['inspect', long.delivery_id, '--local', '--json']),
      );
      expect(record.attempt_log.map((a) => [a.error_message, a.response_snippet])).toEqual([
        [reason, body],
        [refused, body],
      ]);
    });

    it('says how to fix a delivery that never rendered', async () => {
      const result = await webhooks(['inspect', badNode.delivery_id, '--local']);
      expect(result.stdout).toContain('it never reached the endpoint: fix the node, then emit its run again');
      expect(result.stdout).toContain('(none: it never reached the wire)');
    });

    it('exits 2 with one error line for an unknown delivery', async () => {
      const result = await webhooks(['inspect', 'whd_00000000000000000000000000000000', '--local']);
      expect(errorLine(result, 2)).toMatch(/^error: delivery whd_0{32} not found in webhooks dev \(pid \d+\)$/);
    });

    it('exits 1 naming the state file when no webhooks dev runs in the folder', async () => {
      const elsewhere = await mkdtemp(join(tmpdir(), 'webhooks-nodev-'));
      try {
        const result = await runCliInProcess(['inspect', a.delivery_id, '--local'], {
          cwd: elsewhere,
          env: { PATH: process.env['PATH'] ?? '' },
        });
        expect(errorLine(result, 1)).toMatch(
          /no webhooks dev is running from this folder .*\.webhooks\/dev\.json not found/,
        );
      } finally {
        await rm(elsewhere, { recursive: true, force: true });
      }
    });
  });

  describe('replay', () => {
    it('sends a failed delivery again as a new series under the same id, and --wait reports it delivered', async () => {
      let fixed = false;
      receiver.on('/replay', () => (fixed ? { status: 200 } : { status: 500 }));
      const failed = (await run([node('replay-me', '/replay')])).get('replay-me')!;
      expect(failed.status).toBe('failed');
      fixed = true;

      const result = await webhooks(['replay', failed.delivery_id, '--local', '--wait']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(
        new RegExp(
          `^replayed ${failed.delivery_id}: a new series of attempts opened at .* UTC; request sent to the delivery queue \\(POST ${receiver.origin}\\)\n`,
        ),
      );
      expect(result.stdout).toMatch(/\ndelivered after 1 attempt, HTTP 200\n$/);

      const requests = receiver.to('/replay');
      expect(requests).toHaveLength(2);
      expect(requests.map((r) => r.headers['x-dograh-delivery-id'])).toEqual([failed.delivery_id, failed.delivery_id]);
      expect(requests.map((r) => r.headers['x-dograh-delivery-attempt'])).toEqual(['1', '1']);
      expect(requests[1]?.body).toBe(requests[0]?.body);

      const record = await stack.store.get(failed.delivery_id);
      expect(record).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(record?.attempt_log.map((x) => x.status_code)).toEqual([500, 200]);
      expect(record?.replayed_at).toHaveLength(1);
      // Delivered: nothing is left to replay, so the kept request is gone.
      expect(record?.request).toBeNull();

      const story = await webhooks(['inspect', failed.delivery_id, '--local']);
      expect(story.stdout).toMatch(
        / 500 .*\n\s+-- new series of attempts from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(replay or redrive\) --\n\s+1\s+.* 200 /,
      );
    });

    it('returns at once without --wait, printing JSON for scripts, and the delivery goes on', async () => {
      let fixed = false;
      receiver.on('/replay-nowait', () => (fixed ? { status: 204 } : { status: 502 }));
      const failed = (await run([node('nowait', '/replay-nowait')])).get('nowait')!;
      fixed = true;
      const result = json<Record<string, unknown>>(await webhooks(['replay', failed.delivery_id, '--local', '--json']));
      expect(result).toMatchObject({
        delivery_id: failed.delivery_id,
        status: 'pending',
        attempts: 0,
        replayed_at: expect.stringMatching(/^\d{4}-/),
      });
      const [final] = await stack.waitUntilFinal([failed.delivery_id], 10_000);
      expect(final).toMatchObject({ status: 'delivered', last_status_code: 204 });
    });

    it('exits 1 when the replayed delivery fails again', async () => {
      receiver.on('/still-down', () => ({ status: 503 }));
      const failed = (await run([node('still-down', '/still-down')])).get('still-down')!;
      const result = await webhooks(['replay', failed.delivery_id, '--local', '--wait']);
      expect(result.stdout).toMatch(/\nfailed after 1 attempt, HTTP 503\n$/);
      expect(errorLine(result, 1)).toMatch(
        new RegExp(`^error: delivery ${failed.delivery_id} failed again: endpoint answered 503`),
      );
      expect(receiver.to('/still-down')).toHaveLength(2);
    });

    it('says a delivered delivery is already delivered (exit 0, nothing sent); refuses one that never rendered and an unknown one', async () => {
      const delivered = (await run([node('fine', '/fine')])).get('fine')!;
      expect(delivered.status).toBe('delivered');
      const [ok, okJson, bad, unknown] = await Promise.all([
        webhooks(['replay', delivered.delivery_id, '--local', '--wait']),
        webhooks(['replay', delivered.delivery_id, '--local', '--json']),
        webhooks(['replay', badNode.delivery_id, '--local']),
        webhooks(['replay', 'whd_ffffffffffffffffffffffffffffffff', '--local']),
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(
        new RegExp(
          `^delivery ${delivered.delivery_id} is already delivered \\(.* UTC, attempt 1/1, HTTP 200\\): nothing to send again\\n$`,
        ),
      );
      expect(json(okJson)).toEqual({
        delivery_id: delivered.delivery_id,
        replayed_at: null,
        status: 'delivered',
        attempts: 1,
        last_status_code: 200,
        error: null,
      });
      expect(errorLine(bad, 1)).toMatch(
        /never rendered, so there is no request to send again \(cannot render: .*\): fix the node and emit its run again$/,
      );
      expect(errorLine(unknown, 2)).toMatch(/^error: delivery whd_f{32} not found/);
      // Refusals change nothing.
      expect(receiver.to('/fine')).toHaveLength(1);
      expect((await stack.store.get(badNode.delivery_id))?.replayed_at).toEqual([]);
    });
  });

  describe('on a deployed stack, found from its CloudFormation outputs', () => {
    const STACK = 'DograhWebhooks-test';
    /** Stack name to outputs, as the fake CloudFormation serves them. */
    const stacks = new Map<string, Record<string, string>>();
    let cloudFormation: Awaited<ReturnType<typeof fakeServer>>;
    let awsEnv: Record<string, string>;

    beforeAll(async () => {
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
      stacks.set(STACK, outputs);
      cloudFormation = await fakeServer((_, body, response) =>
        describeStacks(new URLSearchParams(body), stacks, response),
      );
      awsEnv = {
        AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.origin,
        AWS_ENDPOINT_URL_SQS: stack.sqsEndpoint,
        AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoEndpoint,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
      };
    });

    afterAll(async () => {
      await cloudFormation?.close();
    });

    it('lists failures from the table the stack outputs name', async () => {
      const entries = json<{ delivery_id: string }[]>(
        await webhooksBin(['failures', '--stack', STACK, '--org', '43', '--json'], awsEnv),
      );
      expect(entries.map((e) => e.delivery_id)).toEqual([b.delivery_id]);
      const described = cloudFormation.bodies.map((r) => new URLSearchParams(r.body));
      expect(described.some((p) => p.get('Action') === 'DescribeStacks' && p.get('StackName') === STACK)).toBe(true);
    });

    it('inspects a delivery', async () => {
      const result = await webhooks(['inspect', b.delivery_id, '--stack', STACK], awsEnv);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^delivery ${b.delivery_id} {2}failed\n {2}organization 43\n`));
      expect(result.stdout).toContain(`webhooks replay ${b.delivery_id} --stack ${STACK}`);
    });

    it('names the stack when it cannot be read', async () => {
      const result = await webhooks(['failures', '--stack', 'NoSuchStack'], awsEnv);
      expect(errorLine(result, 1)).toMatch(
        /^error: stack NoSuchStack: cannot read its outputs \(ValidationError: Stack with id NoSuchStack does not exist\)/,
      );
    });

    it("gives a replayed record the stack's retention, and 30 days on a stack deployed before that output existed", async () => {
      receiver.on('/retention', () => ({ status: 500 }));
      const records = await run([node('keep-7', '/retention'), node('keep-default', '/retention')]);
      // The replays' messages go to a stand-in SQS that keeps them: a new attempt would write its own expiry.
      const parked = await fakeServer((_, body, response) => {
        const { MessageBody = '' } = JSON.parse(body) as { MessageBody?: string };
        response
          .writeHead(200, { 'content-type': 'application/x-amz-json-1.0' })
          .end(
            JSON.stringify({ MessageId: 'm-1', MD5OfMessageBody: createHash('md5').update(MessageBody).digest('hex') }),
          );
      });
      const older = { ...stacks.get(STACK), [STACK_OUTPUTS.deliveryQueueUrl]: `${parked.origin}/123456789012/parked` };
      stacks.set(`${STACK}-7days`, { ...older, [STACK_OUTPUTS.outcomeRetentionDays]: '7' });
      stacks.set(`${STACK}-older`, older);
      const expiresIn = async (id: string) => {
        const { Item } = await stack.dynamo.send(
          new GetItemCommand({ TableName: LOCAL_TABLE_NAME, Key: { [OUTCOME_TABLE.partitionKey]: { S: id } } }),
        );
        return Number(Item?.[OUTCOME_TABLE.ttlAttribute]?.N) - Date.now() / 1000;
      };
      const day = 86_400;

      try {
        for (const [nodeId, stackName, days] of [
          ['keep-7', `${STACK}-7days`, 7],
          ['keep-default', `${STACK}-older`, 30],
        ] as const) {
          const id = records.get(nodeId)!.delivery_id;
          const result = await webhooks(['replay', id, '--stack', stackName], awsEnv);
          expect(result.code, result.stderr).toBe(0);
          expect((await stack.store.get(id))?.status).toBe('pending');
          const left = await expiresIn(id);
          expect(left, nodeId).toBeGreaterThan(days * day - 120);
          expect(left, nodeId).toBeLessThanOrEqual(days * day);
        }
        expect(parked.bodies.map((b) => b.target)).toEqual(['AmazonSQS.SendMessage', 'AmazonSQS.SendMessage']);
      } finally {
        await parked.close();
      }
    });

    it('refuses a retention output that is not a number of days, naming it', async () => {
      stacks.set(`${STACK}-bad-retention`, { ...stacks.get(STACK), [STACK_OUTPUTS.outcomeRetentionDays]: 'thirty' });
      const result = await webhooks(['failures', '--stack', `${STACK}-bad-retention`], awsEnv);
      expect(errorLine(result, 1)).toBe(
        `error: stack ${STACK}-bad-retention: output OutcomeRetentionDays is "thirty", not a number of days`,
      );
    });

    describe('redrive with the SQS message move task', () => {
      const SQS_STACK = 'DograhWebhooks-movetask';

      /**
       * A fake SQS (JSON protocol) that knows the queue count and the move-task calls, and
       * a stack whose queues live on it (the SDK sends SQS requests to the queue URL's host).
       */
      async function fakeSqs(final: 'COMPLETED' | 'FAILED') {
        const server = await fakeServer((request, body, response) => {
          const action = String(request.headers['x-amz-target']).replace('AmazonSQS.', '');
          const answers: Record<string, unknown> = {
            GetQueueAttributes: { Attributes: { ApproximateNumberOfMessages: '6' } },
            StartMessageMoveTask: { TaskHandle: 'task-1' },
            ListMessageMoveTasks: {
              Results: [
                final === 'COMPLETED'
                  ? {
                      Status: 'COMPLETED',
                      ApproximateNumberOfMessagesMoved: 6,
                      ApproximateNumberOfMessagesToMove: 6,
                      StartedTimestamp: 1,
                      SourceArn: JSON.parse(body).SourceArn,
                    }
                  : {
                      Status: 'FAILED',
                      ApproximateNumberOfMessagesMoved: 2,
                      ApproximateNumberOfMessagesToMove: 6,
                      StartedTimestamp: 1,
                      FailureReason: 'AWS.SimpleQueueService.NonExistentQueue',
                    },
              ],
            },
          };
          response
            .writeHead(200, { 'content-type': 'application/x-amz-json-1.0' })
            .end(JSON.stringify(answers[action] ?? {}));
        });
        stacks.set(SQS_STACK, {
          ...stacks.get(STACK),
          [STACK_OUTPUTS.deliveryQueueUrl]: `${server.origin}/123456789012/delivery`,
          [STACK_OUTPUTS.deliveryQueueArn]: 'arn:aws:sqs:us-east-1:123456789012:delivery',
          [STACK_OUTPUTS.deadLetterQueueUrl]: `${server.origin}/123456789012/delivery-dlq`,
          [STACK_OUTPUTS.deadLetterQueueArn]: 'arn:aws:sqs:us-east-1:123456789012:delivery-dlq',
        });
        return server;
      }

      it('starts a move task from the dead-letter queue to the delivery queue and reports it done', async () => {
        const sqs = await fakeSqs('COMPLETED');
        try {
          const result = await webhooks(['redrive', '--stack', SQS_STACK, '--max-per-second', '50'], {
            ...awsEnv,
            AWS_ENDPOINT_URL_SQS: sqs.origin,
          });
          expect(result.code, result.stderr).toBe(0);
          expect(result.stdout).toMatch(/^redriven: 6 of 6 dead letters moved to the delivery queue in /);
          expect(result.stderr).toContain(`redriving 6 dead letters to the delivery queue (stack ${SQS_STACK})`);
          expect(result.stderr).toContain('completed: 6 of 6 moved (100%)');
          const start = sqs.bodies.find((r) => r.target === 'AmazonSQS.StartMessageMoveTask');
          expect(JSON.parse(start?.body ?? '{}')).toEqual({
            SourceArn: 'arn:aws:sqs:us-east-1:123456789012:delivery-dlq',
            DestinationArn: 'arn:aws:sqs:us-east-1:123456789012:delivery',
            MaxNumberOfMessagesPerSecond: 50,
          });
        } finally {
          await sqs.close();
        }
      });

      it('exits 1 with the failure reason when the move task fails', async () => {
        const sqs = await fakeSqs('FAILED');
        try {
          const result = await webhooks(['redrive', '--stack', SQS_STACK], {
            ...awsEnv,
            AWS_ENDPOINT_URL_SQS: sqs.origin,
          });
          expect(result.code).toBe(1);
          expect(result.stderr).toMatch(
            /\nerror: redrive failed: AWS\.SimpleQueueService\.NonExistentQueue \(2 of 6 moved; the rest are still on the dead-letter queue\)\n$/,
          );
        } finally {
          await sqs.close();
        }
      });
    });
  });

  describe('redrive', () => {
    it('refuses a rate SQS would not take', async () => {
      const result = await webhooks(['redrive', '--local', '--max-per-second', '0']);
      expect(errorLine(result, 1)).toBe('error: --max-per-second: expected a whole number from 1 to 500, got "0"');
    });

    it('moves the dead letters back, and the fixed endpoint gets each failed delivery again as a new series', async () => {
      let fixed = false;
      receiver.on('/redrive', () => (fixed ? { status: 200 } : { status: 500 }));
      const records = await run([node('r1', '/redrive'), node('r2', '/redrive')]);
      const ids = [...records.values()].map((r) => r.delivery_id);
      expect([...records.values()].map((r) => r.status)).toEqual(['failed', 'failed']);
      fixed = true;
      const replayedBefore = receiver.to('/replay').length;

      const result = await webhooks(['redrive', '--local', '--json']);
      const outcome = json<{ status: string; moved: number; to_move: number }>(result);
      expect(outcome.status).toBe('COMPLETED');
      expect(outcome.moved).toBe(outcome.to_move);
      expect(outcome.moved).toBeGreaterThanOrEqual(2);
      // Not a terminal: progress comes as plain lines on stderr.
      expect(result.stderr).toMatch(
        /^redriving \d+ dead letters to the delivery queue \(webhooks dev \(pid \d+\)\)\n(\s+running: .*\n)*\s+completed: (\d+) of \2 moved \(100%\)\n$/,
      );

      await until(
        async () => (await Promise.all(ids.map((id) => stack.store.get(id)))).every((r) => r?.status === 'delivered'),
        'redriven deliveries',
      );
      for (const id of ids) {
        const record = await stack.store.get(id);
        expect(record?.attempt_log.map((x) => x.status_code)).toEqual([500, 200]);
        expect(record?.replayed_at).toHaveLength(1);
      }
      expect(receiver.to('/redrive')).toHaveLength(4);
      // The dead letter of the delivery replayed earlier is a duplicate now: dropped, not sent.
      await until(deliveryQueueDrained, 'every redriven message to be handled');
      expect(receiver.to('/replay')).toHaveLength(replayedBefore);
      // One whose endpoint is still broken was tried again, and failed again.
      expect(await stack.store.get(a.delivery_id)).toMatchObject({
        status: 'failed',
        replayed_at: [expect.any(String)],
      });
    });
  });
});
