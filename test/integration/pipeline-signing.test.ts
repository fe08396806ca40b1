import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

// Organization 42 signs with a rotation pair; organization 43 has no signing secret.
const ORG_OLD = 'whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=';
const ORG_NEW = 'whsec_K7SUYjEkNa+1UdX+mTyr1MUCIQfZlVD7';
const NODE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CLIENT_SECRET = 'CANARY-client-secret-9e2d';
const TOKEN = 'CANARY-access-token-41aa';

let stack: LocalStack;
let receiver: Receiver;
let tokenServer: Server;
let tokenUrl: string;
let tokenRequests = 0;
const lines: string[] = [];
let nextRun = 8000;

function node(id: string, path: string, data: NodeJson['data'] = {}): NodeJson {
  return makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null, ...data },
  });
}

async function run(nodes: NodeJson[], detail: Record<string, unknown> = {}): Promise<Map<string, DeliveryRecord>> {
  const rendered = await stack.emit(makeEventJson({ detail: { workflow_run_id: nextRun++, nodes, ...detail } }));
  const records = await stack.waitUntilFinal(
    rendered.map((r) => r.delivery_id),
    30_000,
  );
  return new Map(records.map((r) => [r.node_id, r]));
}

beforeAll(async () => {
  receiver = await startReceiver();
  tokenServer = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      tokenRequests += 1;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  stack = await startLocalStack({
    secrets: {
      'webhooks/credentials/42/signing': { type: 'SIGNING', secrets: [ORG_OLD, ORG_NEW] },
      'webhooks/credentials/42/node-signing': { type: 'SIGNING', secrets: [NODE_SECRET] },
      'webhooks/credentials/42/oauth': {
        type: 'OAUTH2_CLIENT_CREDENTIALS',
        token_url: tokenUrl,
        client_id: 'dograh',
        client_secret: CLIENT_SECRET,
      },
    },
    requestTimeoutMs: 2000,
    logSink: (line) => lines.push(line),
    logLevel: 'debug',
  });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  tokenServer?.closeAllConnections();
  await new Promise<void>((resolve) => (tokenServer ? tokenServer.close(() => resolve()) : resolve()));
});

describe('signed webhooks and OAuth2 on the emulators', () => {
  it("signs with the organization's secrets; a receiver verifies with the standardwebhooks package using either one", async () => {
    const records = await run([
      node('signed', '/signed/org', { payload_template: { name: '{{initial_context.customer_name}}', note: 'Zoë ✓' } }),
    ]);
    const record = records.get('signed');
    expect(record?.status).toBe('delivered');
    const [request] = receiver.to('/signed/org');
    const headers = request?.headers as Record<string, string>;
    expect(headers['webhook-id']).toBe(record?.delivery_id);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
    for (const secret of [ORG_OLD, ORG_NEW])
      expect(new Webhook(secret).verify(request?.body ?? '', headers)).toMatchObject({ note: 'Zoë ✓' });
  });

  it("signs with the node's own secret when it names one", async () => {
    await run([node('own', '/signed/node', { signing_credential_uuid: 'node-signing' })]);
    const [request] = receiver.to('/signed/node');
    const headers = request?.headers as Record<string, string>;
    expect(new Webhook(NODE_SECRET).verify(request?.body ?? '', headers)).toBeTruthy();
    expect(() => new Webhook(ORG_OLD).verify(request?.body ?? '', headers)).toThrow();
  });

  it('sends an organization without a signing secret unsigned', async () => {
    await run([node('plain', '/unsigned')], { organization_id: 43 });
    const [request] = receiver.to('/unsigned');
    expect(request?.headers['webhook-signature']).toBeUndefined();
    expect(request?.headers['webhook-id']).toBeUndefined();
  });

  it('fails closed, without sending, when a node names a signing secret that does not exist', async () => {
    const records = await run([node('missing', '/signed/missing', { signing_credential_uuid: 'no-such-secret' })]);
    expect(records.get('missing')).toMatchObject({
      status: 'failed',
      last_error: 'credential webhooks/credentials/42/no-such-secret: signing secret not found in the secrets file',
    });
    expect(receiver.to('/signed/missing')).toHaveLength(0);
  });

  it('sends with an OAuth2 token, signed, and keeps the token, client secret and signing secrets out of logs and the table', async () => {
    const before = tokenRequests;
    const records = await run([
      node('oauth', '/oauth', { credential_uuid: 'oauth' }),
      node('oauth-2', '/oauth', { credential_uuid: 'oauth' }),
    ]);
    expect([...records.values()].map((r) => r.status)).toEqual(['delivered', 'delivered']);
    const requests = receiver.to('/oauth');
    expect(requests.map((r) => r.headers['authorization'])).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
    expect(tokenRequests - before).toBe(1);
    for (const r of requests)
      expect(new Webhook(ORG_NEW).verify(r.body, r.headers as Record<string, string>)).toBeTruthy();

    const { Items = [] } = await stack.dynamo.send(new ScanCommand({ TableName: LOCAL_TABLE_NAME }));
    const everything = `${lines.join('\n')}\n${JSON.stringify(Items)}`;
    for (const secret of [TOKEN, CLIENT_SECRET, ORG_OLD.slice(6), ORG_NEW.slice(6), NODE_SECRET.slice(6)])
      expect(everything).not.toContain(secret);
  });

  it("stores the render's empty placeholders on the delivery's record", async () => {
    const records = await run(
      [
        node('empty', '/empty', {
          payload_template: {
            who: '{{initial_context.customer_name}}',
            phone: '{{initial_context.phone}}',
            x: '{{gathered_context.nope}}',
          },
        }),
      ],
      { initial_context: { customer_name: 'Ada', phone: null } },
    );
    const record = await stack.store.get(records.get('empty')?.delivery_id ?? '');
    expect(record?.status).toBe('delivered');
    expect(record?.empty_placeholders).toEqual([
      { field: 'data.payload_template', placeholder: '{{initial_context.phone}}', reason: 'null' },
      { field: 'data.payload_template', placeholder: '{{gathered_context.nope}}', reason: 'missing' },
    ]);
  });
});
