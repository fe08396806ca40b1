import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import type { RenderedDelivery } from '../../shared/use-cases/render-run.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// Canary secrets: none of these may ever appear in a log line or a table item.
const CANARIES = {
  bearer: 'CANARY-bearer-7f3a9c',
  apiKey: 'CANARY-apikey-51d0e2',
  password: 'CANARY-password-88b1',
  custom: 'CANARY-custom-c0ffee',
};
const SECRETS = {
  'webhooks/credentials/42/bearer': { type: 'BEARER_TOKEN', token: CANARIES.bearer },
  'webhooks/credentials/42/apikey': { type: 'api_key', api_key: CANARIES.apiKey },
  'webhooks/credentials/42/basic': { type: 'BASIC_AUTH', username: 'ada', password: CANARIES.password },
  'webhooks/credentials/42/custom': {
    type: 'CUSTOM_HEADER',
    header_name: 'X-Tenant-Key',
    header_value: CANARIES.custom,
  },
  'webhooks/credentials/42/none': { type: 'NONE' },
  // Another organization's credential: organization 42 must never reach it.
  'webhooks/credentials/99/theirs': { type: 'BEARER_TOKEN', token: 'CANARY-other-org' },
};

let stack: LocalStack;
let receiver: Receiver;
const lines: string[] = [];
let nextRun = 5000;

const RETRY_FAST = { max_attempts: 3, backoff: 'fixed', initial_delay_seconds: 1, max_delay_seconds: 5 };

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
  });
}

async function run(
  nodes: NodeJson[],
  detail: Record<string, unknown> = {},
): Promise<{ rendered: RenderedDelivery[]; records: Map<string, DeliveryRecord>; runId: number }> {
  const runId = nextRun++;
  const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: runId, nodes, ...detail } }));
  const sent = rendered.filter((r) => r.status !== 'skipped').map((r) => r.delivery_id);
  const records = await stack.waitUntilFinal(sent, 30_000);
  return { rendered, records: new Map(records.map((r) => [r.node_id, r])), runId };
}

async function deadLetters(): Promise<Message[]> {
  // Peek without consuming (visibility 0): the same message may come back, so collect by id.
  const found = new Map<string, Message>();
  for (let i = 0; i < 5; i++) {
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.queues.deadLetter.url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
      }),
    );
    for (const m of Messages) found.set(m.MessageId ?? '', m);
  }
  return [...found.values()];
}

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startLocalStack({
    secrets: SECRETS,
    requestTimeoutMs: 1000,
    logSink: (line) => lines.push(line),
    logLevel: 'debug',
  });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

describe('pipeline on the emulators', () => {
  it("sends a typed node with its values' JSON types, and the same template in the default mode as Dograh's text", async () => {
    const template = {
      n: '{{gathered_context.count}}',
      ok: '{{gathered_context.ok}}',
      tags: '{{gathered_context.tags}}',
      first: '{{gathered_context.tags.0}}',
      gone: '{{gathered_context.nothing}}',
      text: 'n={{gathered_context.count}}',
    };
    const gathered = { count: 3, ok: true, tags: ['vip', 'renewal'], call_disposition: 'resolved' };
    const { records } = await run(
      [
        node('typed', '/typed', { template_mode: 'typed', payload_template: template }),
        node('dograh', '/dograh', { payload_template: template }),
      ],
      { gathered_context: gathered },
    );
    expect([...records.values()].map((r) => r.status)).toEqual(['delivered', 'delivered']);
    expect(JSON.parse(receiver.to('/typed')[0]?.body ?? '')).toEqual({
      n: 3,
      ok: true,
      tags: ['vip', 'renewal'],
      first: 'vip',
      gone: null,
      text: 'n=3',
      call_disposition: 'resolved',
    });
    expect(JSON.parse(receiver.to('/dograh')[0]?.body ?? '')).toEqual({
      n: '3',
      ok: 'True',
      tags: '["vip", "renewal"]',
      first: '',
      gone: '',
      text: 'n=3',
      call_disposition: 'resolved',
    });
  });

  it('sends each auth type with its header', async () => {
    const { records } = await run([
      node('none', '/auth/none', { credential_uuid: 'none' }),
      node('apikey', '/auth/apikey', { credential_uuid: 'apikey' }),
      node('bearer', '/auth/bearer', { credential_uuid: 'bearer' }),
      node('basic', '/auth/basic', { credential_uuid: 'basic' }),
      node('custom', '/auth/custom', { credential_uuid: 'custom' }),
    ]);
    expect([...records.values()].map((r) => r.status)).toEqual([
      'delivered',
      'delivered',
      'delivered',
      'delivered',
      'delivered',
    ]);
    expect(receiver.to('/auth/none')[0]?.headers['authorization']).toBeUndefined();
    expect(receiver.to('/auth/apikey')[0]?.headers['x-api-key']).toBe(CANARIES.apiKey);
    expect(receiver.to('/auth/bearer')[0]?.headers['authorization']).toBe(`Bearer ${CANARIES.bearer}`);
    expect(receiver.to('/auth/basic')[0]?.headers['authorization']).toBe(
      `Basic ${Buffer.from(`ada:${CANARIES.password}`).toString('base64')}`,
    );
    expect(receiver.to('/auth/custom')[0]?.headers['x-tenant-key']).toBe(CANARIES.custom);
  });

  it('sends each method, with a JSON body except for GET and DELETE', async () => {
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
    await run(methods.map((m) => node(`m-${m}`, `/method/${m}`, { http_method: m })));
    for (const m of methods) {
      const [request] = receiver.to(`/method/${m}`);
      expect(request?.method).toBe(m);
      if (m === 'GET' || m === 'DELETE') {
        expect(request?.body).toBe('');
        expect(request?.headers['content-type']).toBeUndefined();
      } else {
        expect(request?.headers['content-type']).toBe('application/json');
        expect(JSON.parse(request?.body ?? '')).toMatchObject({
          customer: 'Ada Lovelace',
          call_disposition: 'resolved',
        });
      }
    }
  });

  it('carries the X-Dograh headers and the custom headers', async () => {
    const { records, runId } = await run([
      node('hdr', '/headers', { custom_headers: [{ key: 'X-Source', value: 'run-{{workflow_run_id}}' }] }),
    ]);
    const [request] = receiver.to('/headers');
    expect(request?.headers['x-dograh-delivery-id']).toBe(records.get('hdr')?.delivery_id);
    expect(request?.headers['x-dograh-workflow-run-id']).toBe(String(runId));
    expect(request?.headers['x-dograh-delivery-attempt']).toBe('1');
    expect(request?.headers['x-source']).toBe(`run-${runId}`);
  });

  it('retries a transient failure and then delivers, under the same delivery id', async () => {
    receiver.on('/flaky', (_, n) => ({ status: n === 1 ? 503 : 200 }));
    const { records } = await run([node('flaky', '/flaky', { retry_config: RETRY_FAST })]);
    expect(records.get('flaky')).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 200 });
    const requests = receiver.to('/flaky');
    expect(requests.map((r) => r.headers['x-dograh-delivery-attempt'])).toEqual(['1', '2']);
    expect(new Set(requests.map((r) => r.headers['x-dograh-delivery-id'])).size).toBe(1);
    expect(JSON.parse(requests[1]?.body ?? '')).toEqual(JSON.parse(requests[0]?.body ?? ''));
    expect(records.get('flaky')?.attempt_log.map((a) => [a.status_code, a.error_class])).toEqual([
      [503, 'http_transient'],
      [200, 'none'],
    ]);
  });

  it('fails after the last attempt and dead-letters the message with its reason', async () => {
    receiver.on('/down', () => ({ status: 500, body: '{"error":"down"}' }));
    const { records } = await run([node('down', '/down', { retry_config: RETRY_FAST })]);
    const record = records.get('down');
    expect(record).toMatchObject({ status: 'failed', attempts: 3, last_status_code: 500 });
    expect(record?.last_error).toContain('all 3 attempts');
    expect(receiver.to('/down')).toHaveLength(3);
    const letters = (await deadLetters()).filter(
      (m) => m.MessageAttributes?.['delivery_id']?.StringValue === record?.delivery_id,
    );
    expect(letters).toHaveLength(1);
    expect(letters[0]?.MessageAttributes?.['reason']?.StringValue).toContain('500');
  });

  it('does not retry a permanent 4xx', async () => {
    receiver.on('/gone', () => ({ status: 404 }));
    const { records } = await run([node('gone', '/gone', { retry_config: RETRY_FAST })]);
    expect(records.get('gone')).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 404 });
    expect(receiver.to('/gone')).toHaveLength(1);
  });

  it('gives one attempt without retry_config', async () => {
    receiver.on('/once', () => ({ status: 503 }));
    const { records } = await run([node('once', '/once')]);
    expect(records.get('once')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(receiver.to('/once')).toHaveLength(1);
  });

  it('honours Retry-After', async () => {
    receiver.on('/busy', (_, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 }));
    const { records } = await run([node('busy', '/busy', { retry_config: RETRY_FAST })]);
    expect(records.get('busy')).toMatchObject({ status: 'delivered', attempts: 2 });
    const [first, second] = receiver.to('/busy');
    // The backoff alone would wait about 1 s; Retry-After asks for 3.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2_900);
  });

  it('times out a slow endpoint as a transient failure', async () => {
    receiver.on('/slow', () => ({ status: 200, delayMs: 3000 }));
    const { records } = await run([node('slow', '/slow')]);
    expect(records.get('slow')).toMatchObject({ status: 'failed', attempts: 1, last_status_code: null });
    expect(records.get('slow')?.attempt_log[0]?.error_class).toBe('timeout');
  });

  it('records a refused connection', async () => {
    const closed = await startReceiver();
    await closed.close();
    const { records } = await run([
      makeNodeJson({
        id: 'refused',
        data: { endpoint_url: `${closed.origin}/x`, credential_uuid: null, retry_config: null },
      }),
    ]);
    expect(records.get('refused')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(records.get('refused')?.attempt_log[0]?.error_class).toBe('connection');
  });

  it('sends once for a duplicate event', async () => {
    const runId = nextRun++;
    const event = makeEventJson({ detail: { workflow_run_id: runId, nodes: [node('dup', '/dup')] } });
    const first = await stack.emit(event);
    const second = await stack.emit(event);
    expect(second.map((r) => r.delivery_id)).toEqual(first.map((r) => r.delivery_id));
    const [record] = await stack.waitUntilFinal(
      first.map((r) => r.delivery_id),
      20_000,
    );
    expect(record).toMatchObject({ status: 'delivered', attempts: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.to('/dup')).toHaveLength(1);
  });

  it('fails a delivery whose credential is missing, naming it, and never sends', async () => {
    const { records } = await run([node('nocred', '/nocred', { credential_uuid: 'does-not-exist' })]);
    expect(records.get('nocred')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(records.get('nocred')?.last_error).toContain('webhooks/credentials/42/does-not-exist');
    expect(receiver.to('/nocred')).toHaveLength(0);
  });

  it("cannot use another organization's credential", async () => {
    const { records } = await run([node('theirs', '/theirs', { credential_uuid: 'theirs' })]);
    expect(records.get('theirs')).toMatchObject({ status: 'failed' });
    expect(records.get('theirs')?.last_error).toContain('webhooks/credentials/42/theirs');
    expect(receiver.to('/theirs')).toHaveLength(0);
  });

  it.each([
    ['private 10/8', 'http://10.0.0.1/hook'],
    ['metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['metadata in decimal', 'http://2852039166/'],
    ['private as IPv4-mapped IPv6', 'http://[::ffff:10.1.2.3]/hook'],
    ['unique-local IPv6', 'http://[fd00::1]/hook'],
    ['link-local IPv6', 'http://[fe80::1]/hook'],
    ['multicast', 'http://224.0.0.1/hook'],
    ['private in octal', 'http://012.0.0.1/hook'],
  ])('blocks a %s endpoint without sending', async (_, url) => {
    const { records } = await run([
      makeNodeJson({ id: 'blocked', data: { endpoint_url: url, credential_uuid: null } }),
    ]);
    expect(records.get('blocked')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(records.get('blocked')?.attempt_log[0]?.error_class).toBe('blocked');
  });

  it('fails an oversized payload while the other nodes still go', async () => {
    const { records, rendered } = await run(
      [node('big', '/big', { payload_template: { blob: '{{initial_context.blob}}' } }), node('small', '/small')],
      { initial_context: { blob: 'x'.repeat(300_000), customer_name: 'Ada' } },
    );
    expect(rendered.find((r) => r.node_id === 'big')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('payload too large'),
    });
    expect(records.get('big')).toMatchObject({ status: 'failed', attempts: 0 });
    expect(records.get('small')).toMatchObject({ status: 'delivered' });
    expect(receiver.to('/big')).toHaveLength(0);
  });

  it('records a bad node as failed with its reason beside good ones', async () => {
    const { records } = await run([
      node('bad', '/bad', { http_method: 'FETCH' }),
      node('good', '/good'),
      node('badurl', '/u/{{nope}}'),
    ]);
    expect(records.get('bad')).toMatchObject({ status: 'failed', attempts: 0 });
    expect(records.get('bad')?.last_error).toContain('data.http_method');
    expect(records.get('badurl')?.last_error).toContain('{{nope}}');
    expect(records.get('good')).toMatchObject({ status: 'delivered' });
  });

  it('fails a node that repeats an id on a delivery of its own, and still delivers the first node', async () => {
    const { rendered, records } = await run([node('twin', '/twin/first'), node('twin', '/twin/second')]);
    const first = rendered.find((r) => r.node_id === 'twin');
    // Index 2: the definition starts with a start node.
    const repeat = rendered.find((r) => r.node_id === 'nodes[2]');
    expect(first).toMatchObject({ status: 'enqueued' });
    expect(repeat).toMatchObject({ status: 'failed', error: expect.stringContaining('duplicate node id "twin"') });
    expect(repeat?.delivery_id).not.toBe(first?.delivery_id);
    expect(records.get('twin')).toMatchObject({ delivery_id: first?.delivery_id, status: 'delivered', attempts: 1 });
    expect(records.get('nodes[2]')).toMatchObject({ delivery_id: repeat?.delivery_id, status: 'failed', attempts: 0 });
    expect(receiver.to('/twin/first')).toHaveLength(1);
    expect(receiver.to('/twin/second')).toHaveLength(0);
  });

  it('skips disabled nodes', async () => {
    const { rendered } = await run([node('off', '/off', { enabled: false })]);
    expect(rendered).toEqual([
      expect.objectContaining({
        node_id: 'off',
        status: 'skipped',
        error: 'disabled in the workflow ("enabled": false): not sent, not recorded',
      }),
    ]);
    expect(receiver.to('/off')).toHaveLength(0);
    // Nothing is recorded for it: the render function's info line names it.
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'run rendered' && l.skipped === 1);
    expect(line?.skipped_nodes).toEqual(['off']);
  });

  it('rejects a malformed event and keeps it, with its reason, in the render dead-letter queue', async () => {
    const event = makeEventJson({ detail: { workflow_run_id: 'not-a-number' } });
    await expect(stack.emit(event)).rejects.toBeInstanceOf(ValidationError);
    const { Messages } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.queues.renderDeadLetter.url, MaxNumberOfMessages: 10 }),
    );
    const kept = (Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}'));
    expect(kept.some((k) => k.responsePayload.errorMessage.includes('detail.workflow_run_id'))).toBe(true);
    expect(lines.some((l) => l.includes('malformed run-completed event'))).toBe(true);
  });

  it('keeps a credential an endpoint echoes back out of the outcome log', async () => {
    receiver.on('/echo', (req) => ({
      status: 500,
      body: JSON.stringify({
        error: `invalid key ${String(req.headers['x-api-key'])}`,
        seen: { auth: req.headers['x-api-key'] },
      }),
    }));
    const { records } = await run([node('echo', '/echo', { credential_uuid: 'apikey' })]);
    const record = records.get('echo');
    expect(record).toMatchObject({ status: 'failed', last_status_code: 500 });
    expect(receiver.to('/echo')[0]?.headers['x-api-key']).toBe(CANARIES.apiKey);
    expect(record?.attempt_log[0]?.response_snippet).toContain('invalid key [redacted]');
    expect(JSON.stringify(record)).not.toContain(CANARIES.apiKey);
  });

  it('never writes a secret to a log line or a table item', async () => {
    expect(lines.length).toBeGreaterThan(10);
    const dynamo = new DynamoDBClient({
      endpoint: stack.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const { Items } = await dynamo.send(new ScanCommand({ TableName: LOCAL_TABLE_NAME }));
    dynamo.destroy();
    const stored = JSON.stringify(Items);
    expect(Items?.length).toBeGreaterThan(10);
    for (const canary of [...Object.values(CANARIES), 'CANARY-other-org']) {
      expect(lines.filter((l) => l.includes(canary))).toEqual([]);
      expect(stored).not.toContain(canary);
    }
  });
});
