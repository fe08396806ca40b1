import type { EndpointHealth } from '../domain/endpoint-health.ts';

/**
 * Where endpoint health is kept. Writes are optimistic: `put` holds only if the
 * stored version is still the one the caller computed from, so two workers that
 * saw the same failure streak cannot both open (or both probe) a circuit.
 */
export interface EndpointHealthStore {
  get(organizationId: string, endpoint: string): Promise<EndpointHealth | undefined>;
  /**
   * Writes `next` (its version becomes `expectedVersion + 1`) if the stored item is
   * still at `expectedVersion` (0: no item). Resolves false when another write came first.
   */
  put(next: EndpointHealth, expectedVersion: number): Promise<boolean>;
  /** Forgets an endpoint: its circuit is closed with no failures. Resolves false if it held nothing. */
  remove(organizationId: string, endpoint: string): Promise<boolean>;
  /** Every tracked endpoint, or one organization's. Small: only endpoints that ever failed are kept. */
  list(organizationId?: string): Promise<EndpointHealth[]>;
}
