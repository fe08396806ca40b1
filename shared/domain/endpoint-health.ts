import { createHash } from 'node:crypto';
import type { DeliveryMessage } from './delivery.ts';
import { SLOW_MARK_SECONDS, type Lane } from './lanes.ts';
import type { AttemptVerdict } from './retry-policy.ts';

/**
 * Endpoint health: a circuit breaker per organization and endpoint (scheme, host
 * and port, as `endpointHost` writes it). Every decision here is a pure function
 * of the stored health, the time and the outcome; the store only keeps the result.
 *
 * - closed: deliveries go. Consecutive transient failures are counted; at the
 *   threshold the circuit opens.
 * - open: deliveries are deferred (their message hidden) until the cool-down
 *   ends; the cool-down doubles with every opening in a row, up to a cap.
 * - half_open: the cool-down is over and one delivery (the probe) holds a lease
 *   to go; the others wait for its result. A success closes the circuit, a
 *   transient failure opens it again, for longer.
 * - gone: the endpoint answered 410 Gone. Deliveries fail at once until an
 *   operator resets it or a delivery comes from a changed node.
 */
export type CircuitState = 'closed' | 'open' | 'half_open' | 'gone';
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open', 'gone'];

/** The health of one organization's endpoint, as stored. Times are epoch milliseconds. */
export interface EndpointHealth {
  readonly organization_id: string;
  /** `scheme://host[:port]`, the port only when not the scheme's default. */
  readonly endpoint: string;
  readonly state: CircuitState;
  readonly consecutive_failures: number;
  /** Openings in a row without a success between: the cool-down grows with it. */
  readonly opens: number;
  readonly open_until_ms: number | null;
  /** Half-open: until when the current probe holds its lease. */
  readonly probe_until_ms: number | null;
  /** When the last failure streak was ended by a success (a success on a healthy endpoint writes nothing). */
  readonly last_success_ms: number | null;
  readonly last_failure_ms: number | null;
  /** Why the last failure failed, in our words (status or error class), never a response body. */
  readonly last_error: string | null;
  readonly gone_at_ms: number | null;
  /** {@link nodeConfigHash} of the delivery that got the 410. */
  readonly gone_node_hash: string | null;
  /**
   * Until when the endpoint counts as slow: a request to it waited past the slow
   * threshold without an answer ({@link markSlow}). Main-lane deliveries to it go to
   * the slow lane meanwhile (see shared/domain/lanes.ts). Independent of the circuit.
   */
  readonly slow_until_ms: number | null;
  readonly updated_at_ms: number;
  /** Optimistic lock: each write expects the version it read. */
  readonly version: number;
}

/** The circuit's settings (construct props). */
export interface HealthPolicy {
  /** Consecutive transient failures that open the circuit. */
  readonly failureThreshold: number;
  /** First cool-down. */
  readonly cooldownBaseMs: number;
  /** Longest cool-down. */
  readonly cooldownCapMs: number;
}

/** The one owner of the circuit defaults; the config schema and the construct's props derive theirs from it. */
export const DEFAULT_HEALTH_POLICY: HealthPolicy = {
  failureThreshold: 5,
  cooldownBaseMs: 30_000,
  cooldownCapMs: 600_000,
};

/** How one attempt's verdict counts for its endpoint's health. */
export type Observation = 'success' | 'transient' | 'gone' | 'neutral';

/**
 * Success: 2xx, or any other answer that is not transient (a 400 says the
 * endpoint is up). Transient: 408, 425, 429, 5xx, timeouts and connection errors.
 * Gone: 410. Neutral: nothing was learnt of the endpoint (blocked address, a
 * credential rotated mid-attempt, a request we could not build).
 */
export function observationOf(verdict: AttemptVerdict): Observation {
  if (verdict.kind === 'success') return 'success';
  if (verdict.kind === 'permanent') {
    if (verdict.status === 410) return 'gone';
    return verdict.status === null ? 'neutral' : 'success';
  }
  return verdict.errorClass === 'credential' ? 'neutral' : 'transient';
}

/** The cool-down after the `opens`th opening in a row: base, doubled each time, capped. */
export function cooldownMs(opens: number, policy: HealthPolicy): number {
  const exponent = Math.min(30, Math.max(0, opens - 1));
  return Math.min(policy.cooldownCapMs, policy.cooldownBaseMs * 2 ** exponent);
}

/**
 * What a node's deliveries look like to the endpoint, without the run's data: the
 * method, the URL without its query, the credential and the custom headers. A
 * gone mark is cleared when a delivery with another hash comes (the node was
 * edited: new path, new credential), since the 410 was the old config's answer.
 */
export function nodeConfigHash(
  message: Pick<DeliveryMessage, 'node_id' | 'method' | 'url' | 'credential_uuid' | 'headers'>,
): string {
  let target = message.url;
  try {
    const url = new URL(message.url);
    target = `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    // An unparsable URL is its own config.
  }
  const headers = Object.entries(message.headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = JSON.stringify([message.node_id, message.method, target, message.credential_uuid, headers]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** What to do with a delivery before it is claimed. */
export type Gate =
  /** Send it; nothing to write. */
  | { readonly kind: 'send' }
  /** Send it as the probe, once `next` (the probe's lease) is written. */
  | { readonly kind: 'probe'; readonly next: EndpointHealth }
  /** Send it, once `next` is written: the node changed since the 410 (null: the gone mark is removed). */
  | { readonly kind: 'clear_gone'; readonly next: null }
  /** Hide the message this long, without an attempt. */
  | { readonly kind: 'defer'; readonly seconds: number; readonly state: CircuitState }
  /** Fail it now: the endpoint is gone. */
  | { readonly kind: 'gone'; readonly reason: string }
  /**
   * Main lane only: move the message to the slow lane, hidden there `seconds`, without an
   * attempt. `otherwise` is what to do if it cannot be moved (what the gate says without lanes).
   */
  | { readonly kind: 'divert'; readonly seconds: number; readonly cause: DivertCause; readonly otherwise: Fallback };

/** Why a delivery leaves the main lane: its circuit is not closed, or its endpoint is marked slow. */
export type DivertCause = 'open' | 'half_open' | 'slow';

/** What a divert falls back to when the slow lane cannot take the message. */
export type Fallback = Extract<Gate, { readonly kind: 'send' | 'defer' }>;

/**
 * While a probe is in flight the other deliveries look again this often, so they
 * follow soon after a successful probe instead of waiting out its whole lease.
 */
export const HALF_OPEN_RECHECK_SECONDS = 5;

/**
 * The gate in front of a delivery. `probeLeaseMs` is how long a probe may take
 * (its request timeout and a margin): no second probe goes before it ends.
 * `redriven`: an operator redrove this delivery (they say the endpoint is fixed), so an
 * open or half-open circuit lets it go at once; its success closes the circuit. The
 * redrive's own rate limit (`--max-per-second`) paces them. A gone mark still holds:
 * the operator resets it first.
 *
 * `lane`: where the message was received, when there is a slow lane (undefined: there is
 * none). On the main lane, a delivery the circuit would defer, or one to an endpoint
 * marked slow, is diverted to the slow lane instead, so it holds no main-lane Lambda and
 * no main-lane receive; a probe still goes from where it is, and a redriven delivery is
 * never diverted (it goes at once). On the slow lane the gate is as without lanes.
 */
export function gate(
  health: EndpointHealth | undefined,
  nowMs: number,
  nodeHash: string,
  probeLeaseMs: number,
  redriven = false,
  lane?: Lane,
): Gate {
  const decision = circuitGate(health, nowMs, nodeHash, probeLeaseMs, redriven);
  if (lane !== 'main' || redriven || health === undefined) return decision;
  if (decision.kind === 'defer') {
    return {
      kind: 'divert',
      seconds: decision.seconds,
      cause: decision.state === 'open' ? 'open' : 'half_open',
      otherwise: decision,
    };
  }
  if (decision.kind === 'send' && isSlow(health, nowMs)) {
    return { kind: 'divert', seconds: 0, cause: 'slow', otherwise: decision };
  }
  return decision;
}

/** Whether the endpoint's slow mark holds at `nowMs`. */
export function isSlow(health: EndpointHealth | undefined, nowMs: number): boolean {
  return health?.slow_until_ms != null && health.slow_until_ms > nowMs;
}

/**
 * The health with the endpoint marked slow until `SLOW_MARK_SECONDS` from now, or
 * undefined when there is nothing to write: the mark still holds, or the endpoint is
 * gone (nothing is sent to it). Nothing else changes: a slow endpoint is not a failing one.
 */
export function markSlow(
  health: EndpointHealth | undefined,
  nowMs: number,
  context: Pick<OutcomeContext, 'organizationId' | 'endpoint'>,
): EndpointHealth | undefined {
  if (health?.state === 'gone' || isSlow(health, nowMs)) return undefined;
  return {
    ...(health ?? fresh(context, nowMs)),
    slow_until_ms: nowMs + SLOW_MARK_SECONDS * 1000,
    updated_at_ms: nowMs,
  };
}

function circuitGate(
  health: EndpointHealth | undefined,
  nowMs: number,
  nodeHash: string,
  probeLeaseMs: number,
  redriven: boolean,
): Exclude<Gate, { kind: 'divert' }> {
  if (health === undefined) return { kind: 'send' };
  if (redriven && (health.state === 'open' || health.state === 'half_open')) return { kind: 'send' };
  switch (health.state) {
    case 'closed':
      return { kind: 'send' };
    case 'gone':
      if (health.gone_node_hash !== nodeHash) return { kind: 'clear_gone', next: null };
      return { kind: 'gone', reason: goneReason(health) };
    case 'open':
      if (health.open_until_ms !== null && health.open_until_ms > nowMs) {
        return { kind: 'defer', seconds: secondsUntil(health.open_until_ms, nowMs), state: 'open' };
      }
      return {
        kind: 'probe',
        next: { ...health, state: 'half_open', probe_until_ms: nowMs + probeLeaseMs, updated_at_ms: nowMs },
      };
    case 'half_open':
      if (health.probe_until_ms !== null && health.probe_until_ms > nowMs) {
        return {
          kind: 'defer',
          seconds: Math.min(HALF_OPEN_RECHECK_SECONDS, secondsUntil(health.probe_until_ms, nowMs)),
          state: 'half_open',
        };
      }
      // The last probe's lease ran out without a result (its worker died): another goes.
      return { kind: 'probe', next: { ...health, probe_until_ms: nowMs + probeLeaseMs, updated_at_ms: nowMs } };
  }
}

/** A change of state worth a log line and a metric. */
export interface Transition {
  readonly from: CircuitState;
  readonly to: CircuitState;
}

/** The health after an attempt: `unchanged` writes nothing. */
export type AfterObservation =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'write'; readonly next: EndpointHealth; readonly transition?: Transition };

/** What an attempt tells of its endpoint, besides the observation. */
export interface OutcomeContext {
  readonly organizationId: string;
  readonly endpoint: string;
  readonly nodeHash: string;
  /** Short, ours: `HTTP 503`, `timeout`. */
  readonly error: string | null;
}

/** The stored health after one attempt's outcome. A success on a closed circuit with no failures writes nothing. */
export function afterObservation(
  health: EndpointHealth | undefined,
  observation: Observation,
  nowMs: number,
  policy: HealthPolicy,
  context: OutcomeContext,
): AfterObservation {
  const unchanged = { kind: 'unchanged' } as const;
  if (observation === 'neutral') return unchanged;
  // Only an operator or a changed node clears a gone mark; a late answer of an earlier send does not.
  if (health?.state === 'gone') return unchanged;
  const base = health ?? fresh(context, nowMs);
  switch (observation) {
    case 'success': {
      if (health === undefined || (health.state === 'closed' && health.consecutive_failures === 0)) return unchanged;
      const next: EndpointHealth = {
        ...base,
        state: 'closed',
        consecutive_failures: 0,
        opens: 0,
        open_until_ms: null,
        probe_until_ms: null,
        last_success_ms: nowMs,
        updated_at_ms: nowMs,
      };
      return health.state === 'closed'
        ? { kind: 'write', next }
        : { kind: 'write', next, transition: { from: health.state, to: 'closed' } };
    }
    case 'gone':
      return {
        kind: 'write',
        next: {
          ...base,
          state: 'gone',
          gone_at_ms: nowMs,
          gone_node_hash: context.nodeHash,
          open_until_ms: null,
          probe_until_ms: null,
          last_failure_ms: nowMs,
          last_error: 'HTTP 410 Gone',
          updated_at_ms: nowMs,
        },
        transition: { from: base.state, to: 'gone' },
      };
    case 'transient': {
      // A send that began before the circuit opened: it changes nothing the opening did not.
      if (base.state === 'open') return unchanged;
      const failures = base.consecutive_failures + 1;
      const counted = {
        ...base,
        consecutive_failures: failures,
        last_failure_ms: nowMs,
        last_error: context.error,
        updated_at_ms: nowMs,
      };
      if (base.state === 'half_open' || failures >= policy.failureThreshold) {
        const opens = base.opens + 1;
        return {
          kind: 'write',
          next: {
            ...counted,
            state: 'open',
            opens,
            open_until_ms: nowMs + cooldownMs(opens, policy),
            probe_until_ms: null,
          },
          transition: { from: base.state, to: 'open' },
        };
      }
      return { kind: 'write', next: counted };
    }
  }
}

/** Why a delivery to a gone endpoint fails, for the outcome log and `webhooks failures`. */
export function goneReason(health: EndpointHealth): string {
  const host = hostOf(health.endpoint);
  const at = health.gone_at_ms === null ? 'earlier' : `at ${new Date(health.gone_at_ms).toISOString()}`;
  return `endpoint gone: ${health.endpoint} answered 410 Gone ${at}; not sent. Deliveries to it fail until an operator runs "webhooks endpoints reset ${host}" or the node changes`;
}

/** The host of an endpoint key, as `webhooks endpoints reset HOST` takes it. */
export function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).hostname;
  } catch {
    return endpoint;
  }
}

function fresh(context: Pick<OutcomeContext, 'organizationId' | 'endpoint'>, nowMs: number): EndpointHealth {
  return {
    organization_id: context.organizationId,
    endpoint: context.endpoint,
    state: 'closed',
    consecutive_failures: 0,
    opens: 0,
    open_until_ms: null,
    probe_until_ms: null,
    last_success_ms: null,
    last_failure_ms: null,
    last_error: null,
    gone_at_ms: null,
    gone_node_hash: null,
    slow_until_ms: null,
    updated_at_ms: nowMs,
    version: 0,
  };
}

function secondsUntil(atMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((atMs - nowMs) / 1000));
}
