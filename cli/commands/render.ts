import type { Command } from 'commander';
import { CredentialError, InvalidTemplateError } from '../../shared/errors.ts';
import type { Json } from '../../shared/schemas/node.ts';
import { JsonSchema } from '../../shared/schemas/node.ts';
import { renderBody, renderUrl } from '../../shared/templates/render.ts';
import { contextFrom } from '../../shared/schemas/input-file.ts';
import { contextDepthProblem, depthExcess, depthReason, MAX_NODE_DEPTH } from '../../shared/schemas/depth.ts';
import { DEFAULT_SECRETS_PREFIX } from '../../shared/schemas/credential.ts';
import { action, CliError, escapeControl, readJsonFile, type CliIo } from '../io.ts';
import { readEventsFile } from '../events-file.ts';
import { safeParse } from '../../shared/schemas/issues.ts';

interface RenderOptions {
  readonly template?: string;
  readonly url?: string;
  readonly context?: string;
  readonly event?: string;
  readonly node?: string;
  readonly secrets?: string;
  readonly json?: boolean;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('render a payload template (or an endpoint URL) with a context, or dry-run one node of an event')
    .option('-t, --template <file>', 'payload template file (JSON)')
    .option('-u, --url <template>', 'endpoint URL template')
    .option('-c, --context <file>', 'context file: an event detail without workflow_definition')
    .option('-e, --event <file>', 'dry run: a run-completed event (JSON), with --node')
    .option('-n, --node <id>', 'dry run: the webhook node of the event to show')
    .option(
      '-s, --secrets <file>',
      'dry run: secret names mapped to credentials and signing secrets, as for "webhooks local"',
    )
    .option('--json', 'dry run: print the request as JSON')
    .addHelpText(
      'after',
      `
The dry run (--event, --node) shows exactly the request that node would send for that run: method,
URL, every header (the credential's value masked as ****; the webhook-id, webhook-timestamp and
webhook-signature headers when a signing secret of the secrets file signs it), the body as sent,
then the placeholders that rendered empty and why (missing from the run's context, or null).
Nothing is sent and no OAuth2 token is fetched. Exit 1 when the delivery would fail before sending.

Examples:
  $ webhooks render --template examples/payload-template.json --context examples/context.json
  $ webhooks render --url 'https://crm.example.com/runs/{{workflow_run_id}}' --context examples/context.json
  $ webhooks render --event examples/event.json --node webhook-1 --secrets examples/secrets.json`,
    )
    .action(action(render));
}

async function render(options: RenderOptions, io: CliIo): Promise<void> {
  if (options.event !== undefined || options.node !== undefined) return dryRun(options, io);
  if ((options.template === undefined) === (options.url === undefined)) {
    throw new CliError('render: give exactly one of --template FILE or --url TEMPLATE');
  }
  if (options.context === undefined) throw new CliError('render: --context FILE is required with --template or --url');
  const context = contextFrom(await readJsonFile(options.context));
  if (context === undefined) throw new CliError(`${options.context}: (root): the context must be a JSON object`);
  // Checked before anything recurses into them: a stack overflow is no answer for a user.
  const deepContext = contextDepthProblem(context);
  if (deepContext !== undefined)
    throw new CliError(`${options.context}: ${deepContext.path}: the run's context is too deep: ${deepContext.reason}`);
  const scope = { context, now: new Date() };
  if (options.url !== undefined) {
    const url = withSource('--url', () => renderUrl(options.url as string, scope, 'endpoint_url'));
    io.stdout.write(`${url}\n`);
    return;
  }
  const file = options.template as string;
  const raw = await readJsonFile(file);
  const deepTemplate = depthExcess(raw, MAX_NODE_DEPTH);
  if (deepTemplate !== undefined) throw new CliError(`${file}: (root): ${depthReason(deepTemplate)}`);
  const parsed = safeParse(JsonSchema, raw);
  if (!parsed.success) throw new CliError(`${file}: (root): not a JSON value a template can hold`);
  const body: Json = withSource(file, () => renderBody(parsed.data, scope, 'payload_template'));
  io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
}

function withSource<T>(source: string, fn: () => T): T {
  try {
    const out = fn();
    // Promises too (the dry run): the same error, named the same way.
    if (out instanceof Promise) return out.catch((error: unknown) => rethrow(source, error)) as T;
    return out;
  } catch (error) {
    return rethrow(source, error);
  }
}

function rethrow(source: string, error: unknown): never {
  if (error instanceof InvalidTemplateError) throw new CliError(`${source}: ${error.path}: ${error.reason}`);
  throw error;
}

/** `render --event E.json --node ID [--secrets S.json]`: what one node would send for that run. */
async function dryRun(options: RenderOptions, io: CliIo): Promise<void> {
  if (options.event === undefined || options.node === undefined)
    throw new CliError('render: the dry run needs both --event FILE and --node ID');
  if (options.template !== undefined || options.url !== undefined || options.context !== undefined) {
    throw new CliError('render: --event/--node do not go with --template, --url or --context');
  }
  // Loaded only for the dry run: the template and URL forms stay as light as they were.
  const [{ dryRunNode, formatDryRun }, { createFileCredentialStore, loadSecretsFile }] = await Promise.all([
    import('../../shared/use-cases/dry-run-node.ts'),
    import('../../shared/adapters/file-credential-store.ts'),
  ]);
  const events = readEventsFile(await readJsonFile(options.event), options.event);
  const [event] = events;
  if (event === undefined || events.length !== 1)
    throw new CliError(`${options.event}: (root): holds ${events.length} events; the dry run takes one`);
  const credentials =
    options.secrets === undefined
      ? undefined
      : createFileCredentialStore(await loadSecretsFile(options.secrets), DEFAULT_SECRETS_PREFIX);
  const file = options.event;
  const run = await withSource(`${file}: node ${options.node}`, () =>
    dryRunNode(event.parsed.detail, options.node as string, credentials, new Date(), file),
  ).catch((error: unknown) => {
    if (error instanceof CliError) throw error;
    // A credential or signing secret the delivery would fail on.
    if (error instanceof CredentialError)
      throw new CliError(`${options.secrets ?? file}: the delivery would fail: ${error.message}`);
    throw error;
  });
  if (options.json) {
    io.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return;
  }
  // Tenant text (URL, headers, body, placeholders) goes to a terminal: control characters as escapes.
  io.stdout.write(`${formatDryRun(run).map(escapeControl).join('\n')}\n`);
}
