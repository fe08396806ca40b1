import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockedRequestError, NetworkError } from '../../shared/errors.ts';
import { createGuardedHttpSender } from '../../shared/adapters/guarded-http-sender.ts';
import type {
  ConnectFunction,
  GuardedHttpSender,
  GuardedHttpSenderOptions,
} from '../../shared/adapters/guarded-http-sender.ts';
import { LOCAL_ADDRESS_POLICY, STRICT_ADDRESS_POLICY } from '../../shared/net/address-policy.ts';
import type { AddressPolicy } from '../../shared/net/address-policy.ts';
import type { OutboundRequest } from '../../shared/ports/http-sender.ts';

// Every test here talks to 127.0.0.1 only. Where a test needs a host name or a
// non-loopback answer, the lookup is injected, and `loopbackOnlyConnect` makes sure
// that even a broken guard could only ever dial loopback.

// Self-signed P-256 certificate for localhost and 127.0.0.1, valid until 2126.
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHUfsiqKftau3SXEJ
NeRTNEOdSILgfCZIyByZTd7T3TihRANCAATwp08pIXp5UEirsUkeC8Phy2YTksjB
AYbYPcbnJSYws8HsVcz7PWbQevA7uKkExlzw4p9h1dcCjFg566Bd9DM3
-----END PRIVATE KEY-----
`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUK/um0D/YRrW62HiLthydgCE6QvAwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNzAxMzQyNVoYDzIxMjYxMTAz
MDEzNDI1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATwp08pIXp5UEirsUkeC8Phy2YTksjBAYbYPcbnJSYws8HsVcz7PWbQ
evA7uKkExlzw4p9h1dcCjFg566Bd9DM3o28wbTAdBgNVHQ4EFgQU4pJPs9ZGChxS
lDYNPhWiDC4zlfowHwYDVR0jBBgwFoAU4pJPs9ZGChxSlDYNPhWiDC4zlfowDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAKFdECSMK89CtoBm3e+mMYyeNoAy9LEiQgrZH37jHWhjAiAf
u59DRLeePhy4PMEFbIDulfbFeY4KJfnmRb5fWQvmOA==
-----END CERTIFICATE-----
`;

interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface TestServer {
  readonly port: number;
  readonly origin: string;
  readonly received: ReceivedRequest[];
  /** TCP connections accepted, whether or not a request came over them. */
  connections: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(handler: Handler, options: { tls?: boolean } = {}): Promise<TestServer> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = options.tls
    ? https.createServer({ key: TLS_KEY, cert: TLS_CERT }, onRequest)
    : http.createServer(onRequest);
  server.on('connection', () => {
    state.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const state: TestServer = {
    port,
    origin: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received: [],
    connections: 0,
  };
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return state;
}

function ok(body = 'ok'): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(body);
  };
}

function sender(options: Partial<GuardedHttpSenderOptions> & { policy?: AddressPolicy } = {}): GuardedHttpSender {
  const s = createGuardedHttpSender({ policy: LOCAL_ADDRESS_POLICY, ...options });
  cleanups.push(() => s.close());
  return s;
}

function request(overrides: Partial<OutboundRequest> & { url: string }): OutboundRequest {
  return { method: 'POST', headers: {}, body: '{"a":1}', timeoutMs: 5_000, ...overrides };
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A lookup that answers with fixed addresses and records the host names it was asked for. */
function fixedLookup(addresses: readonly string[], asked: string[] = []): net.LookupFunction {
  return (hostname, options, callback) => {
    asked.push(hostname);
    const list: LookupAddress[] = addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
    const first = list[0] ?? { address: '', family: 4 };
    if (options.all) callback(null, list);
    else callback(null, first.address, first.family);
  };
}

interface Dials {
  /** Hosts the agent asked to connect to. */
  readonly hosts: string[];
  /** Addresses that got past the sender's guard and would have been dialled. */
  readonly passed: string[];
}

/**
 * A connect step that records which addresses got past the sender's guard and then
 * dials 127.0.0.1 instead, whatever they were: even if the guard failed, the test
 * would only ever reach loopback (where `TestServer.connections` shows it).
 */
function loopbackOnlyConnect(dials: Dials, extraTls: tls.ConnectionOptions = {}): ConnectFunction {
  return (options, secure) => {
    const host = String(options.host);
    dials.hosts.push(host);
    const guarded = options.lookup;
    if (guarded === undefined) throw new Error('the sender passed no lookup to the connect step');
    const lookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
      guarded(hostname, lookupOptions, (err, address, family) => {
        if (err) {
          callback(err, address, family);
          return;
        }
        dials.passed.push(...(typeof address === 'string' ? [address] : address.map((a) => a.address)));
        if (lookupOptions.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      });
    };
    let dialHost = host;
    if (net.isIP(host) !== 0 && host !== '127.0.0.1') {
      dials.passed.push(host);
      dialHost = '127.0.0.1';
    }
    const connectOptions = { ...options, host: dialHost, lookup };
    return secure ? tls.connect({ ...connectOptions, ...extraTls }) : net.connect(connectOptions);
  };
}

function newDials(): Dials {
  return { hosts: [], passed: [] };
}

describe('sending', () => {
  it('sends method, path, query, headers and body, and returns status, lower-case headers and body', async () => {
    const server = await startServer((_req, res) => {
      res.setHeader('X-Reply', 'yes');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.writeHead(201);
      res.end('{"accepted":true}');
    });
    const response = await sender().send(
      request({
        url: `${server.origin}/hooks/42?x=1&y=2`,
        headers: { 'Content-Type': 'application/json', 'X-Dograh-Delivery-Id': 'd-1' },
        body: '{"run_id":"42","name":"Zoë"}',
      }),
    );

    expect(response.status).toBe(201);
    expect(response.headers['x-reply']).toBe('yes');
    expect(response.headers['set-cookie']).toBe('a=1, b=2');
    expect(response.headers['X-Reply']).toBeUndefined();
    expect(response.bodySnippet).toBe('{"accepted":true}');
    expect(response.durationMs).toBeGreaterThanOrEqual(0);

    const [got] = server.received;
    expect(got?.method).toBe('POST');
    expect(got?.url).toBe('/hooks/42?x=1&y=2');
    expect(got?.headers['content-type']).toBe('application/json');
    expect(got?.headers['x-dograh-delivery-id']).toBe('d-1');
    expect(got?.headers['content-length']).toBe(String(Buffer.byteLength('{"run_id":"42","name":"Zoë"}')));
    expect(got?.headers['transfer-encoding']).toBeUndefined();
    expect(got?.body).toBe('{"run_id":"42","name":"Zoë"}');
  });

  it.each(['POST', 'PUT', 'PATCH'] as const)('%s sends its body with Content-Length', async (method) => {
    const server = await startServer(ok());
    const response = await sender().send(request({ url: `${server.origin}/x`, method, body: '{"k":"v"}' }));
    expect(response.status).toBe(200);
    expect(server.received[0]).toMatchObject({ method, body: '{"k":"v"}' });
    expect(server.received[0]?.headers['content-length']).toBe('9');
  });

  it.each(['GET', 'DELETE'] as const)('%s without a body sends no body and no framing headers', async (method) => {
    const server = await startServer(ok());
    const response = await sender().send(request({ url: `${server.origin}/x`, method, body: null }));
    expect(response.status).toBe(200);
    expect(server.received[0]).toMatchObject({ method, body: '' });
    expect(server.received[0]?.headers['content-length']).toBeUndefined();
    expect(server.received[0]?.headers['transfer-encoding']).toBeUndefined();
  });

  it.each(['POST', 'PUT', 'PATCH'] as const)('%s with no body sends Content-Length: 0, not chunked', async (method) => {
    const server = await startServer(ok());
    await sender().send(request({ url: `${server.origin}/x`, method, body: null }));
    expect(server.received[0]?.headers['content-length']).toBe('0');
    expect(server.received[0]?.headers['transfer-encoding']).toBeUndefined();
  });

  it("replaces a caller's framing headers with the real body length", async () => {
    const server = await startServer(ok());
    await sender().send(
      request({
        url: `${server.origin}/x`,
        headers: { 'content-length': '1', 'Transfer-Encoding': 'chunked' },
        body: '{"abc":123}',
      }),
    );
    expect(server.received[0]?.headers['content-length']).toBe('11');
    expect(server.received[0]?.headers['transfer-encoding']).toBeUndefined();
    expect(server.received[0]?.body).toBe('{"abc":123}');
  });

  it('returns a 302 as it is, without following it', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/start') res.writeHead(302, { Location: '/elsewhere' }).end('moved');
      else res.writeHead(200).end('followed');
    });
    const response = await sender().send(request({ url: `${server.origin}/start` }));
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/elsewhere');
    expect(response.bodySnippet).toBe('moved');
    expect(server.received.map((r) => r.url)).toEqual(['/start']);
  });

  it('returns a 500 as a response, not an error', async () => {
    const server = await startServer((_req, res) => res.writeHead(503, { 'Retry-After': '7' }).end('busy'));
    const response = await sender().send(request({ url: `${server.origin}/` }));
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('7');
  });

  it('reuses one kept-alive connection for consecutive requests', async () => {
    const server = await startServer(ok());
    const s = sender();
    await s.send(request({ url: `${server.origin}/1` }));
    await s.send(request({ url: `${server.origin}/2` }));
    await s.send(request({ url: `${server.origin}/3`, method: 'GET', body: null }));
    expect(server.received).toHaveLength(3);
    expect(server.connections).toBe(1);
  });

  it('fails, not resends, a request whose pooled connection the server drops (it may have read it)', async () => {
    const perSocket = new WeakMap<net.Socket, number>();
    const server = await startServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n > 1) req.socket.destroy();
      else res.writeHead(200).end('fresh');
    });
    const s = sender();
    await s.send(request({ url: `${server.origin}/1` }));
    await expect(s.send(request({ url: `${server.origin}/2` }))).rejects.toMatchObject({ kind: 'connection' });
    expect(server.received.map((r) => r.url)).toEqual(['/1', '/2']);
    expect(server.connections).toBe(1);
  });
});

describe('reading the response body', () => {
  it('stops reading at the cap and drops the connection, even when the body never ends', async () => {
    let serverSawClose!: () => void;
    const closed = new Promise<void>((resolve) => {
      serverSawClose = resolve;
    });
    const server = await startServer((_req, res) => {
      res.on('close', serverSawClose);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const chunk = 'x'.repeat(4096);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const response = await sender({ maxResponseBytes: 1000 }).send(request({ url: `${server.origin}/` }));
    expect(response.status).toBe(200);
    expect(response.bodySnippet).toBe('x'.repeat(1000));
    // Only the client hanging up ends this response; the test times out otherwise.
    await closed;
  });

  it('caps at 64 KiB by default', async () => {
    const server = await startServer(ok('y'.repeat(100 * 1024)));
    const response = await sender().send(request({ url: `${server.origin}/` }));
    expect(response.bodySnippet).toHaveLength(64 * 1024);
  });

  it('does not split a multi-byte character at the cap', async () => {
    const server = await startServer(ok('é'.repeat(100)));
    const response = await sender({ maxResponseBytes: 7 }).send(request({ url: `${server.origin}/` }));
    expect(response.bodySnippet).toBe('ééé');
  });

  it('reports a body cut short by the server as a connection error', async () => {
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('only part', () => req.socket.destroy());
    });
    const error = await sender()
      .send(request({ url: `${server.origin}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('connection');
  });
});

describe('network failures', () => {
  it('times out when the server never answers', async () => {
    const server = await startServer(() => {
      // never answers
    });
    const error = await sender()
      .send(request({ url: `${server.origin}/`, timeoutMs: 200 }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('timeout');
    expect(server.received).toHaveLength(1);
  });

  it('times out when the body stalls after the headers: the timeout covers the body read', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('partial');
    });
    const error = await sender()
      .send(request({ url: `${server.origin}/`, timeoutMs: 300 }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('timeout');
  });

  it('reports a refused connection', async () => {
    const port = await closedPort();
    const error = await sender()
      .send(request({ url: `http://127.0.0.1:${port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('connection');
    expect((error as NetworkError).message).toContain('ECONNREFUSED');
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN'])('reports a lookup failing with %s as a DNS error', async (code) => {
    const lookup: net.LookupFunction = (hostname, _options, callback) => {
      callback(Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code }), '', 4);
    };
    const error = await sender({ lookup })
      .send(request({ url: 'http://no-such-host.invalid/' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('dns');
  });

  it('never puts the path, query or header values in error messages', async () => {
    const server = await startServer(() => {
      // never answers
    });
    const error = await sender()
      .send(
        request({
          url: `${server.origin}/secret-path?token=hunter2`,
          headers: { Authorization: 'Bearer top-secret' },
          timeoutMs: 150,
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    const message = (error as Error).message;
    expect(message).toContain('127.0.0.1');
    for (const secret of ['secret-path', 'token', 'hunter2', 'top-secret']) expect(message).not.toContain(secret);
  });
});

describe('one request per attempt', () => {
  it('never resends a request whose reused connection was reset after the server read it', async () => {
    let n = 0;
    const server = await startServer((req, res) => {
      n += 1;
      if (n === 1) {
        res.writeHead(200);
        res.end('ok');
        return;
      }
      // Read it whole, then reset: the endpoint saw this request.
      req.socket.resetAndDestroy();
    });
    const s = sender();
    expect((await s.send(request({ url: `${server.origin}/a` }))).status).toBe(200);
    const second = s.send(request({ url: `${server.origin}/b` }));
    await expect(second).rejects.toThrow(NetworkError);
    await expect(second).rejects.toMatchObject({ kind: 'connection' });
    // The old sender resent it on a fresh connection: the server would see /b twice.
    expect(server.received.map((r) => r.url)).toEqual(['/a', '/b']);
    expect(server.connections).toBe(1);
  });

  it('does not reuse a pooled connection idle past maxIdleReuseMs, and reuses a fresher one', async () => {
    const server = await startServer(ok());
    const s = sender({ maxIdleReuseMs: 50 });
    await s.send(request({ url: `${server.origin}/1` }));
    await s.send(request({ url: `${server.origin}/2` }));
    expect(server.connections).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await s.send(request({ url: `${server.origin}/3` }));
    expect(server.connections).toBe(2);
    expect(server.received).toHaveLength(3);
  });
});

describe('requests that are never sent', () => {
  it.each([
    ['ftp://127.0.0.1/file'],
    ['file:///etc/passwd'],
    ['javascript:alert(1)'],
    ['ws://127.0.0.1/socket'],
    ['not a url'],
  ])('refuses %s', async (url) => {
    const lookupAsked: string[] = [];
    const error = await sender({ lookup: fixedLookup(['127.0.0.1'], lookupAsked) })
      .send(request({ url }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect(lookupAsked).toEqual([]);
  });

  it.each([
    ['CR LF', 'a\r\nInjected: yes'],
    ['LF', 'a\nInjected: yes'],
    ['CR', 'a\rb'],
    ['NUL', 'a\u0000b'],
    ['non-Latin-1', 'price €5'],
  ])('refuses a header value with %s and never connects', async (_what, value) => {
    const server = await startServer(ok());
    const error = await sender()
      .send(request({ url: `${server.origin}/`, headers: { 'X-Custom': value } }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain('X-Custom');
    expect((error as Error).message).not.toContain('Injected');
    expect(server.connections).toBe(0);
  });

  it('refuses a header name that is not an HTTP token', async () => {
    const server = await startServer(ok());
    const error = await sender()
      .send(request({ url: `${server.origin}/`, headers: { 'X-Bad\r\nName': 'v' } }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect(server.connections).toBe(0);
  });
});

describe('address policy at connect time', () => {
  it.each([
    (port: number) => `http://127.0.0.1:${port}/`,
    (port: number) => `http://2130706433:${port}/`,
    (port: number) => `http://0x7f.1:${port}/`,
    (port: number) => `http://[::ffff:127.0.0.1]:${port}/`,
    (port: number) => `http://[::1]:${port}/`,
  ])('refuses literal loopback %# when loopback is not allowed, without connecting', async (url) => {
    const server = await startServer(ok());
    const dials = newDials();
    const error = await sender({ policy: STRICT_ADDRESS_POLICY, connect: loopbackOnlyConnect(dials) })
      .send(request({ url: url(server.port) }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain('loopback');
    expect(dials.hosts).toEqual([]);
    expect(server.connections).toBe(0);
  });

  it('refuses localhost when loopback is not allowed (system lookup)', async () => {
    const server = await startServer(ok());
    const error = await sender({ policy: STRICT_ADDRESS_POLICY })
      .send(request({ url: `http://localhost:${server.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect(server.connections).toBe(0);
  });

  it('allows loopback in local mode, through the system lookup of localhost', async () => {
    const server = await startServer(ok());
    const response = await sender({ policy: LOCAL_ADDRESS_POLICY }).send(
      request({ url: `http://localhost:${server.port}/` }),
    );
    expect(response.status).toBe(200);
  });

  it.each(['10.0.0.1', '169.254.169.254', '192.168.1.10', '100.64.0.1'])(
    'refuses literal %s before any connection attempt',
    async (ip) => {
      const sink = await startServer(ok());
      const dials = newDials();
      const error = await sender({ policy: LOCAL_ADDRESS_POLICY, connect: loopbackOnlyConnect(dials) })
        .send(request({ url: `http://${ip}:${sink.port}/` }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlockedRequestError);
      expect(dials.hosts).toEqual([]);
      expect(dials.passed).toEqual([]);
      expect(sink.connections).toBe(0);
    },
  );

  it.each([
    ['10.0.0.1', 'private 10.0.0.0/8'],
    ['169.254.169.254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', '0.0.0.0/8'],
    ['127.0.0.1', 'loopback'],
  ])('refuses a host name that resolves to %s before any connection attempt', async (address, reason) => {
    const sink = await startServer(ok());
    const dials = newDials();
    const asked: string[] = [];
    const error = await sender({
      policy: STRICT_ADDRESS_POLICY,
      lookup: fixedLookup([address], asked),
      connect: loopbackOnlyConnect(dials),
    })
      .send(request({ url: `http://hooks.example.test:${sink.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain(reason);
    expect((error as Error).message).toContain('hooks.example.test');
    expect(asked).toEqual(['hooks.example.test']);
    expect(dials.hosts).toEqual(['hooks.example.test']);
    expect(dials.passed).toEqual([]);
    expect(sink.connections).toBe(0);
  });

  it.each([
    [['93.184.216.34', '10.0.0.1']],
    [['10.0.0.1', '93.184.216.34']],
    [['2606:4700:4700::1111', '93.184.216.34', '169.254.169.254']],
  ])('refuses a lookup answer %j that mixes public and private addresses', async (addresses) => {
    const sink = await startServer(ok());
    const dials = newDials();
    const error = await sender({
      policy: STRICT_ADDRESS_POLICY,
      lookup: fixedLookup(addresses),
      connect: loopbackOnlyConnect(dials),
    })
      .send(request({ url: `http://mixed.example.test:${sink.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect(dials.passed).toEqual([]);
    expect(sink.connections).toBe(0);
  });

  it('checks every address when Node asks the lookup for all of them', async () => {
    const sink = await startServer(ok());
    const seen: Array<boolean | undefined> = [];
    const lookup: net.LookupFunction = (hostname, options, callback) => {
      seen.push(options.all);
      fixedLookup(['93.184.216.34', '192.168.0.1'])(hostname, options, callback);
    };
    const error = await sender({ policy: STRICT_ADDRESS_POLICY, lookup, connect: loopbackOnlyConnect(newDials()) })
      .send(request({ url: `http://all.example.test:${sink.port}/` }))
      .catch((e: unknown) => e);
    expect(seen).toEqual([true]);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain('192.168.0.1');
  });

  it('re-checks at every new connection: a host that rebinds to metadata is refused', async () => {
    const server = await startServer((_req, res) => {
      // No keep-alive, so the next request needs a new connection and a new lookup.
      res.writeHead(200, { Connection: 'close' }).end('first');
    });
    const answers = ['127.0.0.1', '169.254.169.254'];
    const lookup: net.LookupFunction = (hostname, options, callback) => {
      fixedLookup([answers.shift() ?? '169.254.169.254'])(hostname, options, callback);
    };
    const dials = newDials();
    const s = sender({ policy: LOCAL_ADDRESS_POLICY, lookup, connect: loopbackOnlyConnect(dials) });
    const url = `http://rebind.example.test:${server.port}/`;

    const first = await s.send(request({ url }));
    expect(first.status).toBe(200);
    const error = await s.send(request({ url })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain('metadata');
    expect(dials.passed).toEqual(['127.0.0.1']);
    expect(server.received).toHaveLength(1);
    expect(server.connections).toBe(1);
  });

  it("checks the socket's remote address even if a connect step skips the guarded lookup", async () => {
    const server = await startServer(ok());
    // A connect step that ignores the guard and reaches loopback anyway.
    const bypass: ConnectFunction = (options) =>
      net.connect({ ...options, lookup: fixedLookup(['127.0.0.1']) } as net.TcpNetConnectOpts);
    const error = await sender({
      policy: STRICT_ADDRESS_POLICY,
      lookup: fixedLookup(['93.184.216.34']),
      connect: bypass,
    })
      .send(request({ url: `http://public.example.test:${server.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect((error as Error).message).toContain('loopback');
    expect(server.received).toHaveLength(0);
  });
});

describe('https', () => {
  it('sends over TLS through the guarded lookup', async () => {
    const server = await startServer(ok('secure'), { tls: true });
    const dials = newDials();
    const asked: string[] = [];
    const response = await sender({
      policy: LOCAL_ADDRESS_POLICY,
      lookup: fixedLookup(['127.0.0.1'], asked),
      // The test certificate is self-signed: trust it for this connection only.
      connect: loopbackOnlyConnect(dials, { ca: TLS_CERT }),
    }).send(request({ url: `https://localhost:${server.port}/tls` }));
    expect(response.status).toBe(200);
    expect(response.bodySnippet).toBe('secure');
    expect(asked).toEqual(['localhost']);
    expect(dials.passed).toEqual(['127.0.0.1']);
  });

  it('reports a certificate it cannot verify as a protocol error', async () => {
    const server = await startServer(ok(), { tls: true });
    const error = await sender({ policy: LOCAL_ADDRESS_POLICY })
      .send(request({ url: `https://127.0.0.1:${server.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).kind).toBe('protocol');
    expect(server.received).toHaveLength(0);
  });

  it('refuses an https host that resolves to a private address', async () => {
    const sink = await startServer(ok(), { tls: true });
    const dials = newDials();
    const error = await sender({
      policy: STRICT_ADDRESS_POLICY,
      lookup: fixedLookup(['172.31.0.5']),
      connect: loopbackOnlyConnect(dials, { ca: TLS_CERT }),
    })
      .send(request({ url: `https://internal.example.test:${sink.port}/` }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedRequestError);
    expect(dials.passed).toEqual([]);
    expect(sink.connections).toBe(0);
  });
});
