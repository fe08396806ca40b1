/**
 * Metrics as CloudWatch Embedded Metric Format (EMF) log lines: CloudWatch Logs extracts them
 * asynchronously, so recording a metric costs no API call and no latency in the handler.
 *
 * Values are buffered and written by `flush()`, one document per dimension set (more only when a
 * limit forces it), with every value of a metric kept as an array entry rather than pre-summed:
 * `AttemptsPerDelivery` and `AttemptDuration` are distributions, and a sum would lose their
 * percentiles and sample counts.
 *
 * Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import { systemClock } from '../ports/clock.ts';
import type { Clock } from '../ports/clock.ts';
import { stdoutSink } from './logger.ts';
import type { LineSink } from './logger.ts';
import type { DeliveryOutcome } from '../domain/outcome.ts';

/**
 * The metrics the pipeline emits, and their dimension names ({@link DIMENSION}): the one place
 * the use cases, the alarms and the dashboard take them from.
 */
export const METRIC = {
  /** Count, dimension `Outcome` (see {@link DELIVERY_OUTCOMES}); emit with {@link countDeliveries}. */
  deliveries: 'Deliveries',
  /** Milliseconds, one value per HTTP attempt. */
  attemptDuration: 'AttemptDuration',
  /** Count, one value per final delivery: how many attempts it took. */
  attemptsPerDelivery: 'AttemptsPerDelivery',
  /** Count: an endpoint answered 2xx but the outcome could not be stored. */
  unrecordedSuccess: 'UnrecordedSuccess',
  /** Count: deliveries rendered and queued from run-completed events. */
  renderedDeliveries: 'RenderedDeliveries',
  /**
   * Count, dimension `Action`: `requeued` and `failed`, deliveries the reconciler found stuck with no
   * queue message; `paused`, runs that did nothing because the delivery queue had a backlog.
   */
  reconciled: 'Reconciled',
  /** Count, dimension `To` (closed, open, half_open, gone): an endpoint's circuit changed state. */
  circuitTransitions: 'CircuitTransitions',
  /** Count, dimension `State` (open, half_open): a delivery hidden without an attempt while its endpoint's circuit is not closed. */
  deferredDeliveries: 'DeferredDeliveries',
  /** Count: a delivery failed at once because its endpoint is gone (410). */
  goneDeliveries: 'GoneDeliveries',
  /** Count: a message deleted as soon as it settled, before the rest of its batch. */
  earlySettled: 'EarlySettledMessages',
  /** Count: deliveries render put on the slow lane, their organization past its fair share of the window. */
  slowLaneRouted: 'SlowLaneRouted',
  /** Count, dimension `Cause` (open, half_open, slow): a main-lane delivery moved to the slow lane without an attempt. */
  divertedDeliveries: 'DivertedDeliveries',
  /** Count: an endpoint marked slow, a request to it still unanswered past the slow threshold. */
  slowEndpointMarks: 'SlowEndpointMarks',
} as const;

/** Values of the `Outcome` dimension of {@link METRIC}.deliveries: the outcome words of shared/domain/outcome.ts. */
export { DELIVERY_OUTCOMES, type DeliveryOutcome } from '../domain/outcome.ts';

/** Values of the `Action` dimension of {@link METRIC}.reconciled; `paused` counts runs that waited out a backlog. */
export const RECONCILE_ACTIONS = ['requeued', 'failed', 'paused'] as const;

/** One of {@link RECONCILE_ACTIONS}. */
export type ReconcileAction = (typeof RECONCILE_ACTIONS)[number];

/** Dimension names of the metrics in {@link METRIC}. */
export const DIMENSION = {
  /** Of `Deliveries`: a {@link DeliveryOutcome}. */
  outcome: 'Outcome',
  /** Of `Reconciled`: a {@link ReconcileAction}. */
  action: 'Action',
  /** Of `CircuitTransitions`: the state the circuit moved to. */
  to: 'To',
  /** Of `DeferredDeliveries`: the state of the circuit that deferred it. */
  state: 'State',
  /** Of `DivertedDeliveries`: why it left the main lane (a `DivertCause` of shared/domain/endpoint-health.ts). */
  cause: 'Cause',
} as const;

/** CloudWatch units this module writes. */
export type MetricUnit = 'Count' | 'Milliseconds';

/** Dimension name → value. Names are code; values may be data and are sanitised. */
export type MetricDimensions = Readonly<Record<string, string>>;

/** EMF limits: metrics per document, values per metric, keys per dimension set. */
export const EMF_LIMITS = {
  metricsPerDocument: 100,
  valuesPerMetric: 100,
  dimensionsPerSet: 30,
  nameLength: 255,
  dimensionValueLength: 1024,
} as const;

/** A buffer of metric values, written as EMF lines by {@link Metrics.flush}. */
export interface Metrics {
  /** Records a count (`Unit: Count`). Non-finite values are dropped. */
  count(name: string, value?: number, dimensions?: MetricDimensions): void;
  /** Records a duration in milliseconds (`Unit: Milliseconds`). Non-finite values are dropped. */
  duration(name: string, ms: number, dimensions?: MetricDimensions): void;
  /**
   * Writes everything recorded since the last flush and empties the buffer. Call it before a
   * handler returns: Lambda may freeze the environment right after, and buffered values would
   * wait for the next invocation (or be lost with the environment).
   */
  flush(): void;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** CloudWatch namespace, 1–255 characters. */
  readonly namespace: string;
  /** Where EMF lines go. Default standard output. */
  readonly sink?: LineSink;
  /** Source of `_aws.Timestamp` (taken at flush). Default the system clock. */
  readonly clock?: Clock;
}

interface Series {
  readonly unit: MetricUnit;
  readonly values: number[];
}

interface Group {
  /** Sorted by name, so `{a, b}` and `{b, a}` share a document. */
  readonly dimensions: ReadonlyArray<readonly [string, string]>;
  readonly series: Map<string, Series>;
}

/** One EMF document as written. */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: MetricUnit }>;
    }>;
  };
  [member: string]: unknown;
}

// Printable ASCII, no leading colon: CloudWatch's rule for metric and dimension names.
const VALID_NAME = /^[\x20-\x7e]{1,255}$/;

function assertName(kind: string, name: string): void {
  if (
    typeof name !== 'string' ||
    !VALID_NAME.test(name) ||
    name.trim() === '' ||
    name.startsWith(':') ||
    name === '_aws'
  ) {
    throw new TypeError(
      `${kind} name must be 1-255 printable ASCII characters, not "_aws" nor starting with ":": ${JSON.stringify(name)}`,
    );
  }
}

/**
 * Dimension values can come from data. CloudWatch rejects the whole document for a non-ASCII or
 * empty value, which would lose every metric in it; a mangled value loses nothing.
 */
function sanitiseDimensionValue(value: unknown): string {
  const text = String(value)
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, EMF_LIMITS.dimensionValueLength);
  return text.trim() === '' ? 'unknown' : text;
}

function normaliseDimensions(dimensions: MetricDimensions | undefined): Array<[string, string]> {
  if (dimensions === undefined) return [];
  const entries = Object.keys(dimensions).map((name): [string, string] => {
    assertName('dimension', name);
    return [name, sanitiseDimensionValue(dimensions[name])];
  });
  if (entries.length > EMF_LIMITS.dimensionsPerSet) {
    throw new TypeError(`at most ${EMF_LIMITS.dimensionsPerSet} dimensions per metric, got ${entries.length}`);
  }
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The documents for one dimension set: round `r` carries values `[100r, 100r + 100)` of each
 * metric that has that many, split again when a round holds more than 100 metrics.
 */
function documentsFor(group: Group, namespace: string, timestamp: number): EmfDocument[] {
  const series = [...group.series.entries()];
  const rounds = Math.max(0, ...series.map(([, s]) => Math.ceil(s.values.length / EMF_LIMITS.valuesPerMetric)));
  const dimensionNames = group.dimensions.map(([name]) => name);
  const docs: EmfDocument[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = round * EMF_LIMITS.valuesPerMetric;
    const present = series.filter(([, s]) => s.values.length > start);
    for (const part of chunk(present, EMF_LIMITS.metricsPerDocument)) {
      const doc: EmfDocument = {
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [
            {
              Namespace: namespace,
              // An empty dimension set is valid EMF: the metric is published without dimensions.
              Dimensions: [dimensionNames],
              Metrics: part.map(([name, s]) => ({ Name: name, Unit: s.unit })),
            },
          ],
        },
      };
      for (const [name, value] of group.dimensions) doc[name] = value;
      for (const [name, s] of part) {
        const values = s.values.slice(start, start + EMF_LIMITS.valuesPerMetric);
        doc[name] = values.length === 1 ? values[0] : values;
      }
      docs.push(doc);
    }
  }
  return docs;
}

/**
 * Creates a metrics buffer for one namespace. Names and dimension names are checked when recorded
 * (they are code: a bad one throws a `TypeError` a unit test will catch); values and dimension
 * values are data and never make it throw.
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const { namespace } = options;
  if (typeof namespace !== 'string' || namespace.length < 1 || namespace.length > EMF_LIMITS.nameLength) {
    throw new TypeError(
      `metrics namespace must be 1-${EMF_LIMITS.nameLength} characters: ${JSON.stringify(namespace)}`,
    );
  }
  const sink = options.sink ?? stdoutSink;
  const clock = options.clock ?? systemClock;
  const groups = new Map<string, Group>();

  const record = (name: string, value: number, unit: MetricUnit, dimensions: MetricDimensions | undefined): void => {
    assertName('metric', name);
    const entries = normaliseDimensions(dimensions);
    // Metric values and dimension values share the document's root: one name cannot be both.
    if (entries.some(([dimension]) => dimension === name)) {
      throw new TypeError(`metric ${name} has a dimension of the same name`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    const key = JSON.stringify(entries);
    let group = groups.get(key);
    if (group === undefined) {
      group = { dimensions: entries, series: new Map() };
      groups.set(key, group);
    }
    const existing = group.series.get(name);
    if (existing === undefined) {
      group.series.set(name, { unit, values: [value] });
    } else if (existing.unit !== unit) {
      throw new TypeError(`metric ${name} recorded as ${existing.unit} and as ${unit}`);
    } else {
      existing.values.push(value);
    }
  };

  return {
    count: (name, value = 1, dimensions) => record(name, value, 'Count', dimensions),
    duration: (name, ms, dimensions) => record(name, ms, 'Milliseconds', dimensions),
    flush: () => {
      if (groups.size === 0) return;
      const timestamp = clock.now();
      const pending = [...groups.values()];
      groups.clear();
      for (const group of pending) {
        for (const doc of documentsFor(group, namespace, timestamp)) {
          try {
            sink(JSON.stringify(doc));
          } catch {
            // Metrics are best effort: a broken stdout must not fail the delivery they describe.
          }
        }
      }
    },
  };
}

/** Counts `value` deliveries that came to `outcome`: `Deliveries`, dimension `Outcome`. */
export function countDeliveries(metrics: Metrics, outcome: DeliveryOutcome, value = 1): void {
  metrics.count(METRIC.deliveries, value, { [DIMENSION.outcome]: outcome });
}
