import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { wireReconcileDeps } from '../functions/reconcile/handler.ts';
import { ENV, parseConfig, ReconcileConfigSchema } from '../shared/config/config.ts';
import type { Log } from '../shared/use-cases/observability.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from '../shared/use-cases/reconcile.ts';

/** How often `webhooks dev` looks for stuck deliveries. */
export const LOCAL_RECONCILE_INTERVAL_MS = 30_000;
/** Locally a stuck delivery is one a minute past its lease or due time (on AWS: 15 min by default). */
export const LOCAL_RECONCILE_GRACE_MS = 60_000;
/** The first run, this soon after start. */
const FIRST_RUN_MS = 5_000;

export interface LocalReconcilerOptions {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly queueUrl: string;
  /** The slow lane, whose backlog counts toward the pause. */
  readonly slowQueueUrl?: string;
  readonly tableName: string;
  readonly log: Log;
  readonly intervalMs?: number;
  readonly graceMs?: number;
  /** The first run, this long after start; null for none before the first interval. Default 5 s. */
  readonly firstRunMs?: number | null;
  /** Told about every run that found something. */
  readonly onReport?: (report: ReconcileReport) => void;
  /** Changes the reconciler's dependencies (tests: a clock). */
  readonly adapt?: (deps: ReconcileDeps) => ReconcileDeps;
}

export interface LocalReconciler {
  /** One run now (the timer's runs never overlap it). */
  runOnce(): Promise<ReconcileReport>;
  stop(): Promise<void>;
}

/**
 * The reconciler of `webhooks dev`: the scheduled Lambda's code, wired by the same
 * function, on a timer. A run never overlaps the previous one.
 */
export function startLocalReconciler(options: LocalReconcilerOptions): LocalReconciler {
  const config = parseConfig(ReconcileConfigSchema, {
    [ENV.deliveryQueueUrl]: options.queueUrl,
    [ENV.outcomeTableName]: options.tableName,
    ...(options.slowQueueUrl === undefined ? {} : { [ENV.slowDeliveryQueueUrl]: options.slowQueueUrl }),
  });
  const wired = wireReconcileDeps(config, {
    sqs: options.sqs,
    dynamo: options.dynamo,
    log: options.log,
    metricsSink: () => undefined,
  });
  const deps = (options.adapt ?? ((d) => d))({ ...wired, graceMs: options.graceMs ?? LOCAL_RECONCILE_GRACE_MS });
  let running: Promise<ReconcileReport> | undefined;
  let stopped = false;
  const runOnce = async (): Promise<ReconcileReport> => {
    while (running !== undefined) await running.catch(() => undefined);
    if (stopped) return { examined: 0, requeued: [], failed: [], skipped: 0 };
    running = reconcile(deps).finally(() => {
      running = undefined;
    });
    const report = await running;
    if (report.requeued.length + report.failed.length > 0) options.onReport?.(report);
    return report;
  };
  const tick = () => {
    if (!stopped) void runOnce().catch((error: unknown) => options.log.error('reconciler run failed', { error }));
  };
  const timer = setInterval(tick, options.intervalMs ?? LOCAL_RECONCILE_INTERVAL_MS);
  timer.unref();
  // A first look soon after start: a restart after a crash (`--data`) finds what the crash left stuck.
  const firstRunMs = options.firstRunMs === undefined ? FIRST_RUN_MS : options.firstRunMs;
  const first = firstRunMs === null ? undefined : setTimeout(tick, firstRunMs);
  first?.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
      while (running !== undefined) await running.catch(() => undefined);
    },
  };
}
