import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockedRequestError, NetworkError } from '../../shared/errors.ts';
import type { ConnectFunction } from '../../shared/adapters/guarded-http-sender.ts';
import { LOCAL_ADDRESS_POLICY, STRICT_ADDRESS_POLICY } from '../../shared/net/address-policy.ts';
import {
  fixedLookup,
  loopbackOnlyConnect,
  newDials,
  ok,
  request,
  runCleanups,
  sender,
  startServer,
  TLS_CERT,
} from '../fixtures/guarded-sender.ts';

// Every test here talks to 127.0.0.1 only (see test/fixtures/guarded-sender.ts).

afterEach(runCleanups);

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
