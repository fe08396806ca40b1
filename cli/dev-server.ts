import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryMessage } from '../shared/domain/delivery.ts';
import { endpointHost } from '../shared/domain/endpoint.ts';
import type { DeliveryOutcome } from '../shared/domain/outcome.ts';
import { hostOnly } from './format.ts';
import type { AttemptRecord, DeliveryStore } from '../shared/ports/delivery-store.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';
import type { RenderedDelivery } from '../shared/use-cases/render-run.ts';
import { openEventJournal, type EventJournal } from '../shared/local/event-journal.ts';
import { startEventIntake, type BusEvent, type EventIntake } from './event-intake.ts';
import { startLocalStack, LOCAL_TABLE_NAME, type LocalStack } from './local-stack.ts';
import { startLocalReconciler } from './local-reconciler.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { startSampleReceiver, type SampleReceiver } from './sample-receiver.ts';
import { removeDevState, writeDevState } from './target.ts';

export const DEV_INTAKE_PORT = 4010;
export const SAMPLE_RECEIVER_PORT = 8787;
const EXAMPLE_ORIGIN = 'http://127.0.0.1:8787';
const ROOT = new URL('..', import.meta.url).pathname;

export interface DevServerOptions {
  /** Port of the local PutEvents intake; 0 picks a free one. */
  readonly port: number;
  /** Port of the sample receiver, or null for none. */
  readonly receiverPort: number | null;
  readonly secrets: Readonly<Record<string, unknown>>;
  /**
   * Keep the outcome log, the queues and a journal of accepted events in this folder:
   * a restart, even after a crash, carries on where the last run stopped.
   */
  readonly dataDir?: string;
  /** How long one request to an endpoint may take; default `DEFAULT_REQUEST_TIMEOUT_SECONDS` (shared/config). */
  readonly requestTimeoutMs?: number;
  /** Transient failures in a row that open an endpoint's circuit; default the construct's. */
  readonly circuitFailureThreshold?: number;
  /** Send the example event once everything is up. */
  readonly example: boolean;
  /** One line per thing that happens, for people. */
  readonly print: (line: string) => void;
  readonly color: boolean;
  /** Where to write the state file other commands find the server by. */
  readonly statePath?: string;
  /** Where the functions' JSON log lines go. */
  readonly logSink?: (line: string) => void;
}

export interface DevServer {
  readonly intake: EventIntake;
  readonly stack: LocalStack;
  readonly receiver: SampleReceiver | undefined;
  stop(): Promise<void>;
}

/**
 * `webhooks dev`: the local stack in the foreground. Events come in through a
 * PutEvents-compatible intake and go to the render function as EventBridge's
 * rule would send them; deliveries are shown as they are recorded.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const paint = (code: number, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const say = (line: string) => options.print(`${paint(2, new Date().toISOString().slice(11, 19))} ${line}`);
  const stack = await startLocalStack({
    secrets: options.secrets,
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.circuitFailureThreshold === undefined
      ? {}
      : { circuit: { failureThreshold: options.circuitFailureThreshold } }),
    ...(options.logSink === undefined ? {} : { logSink: options.logSink, logLevel: 'debug' as const }),
    adaptDeliverDeps: (deps) => ({ ...deps, store: showing(deps.store, say, paint) }),
  });
  // A port taken (or any other failure to start) stops what did start, so the process ends
  // with its error instead of hanging on the emulators' open sockets.
  const started: (() => Promise<void>)[] = [() => stack.stop()];
  try {
    return await startAround(stack, started, options, say, paint);
  } catch (error) {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}

async function startAround(
  stack: LocalStack,
  started: (() => Promise<void>)[],
  options: DevServerOptions,
  say: (line: string) => void,
  paint: (code: number, text: string) => string,
): Promise<DevServer> {
  // Stuck deliveries (no queue message left, e.g. after a crash) found and put back on a timer, as the scheduled Lambda does.
  const reconciler = startLocalReconciler({
    sqs: stack.sqs,
    dynamo: stack.dynamo,
    queueUrl: stack.queues.delivery.url,
    slowQueueUrl: stack.queues.slow.url,
    tableName: LOCAL_TABLE_NAME,
    log: createLogger({ base: { function: 'reconcile' }, sink: options.logSink ?? (() => undefined) }),
    onReport: (r) =>
      say(
        paint(
          33,
          `⟲ reconciler: ${r.requeued.length} stuck put back on the queue, ${r.failed.length} failed (webhooks failures --local)`,
        ),
      ),
  });
  started.push(() => reconciler.stop());
  const receiver =
    options.receiverPort === null
      ? undefined
      : await startSampleReceiver(options.receiverPort, (line) => say(paint(36, line)));
  if (receiver !== undefined) started.push(() => receiver.close());
  const opened =
    options.dataDir === undefined ? undefined : await openEventJournal<BusEvent>(join(options.dataDir, 'events.jsonl'));
  const journal = opened?.journal;
  if (journal !== undefined) started.push(() => journal.close());
  const inFlight = new Set<Promise<void>>();
  const handle = (event: BusEvent) => {
    const done = route(event, stack, say, paint, journal);
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  const intake = await startEventIntake({
    port: options.port,
    busName: 'default',
    onEvent: handle,
    ...(journal === undefined ? {} : { persist: (events: readonly BusEvent[]) => journal.append(events) }),
  });
  started.push(() => intake.close());
  await writeDevState(
    {
      pid: process.pid,
      intake: intake.endpoint,
      sqsEndpoint: stack.sqsEndpoint,
      dynamoEndpoint: stack.dynamoEndpoint,
      tableName: LOCAL_TABLE_NAME,
      healthTableName: stack.healthTableName,
      busName: 'default',
      source: DEFAULT_EVENT_SOURCE,
      detailType: DEFAULT_DETAIL_TYPE,
      queues: stack.queues,
    },
    options.statePath,
  );
  say(
    `${paint(1, 'webhooks dev')} is up: PutEvents intake ${intake.endpoint}${receiver === undefined ? '' : `, sample receiver ${receiver.origin}`}`,
  );
  say(`emit with: npx webhooks emit examples/event-2.json --local (or --endpoint ${intake.endpoint})`);
  if (opened !== undefined && opened.pending.length > 0) {
    // Accepted before a crash and not yet rendered: the intake had answered OK, so they go now.
    say(`rendering ${opened.pending.length} event(s) accepted before the last stop and not yet rendered`);
    for (const event of opened.pending) handle(event);
  }
  if (options.example) {
    const text = await readFile(join(ROOT, 'examples/event.json'), 'utf8');
    const event = JSON.parse(
      receiver === undefined ? text : text.replaceAll(EXAMPLE_ORIGIN, receiver.origin),
    ) as BusEvent;
    say('sending the example event (examples/event.json)');
    await journal?.append([event]);
    handle(event);
  }
  return {
    intake,
    stack,
    receiver,
    async stop() {
      await reconciler.stop();
      await intake.close();
      // Events being rendered finish first, so their done marks are written.
      await Promise.allSettled([...inFlight]);
      await journal?.close();
      await receiver?.close();
      await stack.stop();
      await removeDevState(options.statePath);
    },
  };
}

/** The rule: events of the run-completed source and detail-type go to the render function. */
async function route(
  event: BusEvent,
  stack: LocalStack,
  say: (line: string) => void,
  paint: (code: number, text: string) => string,
  journal: EventJournal | undefined,
): Promise<void> {
  try {
    await render(event, stack, say, paint);
  } finally {
    // Handled either way: rendered, or kept in the render dead-letter queue.
    await journal
      ?.done(event.id)
      .catch((error: unknown) =>
        say(
          paint(
            31,
            `could not mark event ${event.id} done in the journal (it will be rendered again at the next start): ${String(error)}`,
          ),
        ),
      );
  }
}

async function render(
  event: BusEvent,
  stack: LocalStack,
  say: (line: string) => void,
  paint: (code: number, text: string) => string,
): Promise<void> {
  if (event.source !== DEFAULT_EVENT_SOURCE || event['detail-type'] !== DEFAULT_DETAIL_TYPE) {
    say(
      paint(
        2,
        `event ${event.id} matches no rule (source ${event.source}, detail-type ${event['detail-type']}): ignored`,
      ),
    );
    return;
  }
  try {
    const rendered = await stack.emit(event);
    const run = rendered[0]?.workflow_run_id ?? '?';
    say(
      `run ${run}: ${rendered.filter((r) => r.status === 'enqueued').length} enqueued, ${count(rendered, 'failed')} failed, ${count(rendered, 'skipped')} skipped`,
    );
    for (const r of rendered.filter((d) => d.status !== 'enqueued')) {
      say(
        `${r.status === 'failed' ? paint(31, '✗ failed   ') : paint(2, '- skipped  ')} ${r.node_id} ${r.delivery_id}${r.error === null ? '' : `: ${r.error}`}`,
      );
    }
  } catch (error) {
    say(
      paint(
        31,
        `✗ event ${event.id} refused by the render function (kept in the render dead-letter queue): ${(error as Error).message}`,
      ),
    );
  }
}

function count(rendered: readonly RenderedDelivery[], status: RenderedDelivery['status']): number {
  return rendered.filter((r) => r.status === status).length;
}

/** Shows every recorded attempt as one line, after it is recorded. */
function showing(
  store: DeliveryStore,
  say: (line: string) => void,
  paint: (code: number, text: string) => string,
): DeliveryStore {
  return {
    ...store,
    async claim(message, nowMs, leaseMs) {
      const claim = await store.claim(message, nowMs, leaseMs);
      // A failed one may yet be reopened (a redrive, a fixed node): reopen says so.
      if (claim.kind === 'final' && claim.status !== 'failed')
        say(paint(2, `= ${message.node_id} already ${claim.status}: duplicate dropped ${message.delivery_id}`));
      return claim;
    },
    async reopen(deliveryId, nowMs, seen) {
      const record = await store.reopen(deliveryId, nowMs, seen);
      say(`↺ reopened   ${record.node_id}: a new series of attempts ${paint(2, deliveryId)}`);
      return record;
    },
    async recordAttempt(message, attempt, next, nowMs) {
      await store.recordAttempt(message, attempt, next, nowMs);
      say(attemptLine(message, attempt, next.status, paint));
    },
  };
}

function attemptLine(
  message: DeliveryMessage,
  attempt: AttemptRecord,
  status: Exclude<DeliveryOutcome, 'skipped'>,
  paint: (code: number, text: string) => string,
): string {
  const mark =
    status === 'delivered'
      ? paint(32, '✓ delivered')
      : status === 'failed'
        ? paint(31, '✗ failed   ')
        : paint(33, '↻ retrying ');
  const host = hostOnly(endpointHost(message.url));
  const code = attempt.status_code === null ? attempt.error_class : String(attempt.status_code);
  const why = status === 'delivered' || attempt.error_message === null ? '' : `: ${attempt.error_message}`;
  return `${mark} ${message.node_id} → ${host} ${code} in ${attempt.duration_ms} ms (attempt ${attempt.attempt}/${message.retry.max_attempts}) ${paint(2, message.delivery_id)}${why}`;
}

/** Whether a data folder already holds a previous run's outcome log. */
export function hasData(dataDir: string | undefined): boolean {
  return dataDir !== undefined && existsSync(join(dataDir, 'dynamodb'));
}
