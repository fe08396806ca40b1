/**
 * What the reconciler of `webhooks dev` did, read from its structured JSON log lines
 * (`webhooks dev --logs` writes them to stderr), not from the line it prints for people: the
 * fields of its run summary (`examined`, `requeued`, `failed`, `skipped`,
 * shared/use-cases/reconcile.ts) and of a run paused at a backlog (`waiting`), on lines of the
 * logger bound to `function: "reconcile"` (cli/dev-server.ts, functions/reconcile/handler.ts).
 */

/** The reconciler's runs, summed. */
export interface ReconcilerTally {
  /** Runs that read the pending index (paused ones not included). */
  readonly runs: number;
  /** Runs that did nothing because the delivery queues had a backlog. */
  readonly paused: number;
  /** Deliveries put back on the queue. */
  readonly requeued: number;
  /** Deliveries failed as stranded. */
  readonly failed: number;
}

export const NO_RECONCILER_RUNS: ReconcilerTally = { runs: 0, paused: 0, requeued: 0, failed: 0 };

/** `tally` with what one log line adds; the same tally for any line but a reconciler run's or pause's. */
export function addReconcilerLine(tally: ReconcilerTally, line: string): ReconcilerTally {
  const fields = jsonObject(line);
  if (fields === undefined || fields.function !== 'reconcile') return tally;
  const { examined, requeued, failed, skipped, waiting } = fields;
  if ([examined, requeued, failed, skipped].every(isCount)) {
    return {
      ...tally,
      runs: tally.runs + 1,
      requeued: tally.requeued + (requeued as number),
      failed: tally.failed + (failed as number),
    };
  }
  if (fields.level === 'info' && isCount(waiting)) return { ...tally, paused: tally.paused + 1 };
  return tally;
}

/** The tally of all `lines`. */
export function tallyReconcilerLines(lines: Iterable<string>): ReconcilerTally {
  let tally = NO_RECONCILER_RUNS;
  for (const line of lines) tally = addReconcilerLine(tally, line);
  return tally;
}

/** Two tallies (e.g. of a dev process and of the one restarted after it) as one. */
export function sumReconcilerTallies(a: ReconcilerTally, b: ReconcilerTally): ReconcilerTally {
  return {
    runs: a.runs + b.runs,
    paused: a.paused + b.paused,
    requeued: a.requeued + b.requeued,
    failed: a.failed + b.failed,
  };
}

/** Whether `line` is one of the JSON log lines (an object), as opposed to a line printed for people. */
export function isJsonLogLine(line: string): boolean {
  return jsonObject(line) !== undefined;
}

function jsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
