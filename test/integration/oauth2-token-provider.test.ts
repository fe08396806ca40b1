import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFileCredentialStore } from '../../shared/adapters/file-credential-store.ts';
import { createGuardedHttpSender, type GuardedHttpSender } from '../../shared/adapters/guarded-http-sender.ts';
import { LOCAL_ADDRESS_POLICY, STRICT_ADDRESS_POLICY } from '../../shared/net/address-policy.ts';
import type { AttemptRecord, DeliveryStore } from '../../shared/ports/delivery-store.ts';
import { deliverMessage, type DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { sendAttempt } from '../../shared/use-cases/send-attempt.ts';
import { fakeDeliverDeps, NOW } from '../fixtures/deliver-deps.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';

const PREFIX = 'webhooks/credentials';
const CLIENT_SECRET = 'CANARY-client-secret-5b1e';

interface TokenRequest {
  readonly headers: IncomingHttpHeaders;
  readonly form: URLSearchParams;
}
type TokenReply = { status: number; body: unknown; delayMs?: number; headers?: Record<string, string> };

/** A loopback OAuth2 token endpoint: records each request, answers as the test says (default: a new token each time). */
interface TokenServer {
  readonly url: string;
  readonly requests: TokenRequest[];
  reply: (n: number) => TokenReply;
  close(): Promise<void>;
}

async function startTokenServer(): Promise<TokenServer> {
  const requests: TokenRequest[] = [];
  const ts: Omit<TokenServer, 'url' | 'close'> = {
    requests,
    reply: (n) => ({
      status: 200,
      body: { access_token: `CANARY-token-${n}`, token_type: 'Bearer', expires_in: 3600 },
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) });
      const reply = ts.reply(requests.length);
      const send = () => {
        if (!res.destroyed)
          res
            .writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
            .end(JSON.stringify(reply.body));
      };
      if (reply.delayMs === undefined) send();
      else setTimeout(send, reply.delayMs).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(ts, {
    url: `http://127.0.0.1:${port}/oauth/token`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as TokenServer;
}

let tokens: TokenServer;
let receiver: Receiver;
let sender: GuardedHttpSender;
let now: number;

beforeAll(async () => {
  tokens = await startTokenServer();
  receiver = await startReceiver();
  sender = createGuardedHttpSender({ policy: LOCAL_ADDRESS_POLICY });
});

afterAll(async () => {
  sender?.close();
  await tokens?.close();
  await receiver?.close();
});

let path: string;
let n = 0;
beforeEach(() => {
  tokens.requests.length = 0;
  tokens.reply = (i) => ({
    status: 200,
    body: { access_token: `CANARY-token-${i}`, token_type: 'Bearer', expires_in: 3600 },
  });
  now = NOW;
  path = `/oauth/${++n}`;
});

/** DeliverDeps with the real guarded sender and a file store holding one OAuth2 credential. */
function depsFor(credential: Record<string, unknown>, overrides: Partial<DeliverDeps> = {}): DeliverDeps {
  const { d } = fakeDeliverDeps();
  const credentials = createFileCredentialStore(
    {
      [`${PREFIX}/42/oauth`]: {
        type: 'OAUTH2_CLIENT_CREDENTIALS',
        token_url: tokens.url,
        client_id: 'dograh client',
        client_secret: CLIENT_SECRET,
        ...credential,
      },
    },
    PREFIX,
  );
  return { ...d, credentials, sender, clock: { now: () => now }, requestTimeoutMs: 5000, ...overrides };
}

const message = () =>
  makeDeliveryMessage(1, { organization_id: '42', credential_uuid: 'oauth', url: `${receiver.origin}${path}` });

describe('OAuth2 client credentials', () => {
  it('authenticates with HTTP Basic by default, sends scope and audience, and the endpoint gets the token as a bearer', async () => {
    const deps = depsFor({ scope: 'webhooks:write', audience: 'https://crm.example' });
    const { verdict } = await sendAttempt(message(), 1, deps);
    expect(verdict.kind).toBe('success');
    const [request] = tokens.requests;
    expect(request?.form.get('grant_type')).toBe('client_credentials');
    expect(request?.form.get('scope')).toBe('webhooks:write');
    expect(request?.form.get('audience')).toBe('https://crm.example');
    expect(request?.form.has('client_secret')).toBe(false);
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // RFC 6749 2.3.1: form-encoded id and secret (the space becomes "+"), then base64.
    expect(request?.headers['authorization']).toBe(
      `Basic ${Buffer.from(`dograh+client:${CLIENT_SECRET}`).toString('base64')}`,
    );
    expect(receiver.to(path)[0]?.headers['authorization']).toBe('Bearer CANARY-token-1');
  });

  it('puts client_id and client_secret in the body with client_auth "body"', async () => {
    await sendAttempt(message(), 1, depsFor({ client_auth: 'body' }));
    const [request] = tokens.requests;
    expect(request?.headers['authorization']).toBeUndefined();
    expect(request?.form.get('client_id')).toBe('dograh client');
    expect(request?.form.get('client_secret')).toBe(CLIENT_SECRET);
  });

  it('reuses the token until shortly before it expires, then fetches a new one', async () => {
    tokens.reply = (i) => ({ status: 200, body: { access_token: `CANARY-token-${i}`, expires_in: 600 } });
    const deps = depsFor({});
    await sendAttempt(message(), 1, deps);
    now += 500_000; // 500 s of 600: still well inside
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(1);
    now += 45_000; // 545 s: inside the last minute
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(2);
    expect(receiver.to(path).map((r) => r.headers['authorization'])).toEqual([
      'Bearer CANARY-token-1',
      'Bearer CANARY-token-1',
      'Bearer CANARY-token-2',
    ]);
  });

  it('assumes a default lifetime when the token endpoint gives no expires_in', async () => {
    tokens.reply = (i) => ({ status: 200, body: { access_token: `CANARY-token-${i}` } });
    const deps = depsFor({});
    await sendAttempt(message(), 1, deps);
    now += 200_000;
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(1);
    now += 100_000; // 300 s: the default lifetime is over
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(2);
  });

  it('fetches a new token as soon as the credential changes (a rotated client secret)', async () => {
    const { d } = fakeDeliverDeps();
    let secret = CLIENT_SECRET;
    const inner = (): DeliverDeps['credentials'] =>
      createFileCredentialStore(
        {
          [`${PREFIX}/42/oauth`]: {
            type: 'OAUTH2_CLIENT_CREDENTIALS',
            token_url: tokens.url,
            client_id: 'c',
            client_secret: secret,
          },
        },
        PREFIX,
      );
    const credentials: DeliverDeps['credentials'] = {
      get: (o, u) => inner().get(o, u),
      invalidate() {},
      signingSecrets: async () => null,
    };
    const deps: DeliverDeps = { ...d, credentials, sender, clock: { now: () => now }, requestTimeoutMs: 5000 };
    await sendAttempt(message(), 1, deps);
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(1);
    secret = `${CLIENT_SECRET}-rotated`;
    await sendAttempt(message(), 1, deps);
    expect(tokens.requests).toHaveLength(2);
    expect(tokens.requests[1]?.headers['authorization']).toBe(`Basic ${Buffer.from(`c:${secret}`).toString('base64')}`);
  });

  it('shares one token request among concurrent deliveries of one credential', async () => {
    tokens.reply = (i) => ({
      status: 200,
      body: { access_token: `CANARY-token-${i}`, expires_in: 3600 },
      delayMs: 100,
    });
    const deps = depsFor({});
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => sendAttempt(message(), 1, deps)));
    expect(outcomes.map((o) => o.verdict.kind)).toEqual(['success', 'success', 'success', 'success']);
    expect(tokens.requests).toHaveLength(1);
  });

  it('after a 401 fetches the token again once and resends within the same attempt', async () => {
    receiver.on(path, (r) => ({ status: r.headers['authorization'] === 'Bearer CANARY-token-1' ? 401 : 200 }));
    const { verdict } = await sendAttempt(message(), 1, depsFor({}));
    expect(verdict.kind).toBe('success');
    expect(tokens.requests).toHaveLength(2);
    expect(receiver.to(path).map((r) => r.headers['authorization'])).toEqual([
      'Bearer CANARY-token-1',
      'Bearer CANARY-token-2',
    ]);
  });

  it('fetches again only once: an endpoint that keeps answering 401 fails the attempt as permanent', async () => {
    receiver.on(path, () => ({ status: 401 }));
    const { verdict } = await sendAttempt(message(), 1, depsFor({}));
    expect(verdict).toMatchObject({ kind: 'permanent', errorClass: 'http_permanent', status: 401 });
    expect(tokens.requests).toHaveLength(2);
    expect(receiver.to(path)).toHaveLength(2);
  });

  it('classifies a token endpoint 5xx as transient, with its Retry-After, and never calls the endpoint', async () => {
    tokens.reply = () => ({
      status: 503,
      body: { error: 'temporarily_unavailable' },
      headers: { 'retry-after': '120' },
    });
    const { verdict } = await sendAttempt(message(), 1, depsFor({}));
    expect(verdict).toMatchObject({ kind: 'transient', errorClass: 'http_transient', retryAfterSeconds: 120 });
    expect((verdict as { message: string }).message).toBe('credential 42/oauth: token endpoint answered 503');
    expect(receiver.to(path)).toHaveLength(0);
  });

  it('classifies a token endpoint timeout as transient', async () => {
    tokens.reply = () => ({ status: 200, body: { access_token: 'late' }, delayMs: 2000 });
    const { verdict } = await sendAttempt(message(), 1, depsFor({}, { requestTimeoutMs: 300 }));
    expect(verdict).toMatchObject({ kind: 'transient', errorClass: 'timeout' });
    expect((verdict as { message: string }).message).toMatch(/^token endpoint of credential 42\/oauth: /);
  });

  it('fails a rejected client (401 invalid_client) as permanent with a clear reason, quoting no secret', async () => {
    tokens.reply = () => ({
      status: 401,
      body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` },
    });
    const { verdict } = await sendAttempt(message(), 1, depsFor({}));
    expect(verdict).toMatchObject({ kind: 'permanent', errorClass: 'credential' });
    expect((verdict as { message: string }).message).toBe(
      'credential 42/oauth: token endpoint answered 401 (invalid_client): check token_url, client_id and client_secret',
    );
    expect(receiver.to(path)).toHaveLength(0);
  });

  it('fails a 200 without an access_token as permanent', async () => {
    tokens.reply = () => ({ status: 200, body: { token_type: 'Bearer' } });
    const { verdict } = await sendAttempt(message(), 1, depsFor({}));
    expect(verdict).toMatchObject({ kind: 'permanent', errorClass: 'credential' });
    expect((verdict as { message: string }).message).toMatch(/without a usable access_token/);
  });

  it('puts the token URL through the same outbound guard as endpoints', async () => {
    const strict = createGuardedHttpSender({ policy: STRICT_ADDRESS_POLICY });
    try {
      const { verdict } = await sendAttempt(message(), 1, depsFor({}, { sender: strict }));
      expect(verdict).toMatchObject({ kind: 'permanent', errorClass: 'blocked' });
      expect((verdict as { message: string }).message).toMatch(/^token URL of credential 42\/oauth: /);
      expect(tokens.requests).toHaveLength(0);
    } finally {
      strict.close();
    }
  });

  it('keeps the token and the client secret out of the outcome log when the endpoint echoes them', async () => {
    receiver.on(path, (r) => ({ status: 400, body: `refused ${r.headers['authorization']} with ${CLIENT_SECRET}` }));
    const recorded: AttemptRecord[] = [];
    const deps = depsFor({});
    const store = {
      ...deps.store,
      recordAttempt: async (_m: unknown, record: AttemptRecord) => void recorded.push(record),
    } as unknown as DeliveryStore;
    await deliverMessage(
      { body: JSON.stringify(message()), receiptHandle: 'r', receivedAtMs: now },
      { ...deps, store },
    );
    expect(recorded).toHaveLength(1);
    const text = JSON.stringify(recorded);
    expect(text).toContain('refused Bearer [redacted]');
    expect(text).not.toContain('CANARY-token');
    expect(text).not.toContain(CLIENT_SECRET);
  });
});
