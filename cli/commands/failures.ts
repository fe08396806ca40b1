import type { Command } from 'commander';
import { ValidationError } from '../../shared/errors.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import {
  colourEnabled,
  createStyle,
  formatTime,
  hostOnly,
  oneLine,
  parseInteger,
  parseTimeArgument,
  plural,
  table,
  truncate,
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

interface FailuresOptions extends TargetFlags {
  readonly since: string;
  readonly until?: string;
  readonly org?: string;
  readonly workflow?: string;
  readonly limit: string;
  readonly json?: boolean;
  readonly failOnAny?: boolean;
}

/** Exit code of `failures --fail-on-any` when it found some. */
export const EXIT_FAILURES_FOUND = 3;

/** The table, and each line under a row, fit this many columns; --json has every text whole. */
const TABLE_WIDTH = 100;
/** TIME 19 + RUN (up to 10 digits) + NODE 16 + CODE 4 + ATT 5 + DELIVERY ID 36, two spaces apart: 100. */
const NODE_WIDTH = 16;

/** One failure as `--json` prints it: the record's summary fields, and what an operator can do. */
export type FailureEntry = Pick<
  DeliveryRecord,
  | 'final_at'
  | 'organization_id'
  | 'workflow_id'
  | 'workflow_run_id'
  | 'node_id'
  | 'node_name'
  | 'method'
  | 'endpoint_host'
  | 'attempts'
  | 'max_attempts'
  | 'delivery_id'
> & {
  readonly status_code: number | null;
  readonly error: string | null;
  /** Whether `webhooks replay` can send it again. */
  readonly replayable: boolean;
  /** Times the reconciler put it back on the queue after its message was lost. */
  readonly reconciled: number;
  /** Failed by the reconciler: its message was lost and could not be rebuilt. */
  readonly stranded: boolean;
  /** The circuit of its endpoint for its organization now: closed when untracked, null when the target keeps no endpoint health. */
  readonly circuit: EndpointHealth['state'] | null;
};

export function registerFailures(program: Command): void {
  const command = program
    .command('failures')
    .description('list recent final failures, newest first: when, whose, where to, and why')
    .option('--since <when>', 'start of the window: a duration back from now (30m, 24h, 7d) or an ISO time', '24h')
    .option('--until <when>', 'end of the window, same forms (default: now)')
    .option('--org <id>', 'only this organization (uses its own index)')
    .option('--workflow <id>', 'only this workflow (filtered here after the query, so the whole window is read)')
    .option('--limit <n>', 'show at most this many, the newest', '50')
    .option('--json', 'print a JSON array (full error text) instead of the table')
    .option('--fail-on-any', `exit ${EXIT_FAILURES_FOUND} when any failure is found (for scripts and alerts)`);
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
Columns: TIME (UTC) when the delivery became final; RUN and NODE whose webhook it is; CODE its
last HTTP status (- when no answer: timeout, refused, blocked); ATT attempts used of allowed;
DELIVERY ID for "webhooks inspect" and "webhooks replay". The line under each row: the
organization, the workflow, the receiver's host, what the reconciler did if it found the delivery
stuck with no queue message ("failed it": it could not be rebuilt; "requeued Nx"), and why it
failed. The table fits ${TABLE_WIDTH} columns: long node ids and errors are cut (…); --json has them whole.

${TARGET_HELP}

Exit codes: 0 listed (even none), 1 bad input or the target cannot be read,
${EXIT_FAILURES_FOUND} failures found and --fail-on-any given.

Examples:
  $ webhooks failures                              # the last 24 hours, deployed stack DograhWebhooks
  $ webhooks failures --local --since 30m
  $ webhooks failures --org 42 --since 7d --limit 200
  $ webhooks failures --since 2026-11-27T00:00:00Z --until 2026-11-28T00:00:00Z --workflow 77
  $ webhooks failures --since 1h --json | jq -r '.[].delivery_id'
  $ webhooks failures --since 15m --fail-on-any > /dev/null || page-someone`,
    )
    .action(action(listFailures));
}

async function listFailures(options: FailuresOptions, io: CliIo): Promise<number | void> {
  const now = Date.now();
  const since = parseTimeArgument(options.since, '--since', now);
  const until =
    options.until === undefined ? new Date(now).toISOString() : parseTimeArgument(options.until, '--until', now);
  const limit = parseInteger(options.limit, '--limit', { min: 1, max: 10_000 });
  const workflowId =
    options.workflow === undefined
      ? undefined
      : parseInteger(options.workflow, '--workflow', { min: 0, max: Number.MAX_SAFE_INTEGER });
  if (options.org !== undefined && options.org.trim() === '')
    throw new CliError('--org: expected an organization id, got ""');
  if (since > until) throw new CliError(`--since: ${since} is after --until ${until}`);

  const target = await resolveTarget(targetOptions(options));
  let records: DeliveryRecord[];
  let circuits: Map<string, EndpointHealth> | undefined;
  try {
    records = await target.queries.listFailures({
      since,
      until,
      ...(options.org === undefined ? {} : { organizationId: options.org.trim() }),
      // The store has no workflow index: filter after the query, then cut to the limit.
      ...(workflowId === undefined ? { limit } : {}),
    });
  } catch (error) {
    // The store names the window bound it refuses; the user typed it as a flag.
    if (error instanceof ValidationError)
      throw new CliError(error.problems.map((p) => `--${p.path}: ${p.reason}`).join('; '));
    throw error;
  }
  try {
    // One read of the (small) health table, not one per failure.
    if (target.health !== undefined)
      circuits = new Map(
        (await target.health.list(options.org?.trim())).map((h) => [circuitKey(h.organization_id, h.endpoint), h]),
      );
  } finally {
    target.close();
  }
  const found = records.filter((r) => workflowId === undefined || r.workflow_id === workflowId);
  const shown = found.slice(0, limit);

  if (options.json) {
    io.stdout.write(
      `${JSON.stringify(
        shown.map((r) => toEntry(r, circuits)),
        null,
        2,
      )}\n`,
    );
  } else {
    printTable(
      shown,
      {
        since,
        until,
        limit,
        where: target.description,
        more: found.length > limit || (workflowId === undefined && records.length >= limit),
        again: targetArgs(options),
        circuits,
      },
      io,
    );
  }
  if (options.failOnAny && shown.length > 0) return EXIT_FAILURES_FOUND;
}

function circuitKey(org: string, endpoint: string): string {
  return `${org}\u0000${endpoint}`;
}

function toEntry(record: DeliveryRecord, circuits: Map<string, EndpointHealth> | undefined): FailureEntry {
  return {
    final_at: record.final_at,
    organization_id: record.organization_id,
    workflow_id: record.workflow_id,
    workflow_run_id: record.workflow_run_id,
    node_id: record.node_id,
    node_name: record.node_name,
    method: record.method,
    endpoint_host: record.endpoint_host,
    status_code: record.last_status_code,
    error: record.last_error,
    attempts: record.attempts,
    max_attempts: record.max_attempts,
    delivery_id: record.delivery_id,
    replayable: record.request_kept,
    reconciled: record.reconciled_at?.length ?? 0,
    stranded: record.stranded === true,
    circuit:
      circuits === undefined
        ? null
        : (circuits.get(circuitKey(record.organization_id, record.endpoint_host))?.state ?? 'closed'),
  };
}

function printTable(
  records: readonly DeliveryRecord[],
  context: {
    since: string;
    until: string;
    limit: number;
    where: string;
    more: boolean;
    again: string;
    circuits: Map<string, EndpointHealth> | undefined;
  },
  io: CliIo,
): void {
  const style = createStyle(colourEnabled(io.stdout, io.env));
  const window = `between ${formatTime(context.since)} and ${formatTime(context.until)} UTC (${context.where})`;
  if (records.length === 0) {
    io.stdout.write(`no failures ${window}\n`);
    return;
  }
  const rows = records.map((r) => [
    formatTime(r.final_at),
    String(r.workflow_run_id),
    truncate(oneLine(r.node_id), NODE_WIDTH),
    r.last_status_code === null ? '-' : style.red(String(r.last_status_code)),
    `${r.attempts}/${r.max_attempts}`,
    r.delivery_id,
  ]);
  const [header = '', ...body] = table(
    [
      { header: 'TIME (UTC)' },
      { header: 'RUN', align: 'right' },
      { header: 'NODE' },
      { header: 'CODE', align: 'right' },
      { header: 'ATT', align: 'right' },
      { header: 'DELIVERY ID' },
    ],
    rows,
    style,
  );
  // Whose it is, where it went and why, on the line under each row: the table stays in 100 columns.
  const lines = [header];
  body.forEach((line, i) => {
    lines.push(line);
    const r = records[i];
    if (r !== undefined) lines.push(style.dim(truncate(detailLine(r), TABLE_WIDTH)));
  });
  const more =
    context.more && records.length === context.limit ? `; the newest ${context.limit} shown, --limit shows more` : '';
  // The circuits of the endpoints listed, where they say something (open, gone, a failure streak).
  const seen = new Set<string>();
  const circuitLines: string[] = [];
  for (const r of records) {
    const key = circuitKey(r.organization_id, r.endpoint_host);
    if (seen.has(key)) continue;
    seen.add(key);
    const line = circuitLine(context.circuits?.get(key));
    if (line !== undefined) circuitLines.push(`  ${oneLine(r.organization_id)} ${hostOnly(r.endpoint_host)}: ${line}`);
  }
  if (circuitLines.length > 0) lines.push('', 'circuits:', ...circuitLines);
  lines.push('', `${plural(records.length, 'failure')} ${window}${more}`);
  lines.push(style.dim(`read one with: webhooks inspect <DELIVERY ID>${context.again}`));
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** The line under a row: organization, workflow, endpoint, what the reconciler did (if anything), the error. */
function detailLine(r: DeliveryRecord): string {
  const times = r.reconciled_at?.length ?? 0;
  const reconciled =
    r.stranded === true
      ? ['reconciler: failed it (message lost, not rebuildable)']
      : times > 0
        ? [`reconciler: requeued ${times}x`]
        : [];
  const parts = [
    `org ${oneLine(r.organization_id)}`,
    `workflow ${r.workflow_id}`,
    hostOnly(r.endpoint_host),
    ...reconciled,
    oneLine(r.last_error ?? ''),
  ];
  return `  ${parts.filter((part) => part !== '').join(' · ')}`;
}
