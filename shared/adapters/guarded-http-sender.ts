import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { BlockedRequestError, NetworkError, WebhookError } from '../errors.ts';
import { isHeaderName } from '../domain/headers.ts';
import { parseIpAddress } from '../net/address-policy.ts';
import type { AddressPolicy } from '../net/address-policy.ts';
import type { HttpResponse, HttpSender, OutboundRequest } from '../ports/http-sender.ts';
import {
  checkAddress,
  type ConnectFunction,
  dropIdleSockets,
  guardedAgent,
  guardLookup,
  MAX_IDLE_REUSE_MS,
  type SocketGuard,
} from './guarded-agent.ts';

export { type ConnectFunction, type ConnectOptions, MAX_IDLE_REUSE_MS } from './guarded-agent.ts';

/** Default cap on how much of a response body is read: enough for an error message, not a download. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** How a guarded sender is built. */
export interface GuardedHttpSenderOptions {
  /** Which addresses may be dialled; see `shared/net/address-policy.ts`. */
  readonly policy: AddressPolicy;
  /** Read at most this many bytes of a response body, then stop. Default 64 KiB. */
  readonly maxResponseBytes?: number;
  /** Resolves host names, as `dns.lookup` does for `net.connect`. Default `dns.lookup`. */
  readonly lookup?: net.LookupFunction;
  /** Opens a socket. Default: the agent's own (`net.connect`, or `tls.connect` with session reuse). */
  readonly connect?: ConnectFunction;
  /** A pooled connection idle longer than this is not reused. Default {@link MAX_IDLE_REUSE_MS}. */
  readonly maxIdleReuseMs?: number;
}

/** An `HttpSender` that owns keep-alive connection pools. */
export interface GuardedHttpSender extends HttpSender {
  /** Destroys pooled connections and any request still on them. Only needed where the process must exit promptly (tests, CLI). */
  close(): void;
}

// Header names we compute ourselves: a caller's value could disagree with the body
// actually sent and desynchronise the connection for the next request on it.
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding']);
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
// What Node itself accepts in a header value; anything else would throw inside http.request.
const HEADER_VALUE_FORBIDDEN = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Builds an `HttpSender` on `node:http` / `node:https` that only talks to addresses
 * the policy allows.
 *
 * Every address is checked when the socket is about to connect, through the
 * `lookup` the connection uses, so a DNS answer that changes between a pre-check and
 * the connect (rebinding) is still caught; literal IP hosts, which Node never looks
 * up, are checked before the request; the socket's remote address is checked again
 * on connect. Redirects are never followed. Connections are pooled per sender so a
 * warm Lambda reuses them across invocations.
 */
export function createGuardedHttpSender(options: GuardedHttpSenderOptions): GuardedHttpSender {
  const { policy } = options;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new RangeError('maxResponseBytes must be a non-negative integer');
  }
  const maxIdleReuseMs = options.maxIdleReuseMs ?? MAX_IDLE_REUSE_MS;
  const lookup = guardLookup(options.lookup ?? (dns.lookup as net.LookupFunction), policy);
  const guard: SocketGuard = { policy, lookup, connect: options.connect };
  const agents = {
    'http:': guardedAgent(http.Agent, false, guard),
    'https:': guardedAgent(https.Agent, true, guard),
  };

  const targets = new TargetCache(TARGETS_KEPT);

  return {
    async send(request: OutboundRequest): Promise<HttpResponse> {
      const started = performance.now();
      const target = targets.of(request.url);
      const headers = buildHeaders(request);
      if (target.literalIp) checkAddress(target.host, target.host, policy);

      const exchange: Exchange = {
        request,
        target,
        headers,
        agent: agents[target.protocol],
        lookup,
        maxResponseBytes,
        started,
        deadline: started + request.timeoutMs,
      };
      // One request per attempt, never resent here: a reset after the server read the
      // request looks the same as a reset of a connection it had closed while idle, so a
      // resend could deliver the attempt twice with only one on record. Instead no
      // connection is reused that has sat idle long enough for a server to close it.
      dropIdleSockets(exchange.agent, Date.now(), maxIdleReuseMs);
      return exchangeOnce(exchange);
    },
    close(): void {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

export interface Target {
  readonly protocol: 'http:' | 'https:';
  /** Host name or IP, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly literalIp: boolean;
  /** `scheme://host` for messages: never the path or query. */
  readonly display: string;
}

interface Exchange {
  readonly request: OutboundRequest;
  readonly target: Target;
  readonly headers: Record<string, string>;
  readonly agent: http.Agent;
  readonly lookup: net.LookupFunction;
  readonly maxResponseBytes: number;
  readonly started: number;
  readonly deadline: number;
}

/** Endpoint URLs whose parse a sender keeps: a warm instance sends to a few endpoints again and again. */
const TARGETS_KEPT = 1_000;

/**
 * Parsed endpoint URLs by their text, the least recently used dropped past `capacity`, so
 * memory stays bounded whatever URLs tenants render. A URL that does not parse is not kept:
 * it throws every time, as it did.
 */
export class TargetCache {
  private readonly kept = new Map<string, Target>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  of(raw: string): Target {
    const hit = this.kept.get(raw);
    if (hit !== undefined) {
      // Most recently used last, so the first key is the one to drop.
      this.kept.delete(raw);
      this.kept.set(raw, hit);
      return hit;
    }
    const target = parseTarget(raw);
    this.kept.set(raw, target);
    if (this.kept.size > this.capacity) this.kept.delete(this.kept.keys().next().value as string);
    return target;
  }
}

function parseTarget(raw: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // No cause: URL errors carry the whole input, path and query included.
    throw new BlockedRequestError('endpoint URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BlockedRequestError(`scheme ${url.protocol} is not allowed: only http and https`);
  }
  // WHATWG parsing has already rewritten 0x7f.1, 2130706433, ... as dotted decimal
  // and compressed IPv6; IPv6 keeps its brackets, which Node does not want.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return {
    protocol: url.protocol,
    host,
    port,
    path: `${url.pathname}${url.search}`,
    literalIp: parseIpAddress(host) !== undefined,
    // Scheme, host and port (when not the default): which receiver it was, never the path.
    display: `${url.protocol}//${url.host}`,
  };
}

function buildHeaders(request: OutboundRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    // Messages name the header but never show its value: values may hold secrets.
    if (!isHeaderName(name)) throw new BlockedRequestError('a header name is not a valid HTTP token');
    if (/[\r\n]/.test(value)) throw new BlockedRequestError(`header ${name}: value contains CR or LF`);
    if (HEADER_VALUE_FORBIDDEN.test(value)) {
      throw new BlockedRequestError(`header ${name}: value contains a control or non-Latin-1 character`);
    }
    if (FRAMING_HEADERS.has(name.toLowerCase())) continue;
    out[name] = value;
  }
  if (request.body !== null) {
    out['Content-Length'] = String(Buffer.byteLength(request.body, 'utf8'));
  } else if (METHODS_WITH_BODY.has(request.method)) {
    // Without it Node would announce a chunked body for these methods.
    out['Content-Length'] = '0';
  }
  return out;
}

function exchangeOnce(x: Exchange): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const { request, target } = x;
    let settled = false;

    let req: http.ClientRequest;
    try {
      req = (target.protocol === 'https:' ? https : http).request({
        protocol: target.protocol,
        hostname: target.host,
        port: target.port,
        path: target.path,
        method: request.method,
        headers: x.headers,
        agent: x.agent,
        // The agent forces the guarded lookup too; passing it here keeps the intent visible.
        lookup: x.lookup,
      });
    } catch {
      // Node refuses some inputs synchronously. No cause: its message may quote a value.
      reject(new BlockedRequestError(`${describe(x)}: request could not be built`));
      return;
    }

    const timer = setTimeout(
      () => fail(new NetworkError('timeout', `${describe(x)}: no complete response within ${request.timeoutMs} ms`)),
      Math.max(0, x.deadline - performance.now()),
    );

    function settle(): boolean {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    }
    function fail(error: Error): void {
      if (!settle()) return;
      req.destroy();
      reject(error);
    }

    req.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      fail(toSendError(error, x));
    });

    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;

      const finish = (): void => {
        if (!settle()) return;
        const snippet = new TextDecoder('utf-8').decode(Buffer.concat(chunks, size), { stream: true });
        // The headers are flattened when first read: a caller reads one (retry-after) of a
        // response that is not a success, and Node parses `res.headers` itself only on access.
        let headers: Record<string, string> | undefined;
        resolve({
          status: res.statusCode ?? 0,
          get headers() {
            headers ??= flattenHeaders(res.headers);
            return headers;
          },
          bodySnippet: snippet,
          durationMs: performance.now() - x.started,
        });
      };
      // Reading stops at the cap; dropping the connection is cheaper than draining an
      // unbounded body we will never look at.
      const stop = (): void => {
        finish();
        res.destroy();
      };

      if (x.maxResponseBytes === 0) {
        stop();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = x.maxResponseBytes - size;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        size += part.length;
        if (size >= x.maxResponseBytes) stop();
      });
      res.on('end', finish);
      res.on('error', (error: NodeJS.ErrnoException) => fail(toSendError(error, x)));
      res.on('close', () => {
        if (!res.complete) fail(new NetworkError('connection', `${describe(x)}: response body cut short`));
      });
    });

    req.end(request.body ?? undefined);
  });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
]);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'ENODATA']);

/**
 * Maps a socket or HTTP error to the port's errors. Messages carry method and host
 * only: the path, query and header values may hold secrets and these messages are logged.
 */
function toSendError(error: NodeJS.ErrnoException, x: Exchange): WebhookError {
  if (error instanceof WebhookError) return error;
  const code = error.code ?? '';
  const kind = errorKind(code);
  const what = {
    dns: 'host name did not resolve',
    timeout: 'connect timed out',
    connection: 'connection failed',
    protocol: 'protocol error',
  }[kind];
  return new NetworkError(kind, `${describe(x)}: ${what}${code === '' ? '' : ` (${code})`}`, { cause: error });
}

function errorKind(code: string): NetworkError['kind'] {
  if (DNS_CODES.has(code)) return 'dns';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (CONNECTION_CODES.has(code)) return 'connection';
  if (/^(HPE_|ERR_TLS|ERR_SSL|EPROTO$)|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) return 'protocol';
  // Anything else also failed on the wire; `connection` keeps it retryable.
  return 'connection';
}

function describe(x: Exchange): string {
  return `${x.request.method} ${x.target.display}`;
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  // fromEntries defines own properties, so a header named __proto__ stays a header.
  return Object.fromEntries(
    Object.entries(headers)
      .filter((entry): entry is [string, string | string[]] => entry[1] !== undefined)
      .map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]),
  );
}
