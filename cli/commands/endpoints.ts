import type { Command } from 'commander';
import { hostOf, isSlow, type EndpointHealth } from '../../shared/domain/endpoint-health.ts';
import type { EndpointHealthStore } from '../../shared/ports/endpoint-health-store.ts';
import { colourEnabled, createStyle, formatTime, oneLine, plural, table, truncate, type Style } from '../format.ts';
import { action, CliError, type CliIo } from '../io.ts';
import {
  addTargetOptions,
  resolveTarget,
  TARGET_HELP,
  targetArgs,
  targetOptions,
  type Target,
  type TargetFlags,
} from '../target.ts';

interface EndpointsOptions extends TargetFlags {
  readonly org?: string;
  readonly json?: boolean;
}

/** One endpoint as `--json` prints it: times as ISO strings. */
export interface EndpointEntry {
  readonly organization_id: string;
  readonly endpoint: string;
  readonly state: EndpointHealth['state'];
  readonly consecutive_failures: number;
  readonly open_until: string | null;
  readonly last_success: string | null;
  readonly last_failure: string | null;
  readonly last_error: string | null;
  readonly gone_at: string | null;
  /** Until when the endpoint is marked slow (its main-lane deliveries go to the slow lane); null when it is not. */
  readonly slow_until: string | null;
}

export function registerEndpoints(program: Command): void {
  const endpoints = program
    .command('endpoints')
    .description('endpoint health per organization: open circuits, gone endpoints, failure streaks')
    .option('--org <id>', 'only this organization')
    .option('--json', 'print a JSON array instead of the table');
  addTargetOptions(endpoints)
    .addHelpText(
      'after',
      `
Only endpoints that have failed or been slow are tracked. STATE is closed (deliveries go; FAILURES
counts the current streak of transient failures), open (deliveries are deferred without an attempt
until OPEN UNTIL, then one probe goes), half_open (a probe is in flight), or gone (the endpoint
answered 410 Gone: deliveries fail at once until "webhooks endpoints reset HOST" or the node
changes). SLOW UNTIL: a request to it went unanswered past the slow threshold, so until then its
deliveries go to the slow lane instead of the main one.

${TARGET_HELP}

Examples:
  $ webhooks endpoints
  $ webhooks endpoints --local --org 42 --json
  $ webhooks endpoints reset crm.example.com --org 42`,
    )
    .action(action((options: EndpointsOptions, io: CliIo) => listEndpoints(options, io)));

  const reset = endpoints
    .command('reset')
    .description("forget an endpoint's health: closes its circuit, clears a gone mark")
    .argument('<host>', 'the host (crm.example.com) or the whole endpoint (https://crm.example.com:8443)')
    .option('--org <id>', "only this organization's endpoint (default: every organization's)")
    .option('--json', 'print what was reset as JSON');
  addTargetOptions(reset)
    .addHelpText(
      'after',
      `
Deliveries that already failed because the endpoint was gone are on the dead-letter queue:
send them again with "webhooks redrive" once the endpoint is back.

Examples:
  $ webhooks endpoints reset crm.example.com
  $ webhooks endpoints reset https://crm.example.com:8443 --org 42 --local`,
    )
    // The parent `endpoints` has the same options and takes them wherever they are written: read both.
    .action(
      action((host: string, _options: EndpointsOptions, io: CliIo) =>
        resetEndpoint(host, reset.optsWithGlobals<EndpointsOptions>(), io),
      ),
    );
}

function healthOf(target: Target): EndpointHealthStore {
  if (target.health === undefined) {
    throw new CliError(
      `${target.description} has no endpoint health table: deploy this version (or restart webhooks dev) first`,
    );
  }
  return target.health;
}

function checkedOrg(org: string | undefined): string | undefined {
  if (org === undefined) return undefined;
  if (org.trim() === '') throw new CliError('--org: expected an organization id, got ""');
  return org.trim();
}

async function listEndpoints(options: EndpointsOptions, io: CliIo): Promise<void> {
  const org = checkedOrg(options.org);
  const target = await resolveTarget(targetOptions(options));
  let found: EndpointHealth[];
  try {
    found = await healthOf(target).list(org);
  } finally {
    target.close();
  }
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify(
        found.map((h) => toEntry(h)),
        null,
        2,
      )}\n`,
    );
    return;
  }
  const style = createStyle(colourEnabled(io.stdout, io.env));
  if (found.length === 0) {
    io.stdout.write(
      `no endpoint has failed${org === undefined ? '' : ` for organization ${oneLine(org)}`} (${target.description})\n`,
    );
    return;
  }
  const rows = found.map((h) => {
    const e = toEntry(h);
    return [
      oneLine(e.organization_id),
      truncate(oneLine(e.endpoint), 40),
      styleState(e.state, style),
      String(e.consecutive_failures),
      e.open_until === null ? '-' : formatTime(e.open_until),
      e.last_success === null ? '-' : formatTime(e.last_success),
      e.slow_until === null ? '-' : formatTime(e.slow_until),
      truncate(oneLine(e.last_error ?? ''), 24),
    ];
  });
  const lines = table(
    [
      { header: 'ORG' },
      { header: 'ENDPOINT' },
      { header: 'STATE' },
      { header: 'FAILURES', align: 'right' },
      { header: 'OPEN UNTIL (UTC)' },
      { header: 'LAST SUCCESS (UTC)' },
      { header: 'SLOW UNTIL (UTC)' },
      { header: 'LAST ERROR' },
    ],
    rows,
    style,
  );
  lines.push('', `${plural(found.length, 'endpoint')} tracked (${target.description})`);
  lines.push(style.dim(`clear one with: webhooks endpoints reset <HOST>${targetArgs(options)}`));
  io.stdout.write(`${lines.join('\n')}\n`);
}

async function resetEndpoint(host: string, options: EndpointsOptions, io: CliIo): Promise<void> {
  const org = checkedOrg(options.org);
  const wanted = host.trim().toLowerCase();
  if (wanted === '') throw new CliError('HOST: expected a host name or an endpoint URL, got ""');
  const target = await resolveTarget(targetOptions(options));
  const reset: EndpointHealth[] = [];
  try {
    const store = healthOf(target);
    const matches = (await store.list(org)).filter(
      (h) => h.endpoint.toLowerCase() === wanted || hostOf(h.endpoint).toLowerCase() === wanted,
    );
    for (const h of matches) if (await store.remove(h.organization_id, h.endpoint)) reset.push(h);
  } finally {
    target.close();
  }
  if (reset.length === 0) {
    throw new CliError(
      `no tracked endpoint matches ${oneLine(host)}${org === undefined ? '' : ` for organization ${oneLine(org)}`} (${target.description}); "webhooks endpoints" lists them`,
    );
  }
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ reset: reset.map((h) => toEntry(h)) }, null, 2)}\n`);
    return;
  }
  for (const h of reset)
    io.stdout.write(`reset ${oneLine(h.organization_id)} ${oneLine(h.endpoint)} (was ${h.state})\n`);
  if (reset.some((h) => h.state === 'gone')) {
    io.stdout.write(
      `deliveries that failed while it was gone are on the dead-letter queue: webhooks redrive${targetArgs(options)}\n`,
    );
  }
}

function toEntry(h: EndpointHealth, nowMs = Date.now()): EndpointEntry {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    organization_id: h.organization_id,
    endpoint: h.endpoint,
    state: h.state,
    consecutive_failures: h.consecutive_failures,
    open_until: h.state === 'open' ? iso(h.open_until_ms) : null,
    last_success: iso(h.last_success_ms),
    last_failure: iso(h.last_failure_ms),
    last_error: h.last_error,
    gone_at: iso(h.gone_at_ms),
    slow_until: isSlow(h, nowMs) ? iso(h.slow_until_ms) : null,
  };
}

function styleState(state: EndpointHealth['state'], style: Style): string {
  return state === 'closed'
    ? style.green(state)
    : state === 'gone' || state === 'open'
      ? style.red(state)
      : style.yellow(state);
}

/** One line on an endpoint's circuit (and slow mark) for `inspect` and `failures`; undefined when there is nothing to say. */
export function circuitLine(h: EndpointHealth | undefined, nowMs = Date.now()): string | undefined {
  if (h === undefined) return undefined;
  const circuit = circuitText(h);
  if (!isSlow(h, nowMs)) return circuit;
  const slow = `marked slow until ${formatTime(new Date(h.slow_until_ms ?? 0).toISOString())} UTC: deliveries go to the slow lane`;
  return circuit === undefined ? slow : `${circuit}; ${slow}`;
}

function circuitText(h: EndpointHealth): string | undefined {
  if (h.state === 'closed' && h.consecutive_failures === 0) return undefined;
  switch (h.state) {
    case 'closed':
      return `closed, ${plural(h.consecutive_failures, 'transient failure')} in a row`;
    case 'open':
      return `open until ${h.open_until_ms === null ? '?' : formatTime(new Date(h.open_until_ms).toISOString())} UTC after ${plural(h.consecutive_failures, 'failure')}: deliveries deferred`;
    case 'half_open':
      return 'half-open: a probe delivery is in flight';
    case 'gone':
      return `gone (410${h.gone_at_ms === null ? '' : ` at ${formatTime(new Date(h.gone_at_ms).toISOString())} UTC`}): deliveries fail at once; webhooks endpoints reset ${hostOf(h.endpoint)}`;
  }
}
