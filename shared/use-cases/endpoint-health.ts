import type { DeliveryMessage } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import {
  afterObservation,
  DEFAULT_HEALTH_POLICY,
  gate,
  markSlow,
  nodeConfigHash,
  observationOf,
  type EndpointHealth,
  type Gate,
  type HealthPolicy,
  type Transition,
} from '../domain/endpoint-health.ts';
import { SLOW_MARK_SECONDS, type Lane } from '../domain/lanes.ts';
import type { AttemptVerdict } from '../domain/retry-policy.ts';
import { DIMENSION, METRIC } from '../observability/metrics.ts';
import type { Clock } from '../ports/clock.ts';
import type { EndpointHealthStore } from '../ports/endpoint-health-store.ts';
import type { Log, Metrics } from './observability.ts';

/** The deliver side's view of endpoint health: a gate before a delivery is claimed, an update after each attempt's verdict. */
export interface EndpointHealthGuard {
  /**
   * What to do with this delivery. `lane`: where its message was received, when there is a
   * slow lane (see `gate`). Never rejects: a store that fails lets deliveries go (health is
   * an optimisation, not a guarantee).
   */
  before(message: DeliveryMessage, probeLeaseMs: number, log: Log, redriven?: boolean, lane?: Lane): Promise<Gate>;
  /** Counts the attempt's verdict; writes only on a failure or a change of state. Never rejects. */
  after(message: DeliveryMessage, verdict: AttemptVerdict, log: Log): Promise<void>;
  /**
   * Call as a request to the message's endpoint starts; call what it returns when the answer
   * (or the error) comes. A request still waiting after `slowAfterMs` marks its endpoint slow
   * at once, in the background: at most one write per endpoint per container while the mark
   * holds, never a delay or an error for the request. Without `slowAfterMs`, nothing.
   */
  watch(message: DeliveryMessage, log: Log): () => void;
}

export interface EndpointHealthGuardOptions {
  readonly store: EndpointHealthStore;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly policy?: HealthPolicy;
  /** How long a warm container trusts what it read (or wrote). Default 5 s. */
  readonly cacheTtlMs?: number;
  /** Most endpoints remembered per container. Default 10,000. */
  readonly cacheEntries?: number;
  /** In [0, 1): spreads deferrals over up to a fifth more, so a backlog does not come back all at once. Default Math.random. */
  readonly random?: () => number;
  /** A request unanswered this long marks its endpoint slow (the slow lane's threshold). Absent: no slow marks. */
  readonly slowAfterMs?: number;
}

interface Cached {
  readonly health: EndpointHealth | undefined;
  readonly atMs: number;
}

const CONFLICT_RETRIES = 3;

/**
 * Endpoint health for one warm container. Reads go through a cache of a few
 * seconds, so a burst of deliveries to one endpoint costs one GetItem per
 * endpoint per TTL, and a success on a healthy endpoint costs nothing.
 */
export function createEndpointHealthGuard(options: EndpointHealthGuardOptions): EndpointHealthGuard {
  const { store, clock, metrics } = options;
  const policy = options.policy ?? DEFAULT_HEALTH_POLICY;
  const ttlMs = options.cacheTtlMs ?? 5_000;
  const maxEntries = options.cacheEntries ?? 10_000;
  const cache = new Map<string, Cached>();
  const random = options.random ?? Math.random;
  // Until when each endpoint's slow mark holds, as this container wrote or tried it: one write per mark.
  const slowMarks = new Map<string, number>();

  const keyOf = (org: string, endpoint: string) => `${org}\u0000${endpoint}`;
  function remember(org: string, endpoint: string, health: EndpointHealth | undefined): void {
    const key = keyOf(org, endpoint);
    cache.delete(key);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, { health, atMs: clock.now() });
  }
  async function read(org: string, endpoint: string, fresh = false): Promise<EndpointHealth | undefined> {
    const hit = cache.get(keyOf(org, endpoint));
    if (!fresh && hit !== undefined && clock.now() - hit.atMs < ttlMs) return hit.health;
    const health = await store.get(org, endpoint);
    remember(org, endpoint, health);
    return health;
  }
  function announce(transition: Transition, health: EndpointHealth, log: Log): void {
    const fields = {
      endpoint_host: health.endpoint,
      from: transition.from,
      to: transition.to,
      consecutive_failures: health.consecutive_failures,
      ...(health.open_until_ms === null ? {} : { open_until: new Date(health.open_until_ms).toISOString() }),
    };
    const text =
      transition.to === 'open'
        ? 'endpoint circuit opened: deliveries to it are deferred'
        : transition.to === 'half_open'
          ? 'endpoint circuit half-open: one probe delivery goes'
          : transition.to === 'closed'
            ? 'endpoint circuit closed: deliveries go again'
            : 'endpoint gone (410): its deliveries fail until it is reset or the node changes';
    if (transition.to === 'open' || transition.to === 'gone') log.warn(text, fields);
    else log.info(text, fields);
    metrics.count(METRIC.circuitTransitions, 1, { [DIMENSION.to]: transition.to });
  }

  /** A deferral spread over up to a fifth more; 0 stays 0. */
  const spread = (seconds: number) => seconds + Math.floor(random() * Math.max(1, seconds / 5));

  async function writeSlowMark(org: string, endpoint: string, log: Log): Promise<void> {
    try {
      let health = await read(org, endpoint);
      for (let i = 0; i <= CONFLICT_RETRIES; i++) {
        const next = markSlow(health, clock.now(), { organizationId: org, endpoint });
        if (next === undefined) {
          // Another container marked it (or it is gone): remember its mark, write nothing.
          if (health?.slow_until_ms != null) slowMarks.set(keyOf(org, endpoint), health.slow_until_ms);
          return;
        }
        const expected = health?.version ?? 0;
        if (await store.put(next, expected)) {
          remember(org, endpoint, { ...next, version: expected + 1 });
          slowMarks.set(keyOf(org, endpoint), next.slow_until_ms ?? 0);
          log.info('endpoint marked slow: its next main-lane deliveries go to the slow lane', {
            endpoint_host: endpoint,
            slow_until: new Date(next.slow_until_ms ?? 0).toISOString(),
          });
          metrics.count(METRIC.slowEndpointMarks, 1);
          return;
        }
        health = await read(org, endpoint, true);
      }
      log.warn('endpoint not marked slow: too many concurrent writes', { endpoint_host: endpoint });
    } catch (error) {
      log.warn('endpoint not marked slow', { endpoint_host: endpoint, error });
    }
  }

  return {
    watch(message, log) {
      const slowAfterMs = options.slowAfterMs;
      const endpoint = endpointHost(message.url);
      if (slowAfterMs === undefined || endpoint === '') return () => undefined;
      const timer = setTimeout(() => {
        const key = keyOf(message.organization_id, endpoint);
        const now = clock.now();
        if ((slowMarks.get(key) ?? 0) > now) return;
        // Taken before the write, so the other requests hanging on it in this container write nothing.
        slowMarks.delete(key);
        if (slowMarks.size >= maxEntries) slowMarks.delete(slowMarks.keys().next().value as string);
        slowMarks.set(key, now + SLOW_MARK_SECONDS * 1000);
        void writeSlowMark(message.organization_id, endpoint, log);
      }, slowAfterMs);
      // A hanging request must not keep a process that is done alive.
      timer.unref();
      return () => clearTimeout(timer);
    },

    async before(message, probeLeaseMs, log, redriven = false, lane) {
      const endpoint = endpointHost(message.url);
      if (endpoint === '') return { kind: 'send' };
      const hash = nodeConfigHash(message);
      try {
        let health = await read(message.organization_id, endpoint);
        for (let i = 0; ; i++) {
          const decision = gate(health, clock.now(), hash, probeLeaseMs, redriven, lane);
          if (decision.kind === 'defer') {
            metrics.count(METRIC.deferredDeliveries, 1, { [DIMENSION.state]: decision.state });
            return { ...decision, seconds: spread(decision.seconds) };
          }
          if (decision.kind === 'divert') {
            // Counted by the caller, which knows whether the slow lane took it or it fell back.
            const seconds = spread(decision.seconds);
            const otherwise =
              decision.otherwise.kind === 'defer' ? { ...decision.otherwise, seconds } : decision.otherwise;
            return { ...decision, seconds, otherwise };
          }
          if (decision.kind === 'send' || decision.kind === 'gone') {
            if (decision.kind === 'gone') metrics.count(METRIC.goneDeliveries, 1);
            return decision;
          }
          // probe or clear_gone: only the worker whose write holds goes.
          const wrote =
            decision.kind === 'probe'
              ? await store.put(decision.next, health?.version ?? 0)
              : await store.remove(message.organization_id, endpoint).then(() => true);
          if (wrote) {
            if (decision.kind === 'probe') {
              remember(message.organization_id, endpoint, { ...decision.next, version: (health?.version ?? 0) + 1 });
              if (health !== undefined && health.state !== 'half_open')
                announce({ from: health.state, to: 'half_open' }, decision.next, log);
            } else {
              remember(message.organization_id, endpoint, undefined);
              log.info('endpoint gone mark cleared: the node changed since its 410', { endpoint_host: endpoint });
              metrics.count(METRIC.circuitTransitions, 1, { [DIMENSION.to]: 'closed' });
            }
            return decision;
          }
          if (i >= CONFLICT_RETRIES) return { kind: 'defer', seconds: 1, state: health?.state ?? 'closed' };
          health = await read(message.organization_id, endpoint, true);
        }
      } catch (error) {
        log.warn('endpoint health unavailable: sending without it', { endpoint_host: endpoint, error });
        return { kind: 'send' };
      }
    },

    async after(message, verdict, log) {
      const endpoint = endpointHost(message.url);
      if (endpoint === '') return;
      const observation = observationOf(verdict);
      if (observation === 'neutral') return;
      const context = {
        organizationId: message.organization_id,
        endpoint,
        nodeHash: nodeConfigHash(message),
        error:
          verdict.kind === 'success' ? null : verdict.status === null ? verdict.errorClass : `HTTP ${verdict.status}`,
      };
      try {
        let health = await read(message.organization_id, endpoint);
        for (let i = 0; i <= CONFLICT_RETRIES; i++) {
          const change = afterObservation(health, observation, clock.now(), policy, context);
          if (change.kind === 'unchanged') return;
          const expected = health?.version ?? 0;
          if (await store.put(change.next, expected)) {
            const stored = { ...change.next, version: expected + 1 };
            remember(message.organization_id, endpoint, stored);
            if (change.transition !== undefined) announce(change.transition, stored, log);
            return;
          }
          health = await read(message.organization_id, endpoint, true);
        }
        log.warn('endpoint health not updated: too many concurrent writes', { endpoint_host: endpoint });
      } catch (error) {
        log.warn('endpoint health not updated', { endpoint_host: endpoint, error });
      }
    },
  };
}
