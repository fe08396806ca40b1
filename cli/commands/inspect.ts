import type { Command } from 'commander';
import { describeEmpty } from '../../shared/domain/empty-placeholders.ts';
import type { AttemptRecord, DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import {
  colourEnabled,
  createStyle,
  formatDuration,
  formatTime,
  oneLine,
  styleStatus,
  table,
  wrap,
  type Style,
} from '../format.ts';
import { action, CliError, type CliIo } from '../io.ts';
import type { EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import { circuitLine } from './endpoints.ts';
import {
  resolveTarget,
  addTargetOptions,
  TARGET_HELP,
  targetArgs,
  targetOptions,
  type TargetFlags,
} from '../target.ts';

interface InspectOptions extends TargetFlags {
  readonly json?: boolean;
}

/** Exit code of `inspect` and `replay` for a delivery id the outcome log does not hold. */
export const EXIT_NOT_FOUND = 2;

/** Every line of the story fits this many columns: long values wrap (the failures table's width too). */
const WIDTH = 100;
/** A field's name column: `  organization ` and the value after it. */
const LABEL_WIDTH = 15;
/** Lines of an attempt's message and of its response under its row; --json has them whole. */
const MESSAGE_LINES = 3;
const RESPONSE_LINES = 2;
const RESPONSE_LABEL = 'response: ';

/**
 * A delivery as `inspect --json` prints it: the outcome log's record, without
 * the kept request (its URL path, query and body may carry secrets or personal
 * data, which have no place in terminals and tickets), and whether one is kept.
 */
export type InspectedDelivery = Omit<DeliveryRecord, 'request'> & {
  readonly request_kept: boolean;
  /** The circuit of the delivery's endpoint for its organization: closed when untracked, null when the target keeps no endpoint health. */
  readonly circuit: EndpointHealth['state'] | null;
};

export function registerInspect(program: Command): void {
  const command = program
    .command('inspect')
    .description("tell one delivery's story: what it is, where it went, and every attempt")
    .argument(
      '<delivery-id>',
      'the delivery id (whd_...), as in "webhooks failures" and the X-Dograh-Delivery-Id header',
    )
    .option('--json', 'print the record as JSON (full texts) instead of the story');
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
"empty values" lists the placeholders that rendered empty in this delivery, and why: missing from
the run's context, or null there.

The timeline lists each attempt: when it started (UTC), how long it took, the HTTP status (- when
there was no answer) and the error class (http_transient, http_permanent, timeout, connection,
blocked, credential, invalid, unknown; none for success); under the row, its message and the start
of the response body (redacted), up to ${MESSAGE_LINES} and ${RESPONSE_LINES} lines (--json has them whole). A line marks where
a replay or a redrive started a new series of attempts, numbered from 1 again under the same
delivery id. Every line fits ${WIDTH} columns: longer values wrap.

${TARGET_HELP}

Exit codes: 0 shown, 1 bad input or the target cannot be read, ${EXIT_NOT_FOUND} no such delivery.

Examples:
  $ webhooks inspect whd_0123456789abcdef0123456789abcdef
  $ webhooks inspect whd_0123456789abcdef0123456789abcdef --local
  $ webhooks inspect whd_0123456789abcdef0123456789abcdef --json | jq '.attempt_log[-1]'`,
    )
    .action(action(inspect));
}

async function inspect(deliveryId: string, options: InspectOptions, io: CliIo): Promise<void> {
  const target = await resolveTarget(targetOptions(options));
  let record: DeliveryRecord | undefined;
  let health: EndpointHealth | undefined;
  try {
    record = await target.store.get(deliveryId.trim());
    if (record !== undefined && record.endpoint_host !== '')
      health = await target.health?.get(record.organization_id, record.endpoint_host);
  } finally {
    target.close();
  }
  if (record === undefined) throw notFound(deliveryId, target.description);
  if (options.json) {
    const { request, ...rest } = record;
    const inspected: InspectedDelivery = {
      ...rest,
      request_kept: request !== null,
      circuit: target.health === undefined ? null : (health?.state ?? 'closed'),
    };
    io.stdout.write(`${JSON.stringify(inspected, null, 2)}\n`);
    return;
  }
  io.stdout.write(
    `${story(record, createStyle(colourEnabled(io.stdout, io.env)), targetArgs(options), circuitLine(health)).join('\n')}\n`,
  );
}

/** The not-found error of `inspect` and `replay`, with a hint when the id is not even shaped like one. */
export function notFound(deliveryId: string, where: string): CliError {
  const hint = /^whd_[0-9a-f]{32}$/.test(deliveryId.trim()) ? '' : ' (delivery ids look like whd_ and 32 hex digits)';
  return new CliError(`delivery ${oneLine(deliveryId)} not found in ${where}${hint}`, EXIT_NOT_FOUND);
}

function story(r: DeliveryRecord, style: Style, again: string, circuit?: string): string[] {
  // The value wraps under itself, never under the name.
  const field = (name: string, value: string) =>
    wrap(oneLine(value), WIDTH - LABEL_WIDTH).map(
      (line, i) => `  ${(i === 0 ? name : '').padEnd(LABEL_WIDTH - 2)}${line}`,
    );
  const lines = [
    `${style.bold(`delivery ${r.delivery_id}`)}  ${styleStatus(r.status, style)}`,
    ...field('organization', r.organization_id),
    ...field('workflow', String(r.workflow_id)),
    ...field('run', String(r.workflow_run_id)),
    ...field('node', `${r.node_id}${r.node_name === '' ? '' : ` (${r.node_name})`}`),
    ...field('request', `${r.method} ${r.endpoint_host === '' ? '(no valid endpoint URL)' : r.endpoint_host}`),
    ...field(
      'attempts',
      `${r.attempts} of ${r.max_attempts}${r.replayed_at.length > 0 ? ` in this series (${r.replayed_at.length + 1} series)` : ''}`,
    ),
    ...field('created', `${formatTime(r.created_at)} UTC`),
  ];
  if (r.final_at !== null) lines.push(...field('final', `${formatTime(r.final_at)} UTC`));
  if (r.next_attempt_at !== null) lines.push(...field('next attempt', `${formatTime(r.next_attempt_at)} UTC`));
  if (r.last_error !== null) lines.push(...field('last error', r.last_error));
  if ((r.reconciled_at?.length ?? 0) > 0)
    lines.push(
      ...field(
        'reconciled',
        `put back on the queue ${r.reconciled_at?.length} time(s), last ${formatTime(r.reconciled_at?.at(-1) ?? '')} UTC (its message was lost)`,
      ),
    );
  // Why a value is empty in the webhook: the render's report, one entry per placeholder.
  for (const [i, e] of (r.empty_placeholders ?? []).entries()) {
    lines.push(...field(i === 0 ? 'empty values' : '', describeEmpty(e)));
  }
  if (circuit !== undefined) lines.push(...field('circuit', circuit));
  const step = nextStepParts(r, again);
  lines.push(...field('what next', step.advice));
  for (const command of step.commands ?? []) lines.push(...field('', command));
  lines.push('', style.bold('attempts'));
  lines.push(...timeline(r, style));
  return lines;
}

/** What to do next: the advice, then the command to run and its alternative (each starts a line of the story, to copy). */
export interface NextStep {
  readonly advice: string;
  readonly commands?: readonly string[];
}

/**
 * What an operator can do about this delivery, by how it failed, in one sentence: the fix for a
 * missing credential is the credential, not the endpoint; a request that can never be sent as it
 * is needs its node fixed, not a replay of the same request.
 */
export function nextStep(r: DeliveryRecord, again: string, nowMs = Date.now()): string {
  const { advice, commands = [] } = nextStepParts(r, again, nowMs);
  return [advice, ...commands].join(' ');
}

/** {@link nextStep} as its advice and its commands. */
export function nextStepParts(r: DeliveryRecord, again: string, nowMs = Date.now()): NextStep {
  const replay =
    r.request !== null
      ? [`webhooks replay ${r.delivery_id}${again}`, `(or webhooks redrive${again})`]
      : [`webhooks redrive${again}`, '(no rendered request is kept here to replay)'];
  switch (r.status) {
    case 'delivered':
      return { advice: 'nothing: the endpoint took it' };
    case 'skipped':
      return { advice: 'nothing: the node is disabled' };
    case 'failed': {
      if (r.stranded === true)
        return {
          advice:
            'its queue message was lost and it could not be rebuilt: emit its run again (a copy of its message starts a new series)',
        };
      const last = r.attempt_log.at(-1);
      if (last === undefined) return { advice: 'it never reached the endpoint: fix the node, then emit its run again' };
      switch (last.error_class) {
        case 'credential':
          return {
            advice: `fix the credential (its secret in Secrets Manager is missing, unreadable or of the wrong shape), then:`,
            commands: replay,
          };
        case 'blocked':
        case 'invalid':
          return {
            advice:
              "this request can never be sent as it is (address, scheme or header not allowed): fix the node's endpoint URL or headers, then emit its run again",
          };
        case 'http_permanent':
          if (last.status_code === 401 || last.status_code === 403)
            return {
              advice: `the endpoint refused the credential (${last.status_code}): update the secret or the endpoint's keys, then:`,
              commands: replay,
            };
          return {
            advice: `the endpoint refused the request (${last.status_code ?? 'permanent error'}): fix the receiver or the node's payload, then:`,
            commands: replay,
          };
        case 'http_transient':
        case 'timeout':
        case 'connection':
          return {
            advice: `the endpoint kept failing for ${r.attempts} attempts: fix the endpoint, then:`,
            commands: replay,
          };
        default:
          return { advice: `read the last error, fix its cause, then:`, commands: replay };
      }
    }
    default: {
      const due = r.pending_until == null ? Number.NaN : Date.parse(r.pending_until);
      // Far past when it should have moved: its queue message is most likely gone.
      if (due + 5 * 60_000 < nowMs)
        return {
          advice: `it looks stuck (nothing has moved it since ${formatTime(r.pending_until ?? '')} UTC): the reconciler puts it back on the queue, or fails it with the reason, within its next runs`,
        };
      return { advice: 'wait: it is still being delivered' };
    }
  }
}

/**
 * The attempt table, each attempt's message and response on the lines under its row, and a line
 * where each new series starts. A reopen resets the attempt count, so a series starts where the
 * number does not go up; the times in `replayed_at` label those places in order (numbers, not
 * times, find them: the clock of whoever replayed may be off from the deliverer's). A reopen with
 * no attempt since is shown last.
 */
export function timeline(r: DeliveryRecord, style: Style): string[] {
  if (r.attempt_log.length === 0 && r.replayed_at.length === 0) return ['  (none: it never reached the wire)'];
  const marker = (at: string | undefined, tail = '') =>
    wrap(
      oneLine(
        `-- new series of attempts${at === undefined ? '' : ` from ${formatTime(at)} UTC`} (replay or redrive)${tail} --`,
      ),
      WIDTH - 2,
    ).map((line) => style.yellow(`  ${line}`));
  const rows: string[][] = [];
  const markers = new Map<number, string[]>();
  let series = 0;
  r.attempt_log.forEach((attempt, i) => {
    const previous = r.attempt_log[i - 1];
    if (previous !== undefined && attempt.attempt <= previous.attempt) {
      markers.set(rows.length, marker(r.replayed_at[series]));
      series += 1;
    }
    rows.push(attemptRow(attempt, style));
  });
  const lines = table(
    [
      { header: '#', align: 'right' },
      { header: 'TIME (UTC)' },
      { header: 'DURATION', align: 'right' },
      { header: 'CODE', align: 'right' },
      { header: 'CLASS' },
    ],
    rows,
    style,
  ).map((line) => `  ${line}`);
  // The texts start under TIME: the indent, the widest attempt number, the two spaces after it.
  const under = ' '.repeat(2 + Math.max(1, ...rows.map((row) => (row[0] ?? '').length)) + 2);
  // Header first, then rows, with each marker put before the row it precedes.
  const out = [lines[0] ?? ''];
  r.attempt_log.forEach((attempt, i) => {
    out.push(...(markers.get(i) ?? []), lines[i + 1] ?? '');
    out.push(...attemptTexts(attempt, WIDTH - under.length).map((line) => under + line));
  });
  for (const at of r.replayed_at.slice(series)) out.push(...marker(at, ': no attempt yet'));
  return out;
}

/** An attempt that went on the wire twice says so first: the refusal is not in the rest of its message. */
function resentNote(a: AttemptRecord): string {
  return a.resent_after_status === undefined
    ? ''
    : `resent after ${a.resent_after_status} (cached credential refused); `;
}

function attemptRow(a: AttemptRecord, style: Style): string[] {
  const failed = a.error_class !== 'none';
  return [
    String(a.attempt),
    formatTime(a.at),
    formatDuration(a.duration_ms),
    a.status_code === null ? '-' : failed ? style.red(String(a.status_code)) : style.green(String(a.status_code)),
    failed ? a.error_class : style.green(a.error_class),
  ];
}

/** The lines under an attempt's row, `width` wide: its message, then its response labelled, each wrapped and cut. */
function attemptTexts(a: AttemptRecord, width: number): string[] {
  const message = oneLine(resentNote(a) + (a.error_message ?? ''));
  const response = oneLine(a.response_snippet ?? '');
  const label = ' '.repeat(RESPONSE_LABEL.length);
  return [
    ...(message === '' ? [] : wrap(message, width, MESSAGE_LINES)),
    ...(response === ''
      ? []
      : wrap(response, width - RESPONSE_LABEL.length, RESPONSE_LINES).map(
          (line, i) => (i === 0 ? RESPONSE_LABEL : label) + line,
        )),
  ];
}
