/**
 * Two delivery lanes (issue 8, fairness): the main queue, where every
 * organization's first attempts go while it stays within its fair share, and
 * the slow lane, a second queue with its own small concurrency, which takes
 *
 * - an organization's deliveries past its fair share in a window (a campaign
 *   of 100,000 calls): render routes them there, so the main queue never holds
 *   more than a few seconds of work for anyone;
 * - deliveries to an endpoint that is slow, or whose circuit is not closed:
 *   deliver moves them there instead of holding a main-lane Lambda.
 *
 * SQS fair queues (a MessageGroupId per organization on a standard queue, set on
 * every message) do the first part inside AWS as well; the lanes do not depend on it,
 * and they are what the local stack and the benches can measure (fauxqs ignores
 * MessageGroupId). Every decision here is a pure function.
 */
export type Lane = 'main' | 'slow';

/** An organization's fair share of the main lane: this many deliveries per window. */
export interface FairSharePolicy {
  readonly deliveries: number;
  readonly windowSeconds: number;
}

/**
 * 100 deliveries per 10 s per organization: 10 per second is far above what one
 * organization's calls end at in normal use, and 10 such organizations at once fill
 * a tenth of the stack's default 10 × 10 concurrent sends with a 1 s endpoint.
 */
export const DEFAULT_FAIR_SHARE: FairSharePolicy = { deliveries: 100, windowSeconds: 10 };

/**
 * A request still waiting for its answer after this long marks its endpoint slow:
 * the endpoint's next deliveries go to the slow lane, before any timeout or circuit.
 */
export const DEFAULT_SLOW_ENDPOINT_MS = 2_000;

/** How long a slow mark holds after it was last set: the next deliveries try the main lane again after it. */
export const SLOW_MARK_SECONDS = 60;

/** The window a time falls in: its number since the epoch. */
export function windowOf(nowMs: number, policy: FairSharePolicy): number {
  return Math.floor(nowMs / (policy.windowSeconds * 1000));
}

/** Where an organization's deliveries go, given its count in this window with them included. */
export function laneForCount(countWithThese: number, policy: FairSharePolicy): Lane {
  return countWithThese > policy.deliveries ? 'slow' : 'main';
}
