import type { Command } from 'commander';
import { loadSecretsFile } from '../../shared/adapters/file-credential-store.ts';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../../shared/config/config.ts';
import type { FinalStatus } from '../../shared/domain/outcome.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import type { RenderedDelivery } from '../../shared/use-cases/render-run.ts';
import { type FileEvent, readEventsFile } from '../events-file.ts';
import { type LocalStack, startLocalStack } from '../local-stack.ts';
import { action, CliError, readJsonFile, type CliIo, type CliWriter } from '../io.ts';

interface LocalOptions {
  readonly event: string;
  readonly secrets?: string;
  readonly timeout: string;
  readonly requestTimeout: string;
  readonly verbose?: boolean;
  readonly failOnAny?: boolean;
}

/** Exit code of `local --fail-on-any` when some delivery failed (as `failures --fail-on-any`). */
export const EXIT_DELIVERY_FAILED = 3;

/** One line of the summary, as CONTRACT section 6 fixes it. */
export interface SummaryEntry {
  readonly delivery_id: string;
  readonly node_id: string;
  readonly workflow_run_id: number;
  readonly status: FinalStatus;
  readonly attempts: number;
  readonly last_status_code: number | null;
  readonly error: string | null;
}

export function registerLocal(program: Command): void {
  program
    .command('local')
    .description("run the whole pipeline on this machine (embedded SQS and DynamoDB) and print each delivery's outcome")
    .requiredOption('-e, --event <file>', 'one run-completed event, or an array of them (JSON)')
    .option(
      '-s, --secrets <file>',
      'secret names (<prefix>/<org>/<credential_uuid>) mapped to credential objects (JSON)',
    )
    .option('--timeout <seconds>', 'give up waiting for final outcomes after this long', '900')
    .option(
      '--request-timeout <seconds>',
      "how long one request to an endpoint may take (what Lambda's REQUEST_TIMEOUT_MS sets)",
      String(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    )
    .option('-v, --verbose', "write the functions' JSON log lines to stderr")
    .option(
      '--fail-on-any',
      `exit ${EXIT_DELIVERY_FAILED} when any delivery failed (a CI smoke test); the summary is printed either way`,
    )
    .addHelpText(
      'after',
      `
Loopback endpoints are allowed here; every other private, link-local or metadata address stays blocked.
Prints a JSON array on stdout, one entry per delivery:
  {"delivery_id", "node_id", "workflow_run_id", "status", "attempts", "last_status_code", "error"}

Exit codes: 0 done (whatever the outcomes), 1 bad input, ${EXIT_DELIVERY_FAILED} a delivery failed and --fail-on-any given.

Examples:
  $ webhooks local --event examples/event.json --secrets examples/secrets.json
  $ webhooks local --event examples/event.json --fail-on-any > /dev/null   # in CI
  $ webhooks local --event runs.json --verbose 2> functions.log`,
    )
    .action(action(runLocal));
}

async function runLocal(options: LocalOptions, io: CliIo): Promise<number | void> {
  const timeoutSeconds = seconds(options.timeout, '--timeout');
  const requestTimeoutMs = Math.round(seconds(options.requestTimeout, '--request-timeout') * 1000);
  const events = readEventsFile(await readJsonFile(options.event), options.event);
  const secrets = options.secrets === undefined ? {} : await loadSecretsFile(options.secrets);
  const stack = await startLocalStack({
    secrets,
    requestTimeoutMs,
    ...(options.verbose ? { logSink: (line: string) => io.stderr.write(`${line}\n`), logLevel: 'debug' as const } : {}),
  });
  try {
    // One entry per delivery, as the last render saw it: the same event twice is one
    // delivery, and a later event may fix (and enqueue) a node an earlier one failed.
    const rendered = new Map<string, RenderedDelivery>();
    for (const list of await emitAll(stack, events)) for (const r of list) rendered.set(r.delivery_id, r);
    const latest = [...rendered.values()];
    const sent = latest.filter((r) => r.status !== 'skipped').map((r) => r.delivery_id);
    const attempted = new Set(latest.filter((r) => r.status === 'enqueued').map((r) => r.delivery_id));
    const records = new Map(
      (await stack.waitUntilFinal(sent, timeoutSeconds * 1000, { attempted })).map((r) => [r.delivery_id, r]),
    );
    const summary = latest.map((r) => summarize(r, records.get(r.delivery_id)));
    // Resolves once all of it is handed to the pipe, however slowly its reader reads;
    // then the stack closes its sockets and the process ends by itself, with nothing cut off.
    await writeAll(io.stdout, `${JSON.stringify(summary, null, 2)}\n`);
    const failed = summary.filter((e) => e.status === 'failed').length;
    if (options.failOnAny && failed > 0) {
      io.stderr.write(`${failed} of ${summary.length} deliveries failed (--fail-on-any)\n`);
      return EXIT_DELIVERY_FAILED;
    }
  } finally {
    await stack.stop();
  }
}

/** Runs rendered at once: render is I/O on the emulators, so a few in flight keep them busy. */
const EMIT_CONCURRENCY = 4;

/**
 * Emits every event and returns what each rendered, in the file's order. Runs are rendered
 * concurrently, but the events of one run (one organization's run id: the same delivery ids)
 * one after the other in the file's order, so a later event still fixes a node an earlier
 * one failed, as emitted in sequence. A failed emit stops new ones; those in flight finish.
 */
async function emitAll(stack: LocalStack, events: readonly FileEvent[]): Promise<RenderedDelivery[][]> {
  const runs = new Map<string, number[]>();
  events.forEach((e, i) => {
    const key = JSON.stringify([String(e.parsed.detail.organization_id), e.parsed.detail.workflow_run_id]);
    const run = runs.get(key);
    if (run === undefined) runs.set(key, [i]);
    else run.push(i);
  });
  const queue = [...runs.values()];
  const results: RenderedDelivery[][] = events.map(() => []);
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let run = queue.shift(); run !== undefined && failure === undefined; run = queue.shift()) {
      for (const i of run) {
        try {
          results[i] = await stack.emit(events[i]!.raw);
        } catch (error) {
          failure ??= { error };
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(EMIT_CONCURRENCY, queue.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** Writes `text` and waits until the stream has taken all of it. */
export function writeAll(stream: CliWriter, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

/** A positive number of seconds from an option. */
export function seconds(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0)
    throw new CliError(`${flag}: expected a number of seconds, got "${text}"`);
  return value;
}

function summarize(rendered: RenderedDelivery, record: DeliveryRecord | undefined): SummaryEntry {
  const base = {
    delivery_id: rendered.delivery_id,
    node_id: rendered.node_id,
    workflow_run_id: rendered.workflow_run_id,
  };
  if (rendered.status === 'skipped' || record === undefined) {
    return { ...base, status: 'skipped', attempts: 0, last_status_code: null, error: rendered.error };
  }
  return {
    ...base,
    status: record.status === 'delivered' ? 'delivered' : 'failed',
    attempts: record.attempts,
    last_status_code: record.last_status_code,
    error: record.status === 'delivered' ? null : record.last_error,
  };
}
