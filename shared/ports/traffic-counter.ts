/**
 * Counts each organization's deliveries per fair-share window (see
 * shared/domain/lanes.ts), so render can route what is past the share to the slow lane.
 */
export interface TrafficCounter {
  /**
   * Adds `deliveries` to the organization's count of the window `nowMs` falls in and
   * returns the count with them, or an estimate of it (an implementation may sample).
   * Never rejects: a counter that fails answers 0, and the deliveries take the main lane.
   */
  add(organizationId: string, deliveries: number, nowMs: number): Promise<number>;
}
