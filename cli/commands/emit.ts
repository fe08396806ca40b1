import type { Command } from 'commander';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { MAX_EVENT_BYTES, MAX_PUT_EVENTS_ENTRIES, putEventsEntryBytes } from '../../shared/schemas/event.ts';
import { formatProblem } from '../../shared/errors.ts';
import { DEFAULT_RULE, readEventsFile, ruleMismatches, type FileEvent } from '../events-file.ts';
import { action, CliError, readJsonFile, type CliIo } from '../io.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import { awsSetupProblem, readDevState } from '../target.ts';

interface EmitOptions {
  readonly bus: string;
  readonly endpoint?: string;
  readonly local?: boolean;
  readonly region?: string;
  readonly json?: boolean;
}

export function registerEmit(program: Command): void {
  program
    .command('emit')
    .description('send run-completed events to EventBridge (PutEvents), or to the local intake of webhooks dev')
    .argument('<file>', 'one event, an array of events, or an event detail (JSON)')
    .option('-b, --bus <name>', 'event bus name or ARN', 'default')
    .option(
      '--endpoint <url>',
      'send to this endpoint instead of AWS, e.g. the webhooks dev intake http://127.0.0.1:4010 (http or https)',
    )
    .option('--local', 'send to the intake of the webhooks dev running from this checkout (.webhooks/dev.json)')
    .option('--region <region>', 'AWS region (default: the standard AWS configuration)')
    .option('--json', 'print the event ids as JSON')
    .addHelpText(
      'after',
      `
Uses the standard AWS credential chain (environment, profile, SSO, instance role).
An event over EventBridge's 256 KB limit is refused before sending: send only the
webhook nodes of a large workflow definition. Events go ten at a time, fewer when
together they would pass the 256 KB that EventBridge takes per request.

Exit codes: 0 all sent, 1 bad input or an entry refused.

Prints the id EventBridge gave each event it took, also for the ones sent before an error.

Examples:
  $ webhooks emit examples/event.json --local
  $ webhooks emit examples/event.json --endpoint http://127.0.0.1:4010
  $ webhooks emit runs.json --bus arn:aws:events:eu-west-1:123456789012:event-bus/dograh`,
    )
    .action(action(emit));
}

async function emit(file: string, options: EmitOptions, io: CliIo): Promise<void> {
  if (options.local === true && (options.endpoint !== undefined || options.region !== undefined)) {
    throw new CliError('--local: sends to the webhooks dev intake; it cannot be combined with --endpoint or --region');
  }
  if (options.endpoint !== undefined) checkEndpoint(options.endpoint);
  // The file first: a mistake in it is named whether or not webhooks dev is running.
  const events = readEventsFile(await readJsonFile(file), file);
  const dev = options.local === true ? await readDevState() : undefined;
  const endpoint = dev?.intake ?? options.endpoint;
  // An event no rule matches is dropped by EventBridge without an error. The dev stack's rule is
  // known exactly, so such an event is refused there; a deployed stack's may have been given
  // another source or detail-type, so against the defaults it is a warning.
  const many = events.length > 1;
  const mismatches = events.flatMap(({ raw }, i) =>
    ruleMismatches(raw, file, dev ?? DEFAULT_RULE, many ? [i] : [], dev === undefined),
  );
  if (dev !== undefined && mismatches.length > 0) {
    throw new CliError(
      `${formatProblem(mismatches[0]!)}: not sent${mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : ''}`,
    );
  }
  for (const problem of mismatches) io.stderr.write(`warning: ${formatProblem(problem)}\n`);
  const entries = toEntries(events, file, options.bus);
  const client = new EventBridgeClient({
    ...(options.region === undefined
      ? endpoint === undefined
        ? {}
        : { region: io.env['AWS_REGION'] ?? 'us-east-1' }
      : { region: options.region }),
    ...(endpoint === undefined ? {} : { endpoint, credentials: LOCAL_CREDENTIALS }),
  });
  const sent: { event: number; event_id: string }[] = [];
  const refused: string[] = [];
  let failure: CliError | undefined;
  try {
    for (const { start, batch } of batches(entries)) {
      const out = await client.send(new PutEventsCommand({ Entries: batch }));
      (out.Entries ?? []).forEach((result, i) => {
        if (result.EventId !== undefined) sent.push({ event: start + i, event_id: result.EventId });
        else
          refused.push(
            `${file}: [${start + i}]: refused by EventBridge: ${result.ErrorCode ?? 'error'}: ${result.ErrorMessage ?? ''}`,
          );
      });
    }
  } catch (error) {
    failure = new CliError(`emit: ${sendProblem(error, endpoint, options.local === true)}`);
  } finally {
    client.destroy();
  }
  // The ids of what was taken, even when a later request failed: those events are on their way.
  if (options.json) io.stdout.write(`${JSON.stringify(sent)}\n`);
  else for (const s of sent) io.stdout.write(`sent event ${s.event} as ${s.event_id}\n`);
  if (failure !== undefined) throw failure;
  if (refused.length > 0) throw new CliError(refused.join('; '));
}

/** Only http and https: the intake (or a stand-in for EventBridge) is a web endpoint. */
function checkEndpoint(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--endpoint: "${value}" is not a URL; expected one like http://127.0.0.1:4010`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(
      `--endpoint: scheme ${url.protocol} is not allowed; expected an http or https URL such as http://127.0.0.1:4010`,
    );
  }
}

/** What went wrong sending, in our words, with the fix. */
function sendProblem(error: unknown, endpoint: string | undefined, local: boolean): string {
  const text = errorText(error);
  if (endpoint !== undefined) {
    if (/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND/.test(text)) {
      const code = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND/.exec(text)?.[0] ?? '';
      return `cannot reach ${endpoint} (${code}): is webhooks dev running? Start it with "npm start" or "npx webhooks dev"${local ? ' (its state file may be stale)' : ''}`;
    }
    return `${endpoint}: ${text}`;
  }
  return awsSetupProblem(error) ?? `PutEvents failed: ${text}`;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [`${error.name}: ${error.message}`];
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && !error.message.includes(code)) parts.push(code);
  // Node's fetch-style errors and AggregateErrors keep the socket's code below.
  let cause = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth += 1, cause = cause.cause) {
    const causeCode = (cause as NodeJS.ErrnoException).code;
    parts.push(causeCode ?? cause.message);
  }
  if (error instanceof AggregateError)
    for (const e of error.errors) if (e instanceof Error) parts.push((e as NodeJS.ErrnoException).code ?? e.message);
  return parts.join(' ');
}

/** Every event checked and sized before any is sent, so bad input sends nothing. */
function toEntries(events: readonly FileEvent[], file: string, bus: string): PutEventsRequestEntry[] {
  return events.map(({ raw, parsed, at }) => {
    const source = parsed.source;
    const detailType = parsed['detail-type'];
    // Send the detail as written, not as parsed: defaults are the consumer's to apply.
    const entry = { Source: source, DetailType: detailType, Detail: JSON.stringify(raw['detail']), EventBusName: bus };
    const size = putEventsEntryBytes(entry);
    if (size > MAX_EVENT_BYTES) {
      throw new CliError(
        `${file}: ${at}detail: the event is ${size} bytes; EventBridge takes at most ${MAX_EVENT_BYTES}: send only the webhook nodes of the workflow definition`,
      );
    }
    return entry;
  });
}

/**
 * Groups entries in order into PutEvents requests EventBridge takes: at most ten
 * entries, and at most 256 KB all together (it refuses a larger request whole).
 * Each entry is within the limit on its own (checked above), so each fits a request.
 */
function* batches(
  entries: readonly PutEventsRequestEntry[],
): Generator<{ start: number; batch: PutEventsRequestEntry[] }> {
  let start = 0;
  let batch: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const [i, entry] of entries.entries()) {
    const size = putEventsEntryBytes(entry);
    if (batch.length > 0 && (batch.length === MAX_PUT_EVENTS_ENTRIES || bytes + size > MAX_EVENT_BYTES)) {
      yield { start, batch };
      start = i;
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) yield { start, batch };
}
