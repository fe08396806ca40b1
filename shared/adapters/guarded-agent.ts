import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { BlockedRequestError } from '../errors.ts';
import { classifyAddress } from '../net/address-policy.ts';
import type { AddressPolicy } from '../net/address-policy.ts';

/**
 * The connection side of the guarded sender (guarded-http-sender.ts): keep-alive agents whose
 * every socket is opened through a lookup that checks each resolved address against the
 * policy, and checked again on connect; and the idle-pool rule that keeps a request off a
 * connection the server may already have closed.
 */

/** What the agent hands to the connect step: `net.connect` / `tls.connect` options, with the guarded `lookup`. */
export type ConnectOptions = net.TcpNetConnectOpts & tls.ConnectionOptions;

/**
 * Opens the socket for a new connection. `options.lookup` is the guarded lookup: an
 * implementation must use it (tests wrap it to watch which addresses get through).
 */
export type ConnectFunction = (options: ConnectOptions, secure: boolean) => net.Socket;

/** What every new connection is opened with. */
export interface SocketGuard {
  readonly policy: AddressPolicy;
  readonly lookup: net.LookupFunction;
  readonly connect: ConnectFunction | undefined;
}

/**
 * A pooled connection idle longer than this is closed rather than reused: below the
 * shortest common server keep-alive timeout (Node's 5 s; nginx 75 s, ALB 60 s), so the
 * server has not closed it first. Wall-clock time, so a Lambda frozen between
 * invocations finds its old connections too old once it thaws.
 */
export const MAX_IDLE_REUSE_MS = 4_000;

/** When each pooled socket became free (set by the agent's keepSocketAlive). */
const idleSince = new WeakMap<Duplex, number>();

/** Closes the agent's free sockets that have been idle too long, before a request could pick one. */
export function dropIdleSockets(agent: http.Agent, nowMs: number, maxIdleMs: number): void {
  for (const sockets of Object.values(agent.freeSockets)) {
    if (sockets === undefined) continue;
    for (let i = sockets.length - 1; i >= 0; i--) {
      const socket = sockets[i]!;
      if (nowMs - (idleSince.get(socket) ?? nowMs) > maxIdleMs) {
        // Out of the free list first: the agent's own cleanup runs on 'close', later.
        sockets.splice(i, 1);
        socket.destroy();
      }
    }
  }
}

/** Wraps a lookup so that every address it returns is checked before Node dials any of them. */
export function guardLookup(inner: net.LookupFunction, policy: AddressPolicy): net.LookupFunction {
  return (hostname, options, callback) => {
    inner(hostname, options, (err, address, family) => {
      if (err) {
        callback(err, address, family);
        return;
      }
      const addresses = typeof address === 'string' ? [address] : address.map((a) => a.address);
      if (addresses.length === 0) {
        callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), address, family);
        return;
      }
      try {
        // All of them: with `all: true` Node may try any address in the list.
        for (const a of addresses) checkAddress(hostname, a, policy);
      } catch (blocked) {
        callback(blocked as BlockedRequestError, address, family);
        return;
      }
      callback(null, address, family);
    });
  };
}

export function checkAddress(host: string, address: string, policy: AddressPolicy): void {
  const verdict = classifyAddress(address, policy);
  if (!verdict.allowed) {
    const shown = host === address ? address : `${host} (${address})`;
    throw new BlockedRequestError(`address ${shown} is not allowed: ${verdict.reason}`);
  }
}

/**
 * Every new connection gets the guarded lookup (whatever the request said) and a
 * remote-address check on connect: defence in depth should some path ever skip the
 * lookup.
 */
function guardSocket(socket: Duplex, options: ConnectOptions, guard: SocketGuard): Duplex {
  if (socket instanceof net.Socket) {
    socket.once('connect', () => {
      const remote = socket.remoteAddress;
      const verdict = remote === undefined ? undefined : classifyAddress(remote, guard.policy);
      if (verdict?.allowed !== true) {
        const reason = verdict === undefined ? 'remote address unknown' : verdict.reason;
        socket.destroy(
          new BlockedRequestError(`address ${options.host ?? '?'} (${remote ?? '?'}) is not allowed: ${reason}`),
        );
      }
    });
  }
  return socket;
}

type CreateConnectionCallback = (err: Error | null, stream: Duplex) => void;

/** The body both agents share: guarded lookup forced in, remote address checked on connect. */
function openGuarded(
  guard: SocketGuard,
  secure: boolean,
  options: http.ClientRequestArgs,
  fallback: (options: ConnectOptions) => Duplex | null | undefined,
): Duplex | null | undefined {
  // Forced here, not only passed per request, so no request option can swap it out.
  const guarded = { ...options, lookup: guard.lookup } as ConnectOptions;
  const socket = guard.connect ? guard.connect(guarded, secure) : fallback(guarded);
  return socket ? guardSocket(socket, guarded, guard) : socket;
}

/**
 * A keep-alive agent of `Base` (http.Agent, or https.Agent, whose own createConnection
 * keeps TLS session reuse) whose every socket is opened through `openGuarded`.
 */
export function guardedAgent(Base: typeof http.Agent, secure: boolean, guard: SocketGuard): http.Agent {
  class GuardedAgent extends Base {
    override createConnection(
      options: http.ClientRequestArgs,
      callback?: CreateConnectionCallback,
    ): Duplex | null | undefined {
      return openGuarded(guard, secure, options, (o) => super.createConnection(o, callback));
    }
    // Typed void in @types/node; Node's agent keeps the socket only when this returns true.
    override keepSocketAlive(socket: net.Socket): void {
      const kept = (super.keepSocketAlive(socket) as unknown) === true;
      if (kept) idleSince.set(socket, Date.now());
      // biome-ignore lint/correctness/noVoidTypeReturn: @types/node types it void, Node reads the boolean
      return kept as unknown as void;
    }
  }
  return new GuardedAgent({ keepAlive: true, scheduling: 'lifo' });
}
