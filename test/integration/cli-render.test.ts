import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCli, runCliInProcess } from '../fixtures/cli.ts';

// Checks what CONTRACT section 6 promises of `webhooks render`: stdout, one `error: ...` line on
// stderr, exit code. The CLI runs in this process through run(argv, io) (cli/main.ts), the
// function the bin calls; the seed example test runs the real bin in a child process, as a user would.

const webhooks = (...args: string[]) => runCliInProcess(args);

let dir: string;
const file = (name: string) => join(dir, name);

async function writeJson(name: string, value: unknown): Promise<string> {
  await writeFile(file(name), JSON.stringify(value));
  return file(name);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const SEED_BODY = {
  run_id: '1234',
  customer: 'Ada Lovelace',
  outcome: 'refund issued',
  recording: 'https://recordings.example.com/runs/1234.mp3',
  call_disposition: 'resolved',
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-cli-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('webhooks render --event --node (dry run)', () => {
  it('prints the request of one node, the credential masked and the signature headers, and exits 0', async () => {
    const secrets = await writeJson('dry-run-secrets.json', {
      'webhooks/credentials/42/crm-token': { type: 'BEARER_TOKEN', token: 'CANARY-dry-run-cli' },
      'webhooks/credentials/42/signing': { type: 'SIGNING', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
    });
    const result = await webhooks(
      'render',
      '--event',
      'examples/event.json',
      '--node',
      'webhook-1',
      '--secrets',
      secrets,
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('POST http://127.0.0.1:8787/webhook/dograh');
    expect(lines).toContain('Authorization: Bearer ****');
    expect(lines.some((l) => /^webhook-signature: v1,[A-Za-z0-9+/]{43}=$/.test(l))).toBe(true);
    expect(lines).toContain('empty values: none');
    expect(result.stdout).not.toContain('CANARY-dry-run-cli');
  });

  it('exits 1 naming the file when the node is not in the event', async () => {
    const result = await webhooks('render', '--event', 'examples/event.json', '--node', 'nope');
    expect(errorLine(result, 1)).toBe(
      'error: examples/event.json: workflow_definition.nodes: no webhook node with id "nope"',
    );
  });
});

describe('webhooks render --template', () => {
  it('prints the seed example body as JSON and exits 0', async () => {
    const result = await runCli([
      'render',
      '--template',
      'examples/payload-template.json',
      '--context',
      'examples/context.json',
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual(SEED_BODY);
  });

  it('accepts a whole event as the context', async () => {
    const result = await webhooks(
      'render',
      '--template',
      'examples/payload-template.json',
      '--context',
      'examples/event.json',
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(SEED_BODY);
  });

  it('accepts the short flags -t and -c', async () => {
    const result = await webhooks('render', '-t', 'examples/payload-template.json', '-c', 'examples/context.json');
    expect(JSON.parse(result.stdout)).toEqual(SEED_BODY);
  });

  it('renders nested templates, keys, typed values and defaults', async () => {
    const template = await writeJson('nested.json', {
      '{{workflow_name}}': { n: 1, ok: true, nothing: null, tags: ['{{ missing | none }}', '{{cost_info.total_usd}}'] },
      note: 'a\\nb',
    });
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      'Support line': { n: 1, ok: true, nothing: null, tags: ['none', '0.42'] },
      note: 'a\nb',
      call_disposition: 'resolved',
    });
  });

  it('prints an array template without call_disposition', async () => {
    const template = await writeJson('array.json', ['{{workflow_run_id}}']);
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(JSON.parse(result.stdout)).toEqual(['1234']);
  });

  it('keeps eta syntax in a template as text', async () => {
    const template = await writeJson('eta.json', { x: '<%= process.exit(3) %>' });
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ x: '<%= process.exit(3) %>' });
  });
});

describe('webhooks render --url', () => {
  it('prints the rendered URL, percent-encoded', async () => {
    const result = await webhooks(
      'render',
      '--url',
      'https://crm.example.com/runs/{{workflow_run_id}}?c={{initial_context.customer_name}}',
      '--context',
      'examples/context.json',
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('https://crm.example.com/runs/1234?c=Ada%20Lovelace\n');
  });

  it('fails on a missing value, naming --url, the field and the placeholder', async () => {
    const result = await webhooks(
      'render',
      '--url',
      'https://crm.example.com/{{ missing }}',
      '--context',
      'examples/context.json',
    );
    expect(errorLine(result)).toBe(
      'error: --url: endpoint_url: {{ missing }} has no value, so the URL cannot be built',
    );
    expect(result.stdout).toBe('');
  });

  it('fails on an object value', async () => {
    const result = await webhooks(
      'render',
      '--url',
      'https://crm.example.com/{{initial_context}}',
      '--context',
      'examples/context.json',
    );
    expect(errorLine(result)).toBe(
      'error: --url: endpoint_url: {{initial_context}} is an object, which cannot be part of a URL',
    );
  });

  it('fails on a URL that is not http or https', async () => {
    const result = await webhooks('render', '--url', 'javascript:alert(1)', '--context', 'examples/context.json');
    expect(errorLine(result)).toBe('error: --url: endpoint_url: the URL must start with http:// or https://');
  });

  it('fails on user info in the URL', async () => {
    const result = await webhooks(
      'render',
      '--url',
      'https://user:pw@crm.example.com/',
      '--context',
      'examples/context.json',
    );
    expect(errorLine(result)).toContain('must not carry a user name or password');
  });
});

describe('webhooks render errors', () => {
  it('refuses a template or a context nested too deep with one error line, not a stack overflow', async () => {
    // Written as text: JSON.stringify itself overflows on 5,000 levels.
    const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    await writeFile(file('deep-template.json'), deep(5_000));
    await writeFile(file('deep-context.json'), `{"initial_context": ${deep(5_000)}}`);
    const template = await webhooks(
      'render',
      '--template',
      file('deep-template.json'),
      '--context',
      'examples/context.json',
    );
    expect(errorLine(template)).toBe(
      `error: ${file('deep-template.json')}: (root): nested more than 64 levels deep (arrays and objects); the limit keeps rendering and logging safe`,
    );
    const context = await webhooks(
      'render',
      '--template',
      'examples/payload-template.json',
      '--context',
      file('deep-context.json'),
    );
    expect(errorLine(context)).toMatch(
      new RegExp(
        `^error: ${file('deep-context.json').replaceAll('/', '\\/')}: initial_context: the run's context is too deep: nested more than 64 levels deep`,
      ),
    );
  });

  it('keeps the error on one line when a template holds line breaks and escapes', async () => {
    let deep: unknown = '{{ x }}';
    for (let i = 0; i < 70; i++) deep = [deep];
    await writeFile(file('newlines.json'), JSON.stringify({ 'a\nb': deep, c: '\u001b[2J' }));
    const result = await webhooks('render', '--template', file('newlines.json'), '--context', 'examples/context.json');
    expect(errorLine(result)).toBe(
      `error: ${file('newlines.json')}: (root): nested more than 64 levels deep (arrays and objects); the limit keeps rendering and logging safe`,
    );
  });

  it('names a template file that does not exist', async () => {
    const missing = file('no-such-template.json');
    const result = await webhooks('render', '--template', missing, '--context', 'examples/context.json');
    expect(errorLine(result)).toBe(`error: ${missing}: cannot read the file (no such file)`);
    expect(result.stdout).toBe('');
  });

  it('names a context file that does not exist', async () => {
    const missing = file('no-such-context.json');
    const result = await webhooks('render', '--template', 'examples/payload-template.json', '--context', missing);
    expect(errorLine(result)).toBe(`error: ${missing}: cannot read the file (no such file)`);
  });

  it('names a template file that is not JSON', async () => {
    await writeFile(file('broken.json'), '{"run": "{{workflow_run_id}}",');
    const result = await webhooks('render', '--template', file('broken.json'), '--context', 'examples/context.json');
    expect(errorLine(result)).toMatch(new RegExp(`^error: ${escapeRegex(file('broken.json'))}: not valid JSON: `));
  });

  it('names a context file that is not JSON', async () => {
    await writeFile(file('broken-context.json'), 'workflow_run_id=1');
    const result = await webhooks(
      'render',
      '--template',
      'examples/payload-template.json',
      '--context',
      file('broken-context.json'),
    );
    expect(errorLine(result)).toMatch(
      new RegExp(`^error: ${escapeRegex(file('broken-context.json'))}: not valid JSON: `),
    );
  });

  it('prints text that is no placeholder as written, as Dograh does', async () => {
    const template = await writeJson('bad-placeholder.json', { customer: { name: '{{ initial context }}' } });
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).customer).toEqual({ name: '{{ initial context }}' });
  });

  it('renders a reserved name as missing, reading own keys only', async () => {
    const template = await writeJson('proto.json', { x: '[{{ initial_context.__proto__ }}]' });
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(JSON.parse(result.stdout).x).toBe('[]');
  });

  it('renders an unknown time zone as missing', async () => {
    const template = await writeJson('zone.json', { at: '[{{current_time_Moon/Base}}]' });
    const result = await webhooks('render', '--template', template, '--context', 'examples/context.json');
    expect(JSON.parse(result.stdout).at).toBe('[]');
  });

  it('refuses a context that is not an object', async () => {
    const context = await writeJson('list-context.json', [1, 2]);
    const result = await webhooks('render', '--template', 'examples/payload-template.json', '--context', context);
    expect(errorLine(result)).toBe(`error: ${context}: (root): the context must be a JSON object`);
  });

  it('refuses --template and --url together', async () => {
    const result = await webhooks(
      'render',
      '--template',
      'examples/payload-template.json',
      '--url',
      'https://h.example',
      '--context',
      'examples/context.json',
    );
    expect(errorLine(result)).toBe('error: render: give exactly one of --template FILE or --url TEMPLATE');
  });

  it('refuses neither --template nor --url', async () => {
    const result = await webhooks('render', '--context', 'examples/context.json');
    expect(errorLine(result)).toBe('error: render: give exactly one of --template FILE or --url TEMPLATE');
  });

  it('requires --context', async () => {
    const result = await webhooks('render', '--template', 'examples/payload-template.json');
    expect(errorLine(result)).toContain('--context');
  });

  it('refuses an unknown command', async () => {
    expect(errorLine(await webhooks('bogus'))).toBe("error: unknown command 'bogus'");
  });
});
