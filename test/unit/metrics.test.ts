import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../shared/ports/clock.ts';
import { createMetrics, DELIVERY_OUTCOMES, EMF_LIMITS, METRIC } from '../../shared/observability/metrics.ts';
import type { EmfDocument } from '../../shared/observability/metrics.ts';

const NOW = Date.parse('2024-05-01T10:00:00.000Z');
const NAMESPACE = 'DograhWebhooks';

function setup(clock: Clock = { now: () => NOW }) {
  const lines: string[] = [];
  const metrics = createMetrics({ namespace: NAMESPACE, sink: (line) => lines.push(line), clock });
  const docs = () => lines.map((line) => JSON.parse(line) as EmfDocument);
  return { metrics, lines, docs };
}

/**
 * The rules of the EMF specification a document must follow for CloudWatch to extract it;
 * returns what is wrong, empty when valid.
 */
function emfProblems(doc: EmfDocument): string[] {
  const problems: string[] = [];
  const aws = doc._aws;
  if (typeof aws?.Timestamp !== 'number') problems.push('Timestamp is not a number');
  if (!Array.isArray(aws?.CloudWatchMetrics) || aws.CloudWatchMetrics.length === 0) {
    return [...problems, 'CloudWatchMetrics missing'];
  }
  for (const directive of aws.CloudWatchMetrics) {
    if (typeof directive.Namespace !== 'string' || directive.Namespace.length === 0) problems.push('bad Namespace');
    if (directive.Metrics.length > EMF_LIMITS.metricsPerDocument) problems.push('more than 100 metrics');
    for (const set of directive.Dimensions) {
      if (set.length > EMF_LIMITS.dimensionsPerSet) problems.push('more than 30 dimensions');
      for (const name of set) {
        const value = doc[name];
        if (typeof value !== 'string' || value.trim() === '' || !/^[\x20-\x7e]+$/.test(value)) {
          problems.push(`dimension ${name} has no valid string value`);
        }
      }
    }
    for (const { Name } of directive.Metrics) {
      const value = doc[Name];
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0 || values.length > EMF_LIMITS.valuesPerMetric)
        problems.push(`${Name}: ${values.length} values`);
      if (!values.every((v) => typeof v === 'number' && Number.isFinite(v)))
        problems.push(`${Name}: non-numeric value`);
    }
  }
  return problems;
}

function valuesOf(doc: EmfDocument | undefined, name: string): number[] {
  const value = doc?.[name];
  return Array.isArray(value) ? (value as number[]) : [value as number];
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createMetrics: documents', () => {
  it('writes a valid EMF document for a counted delivery outcome', () => {
    const { metrics, lines, docs } = setup();
    metrics.count(METRIC.deliveries, 1, { Outcome: 'delivered' });
    metrics.flush();
    expect(lines).toHaveLength(1);
    expect(docs()[0]).toEqual({
      _aws: {
        Timestamp: NOW,
        CloudWatchMetrics: [
          { Namespace: NAMESPACE, Dimensions: [['Outcome']], Metrics: [{ Name: 'Deliveries', Unit: 'Count' }] },
        ],
      },
      Outcome: 'delivered',
      Deliveries: 1,
    });
  });

  it('writes each document on a single line', () => {
    const { metrics, lines } = setup();
    metrics.count(METRIC.renderedDeliveries, 3);
    metrics.flush();
    expect(lines[0]).not.toMatch(/\n/);
  });

  it('defaults a count to 1', () => {
    const { metrics, docs } = setup();
    metrics.count(METRIC.unrecordedSuccess);
    metrics.flush();
    expect(docs()[0]?.UnrecordedSuccess).toBe(1);
  });

  it('records durations in milliseconds', () => {
    const { metrics, docs } = setup();
    metrics.duration(METRIC.attemptDuration, 123.5);
    metrics.flush();
    const doc = docs()[0];
    expect(doc?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'AttemptDuration', Unit: 'Milliseconds' }]);
    expect(doc?.AttemptDuration).toBe(123.5);
  });

  it('publishes a metric without dimensions under an empty dimension set', () => {
    const { metrics, docs } = setup();
    metrics.count(METRIC.renderedDeliveries, 2);
    metrics.flush();
    expect(docs()[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([[]]);
  });

  it('takes the timestamp from the clock at flush', () => {
    let now = NOW;
    const { metrics, docs } = setup({ now: () => now });
    metrics.count(METRIC.deliveries, 1, { Outcome: 'failed' });
    now = NOW + 5_000;
    metrics.flush();
    expect(docs()[0]?._aws.Timestamp).toBe(NOW + 5_000);
  });
});

describe('createMetrics: grouping', () => {
  it('puts every value of one dimension set in one line, as arrays, without summing', () => {
    const { metrics, lines, docs } = setup();
    metrics.count(METRIC.attemptsPerDelivery, 1);
    metrics.duration(METRIC.attemptDuration, 40);
    metrics.count(METRIC.attemptsPerDelivery, 3);
    metrics.duration(METRIC.attemptDuration, 55);
    metrics.count(METRIC.renderedDeliveries, 2);
    metrics.flush();
    expect(lines).toHaveLength(1);
    const doc = docs()[0];
    expect(doc?.AttemptsPerDelivery).toEqual([1, 3]);
    expect(doc?.AttemptDuration).toEqual([40, 55]);
    expect(doc?.RenderedDeliveries).toBe(2);
    expect(doc?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'AttemptsPerDelivery', Unit: 'Count' },
      { Name: 'AttemptDuration', Unit: 'Milliseconds' },
      { Name: 'RenderedDeliveries', Unit: 'Count' },
    ]);
  });

  it('writes one line per dimension set', () => {
    const { metrics, docs } = setup();
    for (const outcome of DELIVERY_OUTCOMES) metrics.count(METRIC.deliveries, 1, { Outcome: outcome });
    metrics.count(METRIC.deliveries, 1, { Outcome: 'delivered' });
    metrics.flush();
    const byOutcome = Object.fromEntries(docs().map((d) => [d.Outcome, d.Deliveries]));
    expect(byOutcome).toEqual({ delivered: [1, 1], failed: 1, retrying: 1, skipped: 1 });
    expect(docs()).toHaveLength(4);
  });

  it('groups the same dimensions regardless of their order', () => {
    const { metrics, docs } = setup();
    metrics.count('Requests', 1, { Outcome: 'delivered', Method: 'POST' });
    metrics.count('Requests', 1, { Method: 'POST', Outcome: 'delivered' });
    metrics.flush();
    expect(docs()).toHaveLength(1);
    expect(docs()[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['Method', 'Outcome']]);
    expect(docs()[0]).toMatchObject({ Method: 'POST', Outcome: 'delivered', Requests: [1, 1] });
  });

  it('splits more than 100 values of a metric across documents', () => {
    const { metrics, docs } = setup();
    for (let i = 0; i < 250; i++) metrics.duration(METRIC.attemptDuration, i);
    metrics.count(METRIC.renderedDeliveries, 7);
    metrics.flush();
    const written = docs();
    expect(written.map((d) => valuesOf(d, 'AttemptDuration').length)).toEqual([100, 100, 50]);
    expect(written.flatMap((d) => valuesOf(d, 'AttemptDuration'))).toEqual(Array.from({ length: 250 }, (_, i) => i));
    // A metric appears only in the documents that carry its values.
    expect(written.filter((d) => 'RenderedDeliveries' in d)).toHaveLength(1);
    for (const doc of written) expect(emfProblems(doc)).toEqual([]);
  });

  it('splits more than 100 metrics across documents', () => {
    const { metrics, docs } = setup();
    for (let i = 0; i < 150; i++) metrics.count(`Metric${i}`, i, { Outcome: 'delivered' });
    metrics.flush();
    const written = docs();
    expect(written.map((d) => d._aws.CloudWatchMetrics[0]?.Metrics.length)).toEqual([100, 50]);
    const names = written.flatMap((d) => d._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name) ?? []);
    expect(new Set(names).size).toBe(150);
    for (const doc of written) {
      expect(doc.Outcome).toBe('delivered');
      expect(emfProblems(doc)).toEqual([]);
    }
  });

  it('writes valid documents for a mixed batch', () => {
    const { metrics, docs } = setup();
    for (let i = 0; i < 120; i++) {
      metrics.count(METRIC.deliveries, 1, { Outcome: DELIVERY_OUTCOMES[i % 4] ?? 'failed' });
      metrics.duration(METRIC.attemptDuration, i * 3);
      metrics.count(METRIC.attemptsPerDelivery, 1 + (i % 5));
    }
    metrics.count(METRIC.unrecordedSuccess);
    metrics.flush();
    const written = docs();
    expect(written.length).toBeGreaterThan(0);
    for (const doc of written) expect(emfProblems(doc)).toEqual([]);
    const total = written.reduce((sum, d) => sum + ('Deliveries' in d ? valuesOf(d, 'Deliveries').length : 0), 0);
    expect(total).toBe(120);
  });
});

describe('createMetrics: flush', () => {
  it('empties the buffer', () => {
    const { metrics, lines } = setup();
    metrics.count(METRIC.deliveries, 1, { Outcome: 'delivered' });
    metrics.flush();
    metrics.flush();
    expect(lines).toHaveLength(1);
  });

  it('writes nothing when nothing was recorded', () => {
    const { metrics, lines } = setup();
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('starts a new document for values recorded after a flush', () => {
    const { metrics, docs } = setup();
    metrics.count(METRIC.deliveries, 1, { Outcome: 'failed' });
    metrics.flush();
    metrics.count(METRIC.deliveries, 1, { Outcome: 'failed' });
    metrics.flush();
    expect(docs().map((d) => d.Deliveries)).toEqual([1, 1]);
  });

  it('does not throw when the sink throws', () => {
    const metrics = createMetrics({
      namespace: NAMESPACE,
      sink: () => {
        throw new Error('EPIPE');
      },
    });
    metrics.count(METRIC.deliveries, 1, { Outcome: 'delivered' });
    expect(() => metrics.flush()).not.toThrow();
  });

  it('writes to stdout with a trailing newline by default', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const metrics = createMetrics({ namespace: NAMESPACE, clock: { now: () => NOW } });
    metrics.count(METRIC.renderedDeliveries);
    metrics.flush();
    expect(write).toHaveBeenCalledTimes(1);
    const written = String(write.mock.calls[0]?.[0]);
    expect(written.endsWith('\n')).toBe(true);
    expect(emfProblems(JSON.parse(written) as EmfDocument)).toEqual([]);
  });
});

describe('createMetrics: bad input', () => {
  it('drops values that are not finite numbers', () => {
    const { metrics, docs } = setup();
    metrics.duration(METRIC.attemptDuration, Number.NaN);
    metrics.duration(METRIC.attemptDuration, Number.POSITIVE_INFINITY);
    metrics.duration(METRIC.attemptDuration, 12);
    metrics.flush();
    expect(docs()).toHaveLength(1);
    expect(docs()[0]?.AttemptDuration).toBe(12);
  });

  it('writes nothing when every value was dropped', () => {
    const { metrics, lines } = setup();
    metrics.duration(METRIC.attemptDuration, Number.NaN);
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('sanitises dimension values that CloudWatch would reject', () => {
    const { metrics, docs } = setup();
    metrics.count(METRIC.deliveries, 1, { Outcome: '' });
    metrics.count(METRIC.deliveries, 1, { Outcome: 'délivré\n' });
    metrics.count(METRIC.deliveries, 1, { Outcome: 'x'.repeat(2000) });
    metrics.flush();
    const outcomes = docs().map((d) => d.Outcome as string);
    expect(outcomes).toEqual(['unknown', 'd?livr??', 'x'.repeat(EMF_LIMITS.dimensionValueLength)]);
    for (const doc of docs()) expect(emfProblems(doc)).toEqual([]);
  });

  it.each([[''], ['_aws'], [':Leading'], ['Non-ASCII é'], ['x'.repeat(256)]])('rejects the metric name %j', (name) => {
    const { metrics } = setup();
    expect(() => metrics.count(name)).toThrow(TypeError);
  });

  it('rejects a dimension name CloudWatch would reject', () => {
    const { metrics } = setup();
    expect(() => metrics.count(METRIC.deliveries, 1, { '': 'x' })).toThrow(TypeError);
    expect(() => metrics.count(METRIC.deliveries, 1, { _aws: 'x' })).toThrow(TypeError);
  });

  it('rejects more than 30 dimensions', () => {
    const { metrics } = setup();
    const dimensions = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'v']));
    expect(() => metrics.count(METRIC.deliveries, 1, dimensions)).toThrow(TypeError);
  });

  it('rejects a dimension named like the metric', () => {
    const { metrics } = setup();
    expect(() => metrics.count('Outcome', 1, { Outcome: 'delivered' })).toThrow(TypeError);
  });

  it('rejects one name recorded with two units', () => {
    const { metrics } = setup();
    metrics.count('Latency', 1);
    expect(() => metrics.duration('Latency', 5)).toThrow(TypeError);
  });

  it('rejects an empty or overlong namespace', () => {
    expect(() => createMetrics({ namespace: '' })).toThrow(TypeError);
    expect(() => createMetrics({ namespace: 'n'.repeat(256) })).toThrow(TypeError);
  });
});
