import type { Command } from 'commander';
import { PutEventsCommand, type PutEventsRequestEntry, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { MAX_EVENT_BYTES, MAX_PUT_EVENTS_ENTRIES, putEventsEntryBytes } from '../../shared/schemas/event.ts';
import { formatDuration, oneLine, parseInteger, plural, truncate } from '../format.ts';
import { action, CliError, escapeControl, type CliIo } from '../io.ts';
import {
  addTargetOptions,
  resolveTarget,
  TARGET_HELP,
  targetArgs,
  targetOptions,
  type Target,
  type TargetFlags,
} from '../target.ts';
import { readQueueDepth } from '../../shared/adapters/sqs-queue-depth.ts';

interface ResendOptions extends TargetFlags {
  readonly from: string;
  readonly dryRun?: boolean;
  readonly maxPerSecond?: string;
  readonly json?: boolean;
}

type Source = 'render' | 'events';

/** One held message, as `resend` lists it. */
export interface HeldEvent {
  readonly queue: Source;
  readonly message_id: string;
  /** The event's detail.workflow_run_id, when it has one. */
  readonly workflow_run_id: string | number | null;
  /** Why it is held: the render function's error, or EventBridge's ERROR_CODE / ERROR_MESSAGE. */
  readonly error: string | null;
  /** Milliseconds since the message was put on its queue. */
  readonly age_ms: number | null;
  /** sent: PutEvents took it and the message is deleted; would_send: --dry-run; left: still on its queue (see reason). */
  readonly outcome: 'sent' | 'would_send' | 'left';
  readonly event_id: string | null;
  readonly reason: string | null;
}

/** What `resend --json` prints. */
export interface ResendResult {
  readonly dry_run: boolean;
  readonly sent: number;
  readonly left: number;
  readonly events: readonly HeldEvent[];
  readonly duration_ms: number;
}

const RATE_LIMITS = { min: 1, max: 10_000 } as const;
/** How long a received message stays hidden while this run handles it; released at the end if it stays. */
const HOLD_SECONDS = 120;
/** Receives in a row that bring nothing new before a queue counts as done. */
const IDLE_RECEIVES = 3;
const QUEUE_NAMES: Record<Source, string> = { render: 'render dead-letter queue', events: 'event dead-letter queue' };

export function registerResend(program: Command): void {
  const command = program
    .command('resend')
    .description('send the events held in the render and event dead-letter queues back onto the event bus')
    .option(
      '--from <queue>',
      'render (events the render function failed on), events (events EventBridge could not hand to it), or both',
      'both',
    )
    .option('--dry-run', 'list what would be sent (run id, error, age) and change nothing')
    .option(
      '--max-per-second <n>',
      `send at most this many events per second (${RATE_LIMITS.min}-${RATE_LIMITS.max}; default: as fast as PutEvents takes them)`,
    )
    .option(
      '--json',
      'print every held event and what happened to it as JSON on stdout (progress still goes to stderr)',
    );
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
Fix the cause first (a template, the producer, a permission). Each held event is put back on the
bus with PutEvents, as the producer sent it, and its message is deleted only once PutEvents has
accepted that event. A message that holds no event, or an event PutEvents refuses, stays on its
queue and is reported. An event that fails again lands back in its dead-letter queue. Render is
idempotent: a delivery already delivered is not sent twice. Only the messages waiting when it
starts are handled. Progress goes to stderr.

${TARGET_HELP}

Exit codes: 0 all sent (or nothing held), 1 bad input or the target cannot be read, 3 some
messages were left on their queue (each is listed with its reason).

Examples:
  $ webhooks resend --dry-run
  $ webhooks resend --local
  $ webhooks resend --from render --max-per-second 5 --stack DograhWebhooks-staging --region eu-west-1
  $ webhooks resend --json | jq '.events[] | select(.outcome == "left")'`,
    )
    .action(action(resend));
}

async function resend(options: ResendOptions, io: CliIo): Promise<number> {
  const sources = parseFrom(options.from);
  const maxPerSecond =
    options.maxPerSecond === undefined
      ? undefined
      : parseInteger(options.maxPerSecond, '--max-per-second', RATE_LIMITS);
  const target = await resolveTarget(targetOptions(options));
  const startedAt = Date.now();
  const results: HeldEvent[] = [];
  try {
    const pace = pacer(maxPerSecond);
    for (const source of sources) {
      const url = source === 'render' ? target.eventQueues.renderDeadLetter : target.eventQueues.eventDeadLetter;
      if (url === undefined) {
        io.stderr.write(`${target.description} has no ${QUEUE_NAMES[source]} (deployed before it existed?): skipped\n`);
        continue;
      }
      results.push(
        ...(await drain(
          target,
          source,
          url,
          options.dryRun === true,
          pace,
          Math.min(MAX_PUT_EVENTS_ENTRIES, maxPerSecond ?? MAX_PUT_EVENTS_ENTRIES),
          io,
        )),
      );
    }
  } finally {
    target.close();
  }
  const result: ResendResult = {
    dry_run: options.dryRun === true,
    sent: results.filter((r) => r.outcome === 'sent').length,
    left: results.filter((r) => r.outcome === 'left').length,
    events: results,
    duration_ms: Date.now() - startedAt,
  };
  report(io, options, result, target);
  return result.left > 0 ? 3 : 0;
}

function parseFrom(value: string): Source[] {
  if (value === 'both') return ['render', 'events'];
  if (value === 'render' || value === 'events') return [value];
  throw new CliError(`--from: expected render, events or both, got "${value}"`);
}

/** Handles every message waiting on one queue when it starts. */
async function drain(
  target: Target,
  source: Source,
  url: string,
  dryRun: boolean,
  pace: (n: number) => Promise<void>,
  perRequest: number,
  io: CliIo,
): Promise<HeldEvent[]> {
  const { waiting } = await readQueueDepth(target.sqs, url);
  if (waiting === 0) return [];
  io.stderr.write(
    `${dryRun ? 'listing' : 're-sending'} ${plural(waiting, 'held event')} from the ${QUEUE_NAMES[source]} (${target.description})\n`,
  );
  const seen = new Set<string>();
  const results: HeldEvent[] = [];
  /** Messages to make visible again at the end (listed, or left in place), by id: a message seen again has a new receipt handle. */
  const release = new Map<string, string>();
  let idle = 0;
  try {
    // SQS's count is approximate, and a message left in place may show up again in a long run: a few receives with nothing new end it.
    while (seen.size < waiting && idle < IDLE_RECEIVES) {
      const { Messages = [] } = await target.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(MAX_PUT_EVENTS_ENTRIES, waiting - seen.size),
          VisibilityTimeout: HOLD_SECONDS,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['SentTimestamp'],
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) break;
      for (const m of Messages)
        if (m.MessageId !== undefined && release.has(m.MessageId)) release.set(m.MessageId, m.ReceiptHandle as string);
      const fresh = Messages.filter((m) => m.MessageId !== undefined && !seen.has(m.MessageId));
      idle = fresh.length === 0 ? idle + 1 : 0;
      const batch: {
        message: Message;
        held: Omit<HeldEvent, 'outcome' | 'event_id' | 'reason'>;
        entry: PutEventsRequestEntry;
      }[] = [];
      for (const message of fresh) {
        seen.add(message.MessageId as string);
        const parsed = readHeld(source, message, target.events.busName);
        if ('problem' in parsed) {
          results.push({ ...parsed.held, outcome: 'left', event_id: null, reason: parsed.problem });
          release.set(message.MessageId as string, message.ReceiptHandle as string);
        } else if (dryRun) {
          results.push({ ...parsed.held, outcome: 'would_send', event_id: null, reason: null });
          release.set(message.MessageId as string, message.ReceiptHandle as string);
        } else {
          batch.push({ message, held: parsed.held, entry: parsed.entry });
        }
      }
      // At most --max-per-second events in one request, so the pace holds within a second too.
      for (const part of chunks(batch, perRequest)) {
        await pace(part.length);
        let answers: PutEventsResultEntry[];
        try {
          answers =
            (await target.events.client.send(new PutEventsCommand({ Entries: part.map((p) => p.entry) }))).Entries ??
            [];
        } catch (error) {
          // Not sent, so still held: visible again for the next try.
          const done = new Set(results.map((r) => r.message_id));
          for (const p of batch)
            if (!done.has(p.held.message_id)) release.set(p.held.message_id, p.message.ReceiptHandle as string);
          throw new CliError(
            `resend: PutEvents failed (${(error as Error).name}: ${(error as Error).message}); ${results.filter((r) => r.outcome === 'sent').length} sent before it, the rest are still held`,
          );
        }
        for (const [i, p] of part.entries()) {
          const answer = answers[i];
          if (answer?.EventId !== undefined && answer.ErrorCode === undefined) {
            // Accepted: only now is the held copy dropped.
            await target.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: p.message.ReceiptHandle }));
            results.push({ ...p.held, outcome: 'sent', event_id: answer.EventId, reason: null });
          } else {
            results.push({
              ...p.held,
              outcome: 'left',
              event_id: null,
              reason: `refused by PutEvents: ${answer?.ErrorCode ?? 'no answer'}${answer?.ErrorMessage === undefined ? '' : `: ${answer.ErrorMessage}`}`,
            });
            release.set(p.message.MessageId as string, p.message.ReceiptHandle as string);
          }
        }
      }
      io.stderr.write(`  ${QUEUE_NAMES[source]}: ${seen.size} of ${waiting} handled\n`);
    }
  } finally {
    // What stays is visible again at once, for the next look.
    await Promise.allSettled(
      [...release.values()].map((handle) =>
        target.sqs.send(
          new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 0 }),
        ),
      ),
    );
  }
  return results;
}

type Parsed =
  | { held: Omit<HeldEvent, 'outcome' | 'event_id' | 'reason'>; entry: PutEventsRequestEntry }
  | { held: Omit<HeldEvent, 'outcome' | 'event_id' | 'reason'>; problem: string };

/**
 * A held message as the event to send again. The render dead-letter queue holds
 * Lambda's on-failure records (`{requestPayload: event, responsePayload: {errorMessage}}`);
 * the event dead-letter queue holds the event itself, with EventBridge's ERROR_CODE and
 * ERROR_MESSAGE as message attributes.
 */
function readHeld(source: Source, message: Message, busName: string): Parsed {
  const sent = Number(message.Attributes?.SentTimestamp);
  const base = {
    queue: source,
    message_id: message.MessageId as string,
    age_ms: Number.isFinite(sent) ? Math.max(0, Date.now() - sent) : null,
  };
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    return { held: { ...base, workflow_run_id: null, error: null }, problem: 'the message is not JSON' };
  }
  let event: unknown = body;
  let error: string | null = null;
  if (source === 'render') {
    if (!isObject(body) || !('requestPayload' in body))
      return {
        held: { ...base, workflow_run_id: null, error: null },
        problem: 'not a Lambda failure record: no requestPayload',
      };
    event = body['requestPayload'];
    const response = body['responsePayload'];
    error = isObject(response) && typeof response['errorMessage'] === 'string' ? response['errorMessage'] : null;
  } else {
    const attributes = message.MessageAttributes ?? {};
    const code = attributes['ERROR_CODE']?.StringValue;
    const why = attributes['ERROR_MESSAGE']?.StringValue;
    error = code === undefined && why === undefined ? null : [code, why].filter((x) => x !== undefined).join(': ');
  }
  const detail = isObject(event) ? event['detail'] : undefined;
  const run =
    isObject(detail) && (typeof detail['workflow_run_id'] === 'string' || typeof detail['workflow_run_id'] === 'number')
      ? detail['workflow_run_id']
      : null;
  const held = { ...base, workflow_run_id: run, error };
  if (!isObject(event)) return { held, problem: 'the held event is not a JSON object' };
  const kind = event['source'];
  const detailType = event['detail-type'];
  if (typeof kind !== 'string' || kind === '') return { held, problem: 'the held event has no source' };
  if (typeof detailType !== 'string' || detailType === '')
    return { held, problem: 'the held event has no detail-type' };
  if (!isObject(detail)) return { held, problem: 'the held event has no detail object' };
  const resources =
    Array.isArray(event['resources']) && event['resources'].every((r) => typeof r === 'string')
      ? (event['resources'] as string[])
      : [];
  const entry: PutEventsRequestEntry = {
    Source: kind,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    EventBusName: busName,
    ...(resources.length > 0 ? { Resources: resources } : {}),
  };
  const size = putEventsEntryBytes(entry);
  if (size > MAX_EVENT_BYTES)
    return { held, problem: `the event is ${size} bytes; PutEvents takes at most ${MAX_EVENT_BYTES}` };
  return { held, entry };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Waits so that at most `perSecond` events go out per second, counted from the first. */
function pacer(perSecond: number | undefined): (n: number) => Promise<void> {
  if (perSecond === undefined) return async () => undefined;
  let sent = 0;
  let start: number | undefined;
  return async (n) => {
    start ??= Date.now();
    const due = start + (1000 * sent) / perSecond;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    sent += n;
  };
}

function report(io: CliIo, options: ResendOptions, result: ResendResult, target: Target): void {
  if (options.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  if (result.events.length === 0) {
    io.stdout.write(`nothing to resend: no event is held (${target.description})\n`);
    return;
  }
  for (const e of result.events) {
    const run = e.workflow_run_id === null ? 'run ?' : `run ${e.workflow_run_id}`;
    const age = e.age_ms === null ? '' : `, ${formatDuration(e.age_ms)} old`;
    const why = e.error === null ? '' : `: ${truncate(oneLine(e.error), 120)}`;
    const what =
      e.outcome === 'sent'
        ? `sent as ${e.event_id}`
        : e.outcome === 'would_send'
          ? 'would send'
          : `left on the queue: ${e.reason}`;
    io.stdout.write(`${escapeControl(`${what}  ${run} (${e.queue}${age})${why}`)}\n`);
  }
  if (result.dry_run) {
    io.stdout.write(
      `dry run: ${plural(result.events.length - result.left, 'event')} would be sent, ${result.left} would stay; nothing changed\n`,
    );
    return;
  }
  io.stdout.write(
    `re-sent ${plural(result.sent, 'event')} in ${formatDuration(result.duration_ms)}, ${result.left} left on the queue; an event that fails again lands back in its dead-letter queue: webhooks resend --dry-run${targetArgs(options)}\n`,
  );
}
