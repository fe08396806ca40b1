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
  styleStatus,
  table,
  truncate,
} from '../format.ts';
import { action, CliError, type CliIo } from '../io.ts';
import {
  addTargetOptions,
  resolveTarget,
  TARGET_HELP,
  targetArgs,
  targetOptions,
  type TargetFlags,
} from '../target.ts';

interface DeliveriesOptions extends TargetFlags {
  readonly run?: string;
  readonly workflow?: string;
  readonly since?: string;
  readonly until?: string;
  readonly limit: string;
  readonly json?: boolean;
}

/** The table fits this many columns: the node and error columns are cut to keep it there. */
export const TABLE_WIDTH = 100;

/** One delivery as `--json` prints it. Types are fixed: ids of organizations are strings, of workflows and runs numbers. */
export interface DeliveryEntry {
  readonly delivery_id: string;
  readonly organization_id: string;
  readonly workflow_id: number;
  readonly workflow_run_id: number;
  readonly node_id: string;
  readonly node_name: string;
  readonly endpoint_host: string;
  readonly status: DeliveryRecord['status'];
  readonly attempts: number;
  readonly max_attempts: number;
  readonly last_status_code: number | null;
  readonly error: string | null;
  readonly created_at: string;
  readonly final_at: string | null;
}

export function registerDeliveries(program: Command): void {
  const command = program
    .command('deliveries')
    .description(
      'every delivery of a run (--run), or of a workflow in a window (--workflow --since): status, attempts, last code',
    )
    .option('--run <id>', 'the workflow run id: every delivery of it, one per webhook node')
    .option('--workflow <id>', 'a workflow id: every delivery of it created in the window, newest first')
    .option(
      '--since <when>',
      'deliveries created since: a duration back from now (30m, 24h, 7d) or an ISO time (default: 24h with --workflow, the outcome retention with --run)',
    )
    .option('--until <when>', 'deliveries created until, same forms (default: now)')
    .option('--limit <n>', 'with --workflow: show at most this many, the newest', '200')
    .option('--json', 'print a JSON array (full error text) instead of the table');
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
Columns: NODE the webhook node; STATUS delivered, failed, or still in flight (pending, sending,
retrying); ATT attempts used of allowed; CODE the last HTTP status (- when no answer); ENDPOINT
the receiver's host (--run; --workflow has RUN, the run id, first instead); DELIVERY ID for
"webhooks inspect". A delivery that did not go out has its last error on the line under it.
The table fits ${TABLE_WIDTH} columns: long node ids, hosts and errors are cut (…); --json has them whole.

Both read the by-day index (deliveries by the UTC day they were created), never a Scan. --run
makes one small Query per day of its window (by default the outcome retention, 30 days). The
index is ordered by run, so --workflow reads the (small, keys-only) index entries of every
delivery created in its window and keeps that workflow's: on a busy stack keep the window short.
Deliveries created before the by-day index existed are found by --run only. Disabled nodes
send nothing and are not recorded: dev, local and the render log ("run rendered") name them.

${TARGET_HELP}

Exit codes: 0 listed (even none), 1 bad input or the target cannot be read.

Examples:
  $ webhooks deliveries --run 1234 --local
  $ webhooks deliveries --run 1234 --json | jq -r '.[] | select(.status != "delivered") | .delivery_id'
  $ webhooks deliveries --workflow 77 --since 24h
  $ webhooks deliveries --workflow 77 --since 2h --json | jq -r '.[] | select(.status == "failed") | .workflow_run_id'`,
    )
    .action(action(listDeliveries));
}

async function listDeliveries(options: DeliveriesOptions, io: CliIo): Promise<void> {
  if ((options.run === undefined) === (options.workflow === undefined)) {
    throw new CliError('deliveries: give exactly one of --run ID or --workflow ID (with --since)');
  }
  const now = Date.now();
  const runId =
    options.run === undefined
      ? undefined
      : parseInteger(options.run, '--run', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const workflowId =
    options.workflow === undefined
      ? undefined
      : parseInteger(options.workflow, '--workflow', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const limit = parseInteger(options.limit, '--limit', { min: 1, max: 100_000 });
  const until =
    options.until === undefined ? new Date(now).toISOString() : parseTimeArgument(options.until, '--until', now);
  const since =
    options.since === undefined
      ? runId === undefined
        ? parseTimeArgument('24h', '--since', now)
        : undefined
      : parseTimeArgument(options.since, '--since', now);
  if (since !== undefined && since > until) throw new CliError(`--since ${options.since} is after --until`);

  const target = await resolveTarget(targetOptions(options));
  let records: DeliveryRecord[];
  let more = false;
  try {
    if (runId !== undefined) {
      records = await target.queries.listByRun(runId, since === undefined ? undefined : { since, until });
    } else {
      // One more than shown: whether to say there are more.
      const found = await target.queries.listByWorkflow({
        workflowId: workflowId ?? 0,
        since: since ?? until,
        until,
        limit: limit + 1,
      });
      more = found.length > limit;
      records = found.slice(0, limit);
    }
  } catch (error) {
    if (error instanceof ValidationError)
      throw new CliError(error.problems.map((p) => `--${p.path}: ${p.reason}`).join('; '));
    throw error;
  } finally {
    target.close();
  }

  if (options.json) {
    io.stdout.write(`${JSON.stringify(records.map(toEntry), null, 2)}\n`);
    return;
  }
  const window = since === undefined ? '' : `created between ${formatTime(since)} and ${formatTime(until)} UTC `;
  printTable(
    records,
    {
      what: runId !== undefined ? `run ${runId}` : `workflow ${workflowId}`,
      where: `${window}(${target.description})`,
      again: targetArgs(options),
      byWorkflow: runId === undefined,
      more: more ? `; the newest ${limit} shown, --limit shows more` : '',
    },
    io,
  );
}

export function toEntry(r: DeliveryRecord): DeliveryEntry {
  return {
    delivery_id: r.delivery_id,
    organization_id: String(r.organization_id),
    workflow_id: Number(r.workflow_id),
    workflow_run_id: Number(r.workflow_run_id),
    node_id: r.node_id,
    node_name: r.node_name,
    endpoint_host: r.endpoint_host,
    status: r.status,
    attempts: r.attempts,
    max_attempts: r.max_attempts,
    last_status_code: r.last_status_code,
    error: r.status === 'delivered' ? null : r.last_error,
    created_at: r.created_at,
    final_at: r.final_at,
  };
}

// --run: NODE 18 + STATUS 9 + ATT 5 + CODE 4 + ENDPOINT 18 + DELIVERY ID 36, two spaces apart: 100 columns.
// --workflow: RUN (up to 10 digits) + NODE 18 + STATUS 9 + ATT 5 + CODE 4 + DELIVERY ID 36: 92 columns.
// The error of a delivery that did not go out goes on a line of its own under it, cut to fit.
const NODE_WIDTH = 18;
const ENDPOINT_WIDTH = 18;
const ERROR_INDENT = '  error: ';
const ERROR_WIDTH = TABLE_WIDTH - ERROR_INDENT.length;

function printTable(
  records: readonly DeliveryRecord[],
  context: { what: string; where: string; again: string; byWorkflow: boolean; more: string },
  io: CliIo,
): void {
  const { what, where, again, byWorkflow } = context;
  const style = createStyle(colourEnabled(io.stdout, io.env));
  if (records.length === 0) {
    const why = byWorkflow
      ? ''
      : ': the run was not emitted (or not yet rendered), all its webhook nodes are disabled (not recorded), or its records expired';
    io.stdout.write(`no deliveries for ${what} ${where}${why}\n`);
    return;
  }
  const rows = records.map((r) => [
    ...(byWorkflow ? [String(r.workflow_run_id)] : []),
    truncate(oneLine(r.node_id), NODE_WIDTH),
    styleStatus(r.status, style),
    truncate(`${r.attempts}/${r.max_attempts}`, 5),
    r.last_status_code === null ? '-' : String(r.last_status_code),
    ...(byWorkflow ? [] : [truncate(hostOnly(r.endpoint_host), ENDPOINT_WIDTH)]),
    r.delivery_id,
  ]);
  const [header = '', ...body] = table(
    [
      ...(byWorkflow ? [{ header: 'RUN', align: 'right' as const }] : []),
      { header: 'NODE' },
      { header: 'STATUS' },
      { header: 'ATT', align: 'right' },
      { header: 'CODE', align: 'right' },
      ...(byWorkflow ? [] : [{ header: 'ENDPOINT' }]),
      { header: 'DELIVERY ID' },
    ],
    rows,
    style,
  );
  const lines = [header];
  body.forEach((line, i) => {
    lines.push(line);
    const r = records[i];
    if (r !== undefined && r.status !== 'delivered' && r.last_error !== null && r.last_error !== '') {
      lines.push(style.dim(`${ERROR_INDENT}${truncate(oneLine(r.last_error), ERROR_WIDTH)}`));
    }
  });
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  const count = `${plural(records.length, 'delivery', 'deliveries')} for ${what}`;
  // With a window the summary takes two lines, to stay in 100 columns.
  if (where.startsWith('(')) lines.push('', `${count} ${where}: ${summary}${context.more}`);
  else lines.push('', `${count}: ${summary}${context.more}`, where);
  lines.push(style.dim(`read one with: webhooks inspect <DELIVERY ID>${again}`));
  io.stdout.write(`${lines.join('\n')}\n`);
}
