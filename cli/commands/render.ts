import type { Command } from 'commander';
import { InvalidTemplateError } from '../../shared/errors.ts';
import type { Json } from '../../shared/schemas/node.ts';
import { JsonSchema } from '../../shared/schemas/node.ts';
import { renderBody, renderUrl } from '../../shared/templates/render.ts';
import { contextFrom } from '../../shared/schemas/input-file.ts';
import { action, CliError, readJsonFile, type CliIo } from '../io.ts';

interface RenderOptions {
  readonly template?: string;
  readonly url?: string;
  readonly context: string;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('render a payload template (or an endpoint URL) with a context, as a delivery would')
    .option('-t, --template <file>', 'payload template file (JSON)')
    .option('-u, --url <template>', 'endpoint URL template')
    .requiredOption('-c, --context <file>', 'context file: an event detail without workflow_definition')
    .addHelpText(
      'after',
      `
Examples:
  $ webhooks render --template examples/payload-template.json --context examples/context.json
  $ webhooks render --url 'https://crm.example.com/runs/{{workflow_run_id}}' --context examples/context.json`,
    )
    .action(action(render));
}

async function render(options: RenderOptions, io: CliIo): Promise<void> {
  if ((options.template === undefined) === (options.url === undefined)) {
    throw new CliError('render: give exactly one of --template FILE or --url TEMPLATE');
  }
  const context = contextFrom(await readJsonFile(options.context));
  if (context === undefined) throw new CliError(`${options.context}: (root): the context must be a JSON object`);
  const scope = { context, now: new Date() };
  if (options.url !== undefined) {
    const url = withSource('--url', () => renderUrl(options.url as string, scope, 'endpoint_url'));
    io.stdout.write(`${url}\n`);
    return;
  }
  const file = options.template as string;
  const parsed = JsonSchema.safeParse(await readJsonFile(file));
  if (!parsed.success) throw new CliError(`${file}: (root): not a JSON value a template can hold`);
  const body: Json = withSource(file, () => renderBody(parsed.data, scope, 'payload_template'));
  io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
}

function withSource<T>(source: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof InvalidTemplateError) throw new CliError(`${source}: ${error.path}: ${error.reason}`);
    throw error;
  }
}
