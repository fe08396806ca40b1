import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockedRequestError, NetworkError } from '../../shared/errors.ts';
import { closedPort, fixedLookup, ok, request, runCleanups, sender, startServer } from '../fixtures/guarded-sender.ts';

// Every test here talks to 127.0.0.1 only (see test/fixtures/guarded-sender.ts).

afterEach(runCleanups);

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
