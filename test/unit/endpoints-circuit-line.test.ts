import { describe, expect, it } from 'vitest';
import { circuitLine } from '../../cli/commands/endpoints.ts';
import type { EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import { makeEndpointHealth } from '../fixtures/endpoint-health.ts';

// The circuit line of `inspect` and `failures`, with the slow mark.
const T0 = Date.parse('2026-11-27T10:00:00Z');

function health(overrides: Partial<EndpointHealth>): EndpointHealth {
  return makeEndpointHealth(T0, overrides);
}

describe('circuitLine', () => {
  it('says nothing of a healthy endpoint, nor of a slow mark that has run out', () => {
    expect(circuitLine(health({}), T0)).toBeUndefined();
    expect(circuitLine(health({ slow_until_ms: T0 }), T0)).toBeUndefined();
  });

  it('names a slow mark while it holds, alone or after the circuit', () => {
    expect(circuitLine(health({ slow_until_ms: T0 + 60_000 }), T0)).toBe(
      'marked slow until 2026-11-27 10:01:00 UTC: deliveries go to the slow lane',
    );
    expect(circuitLine(health({ consecutive_failures: 2, slow_until_ms: T0 + 60_000 }), T0)).toBe(
      'closed, 2 transient failures in a row; marked slow until 2026-11-27 10:01:00 UTC: deliveries go to the slow lane',
    );
  });
});
