import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCliInProcess, runProcess } from '../fixtures/cli.ts';
import { makeDefinitionJson, makeDetailJson, makeEventJson, makeNodeJson } from '../fixtures/factories.ts';

// Checks what CONTRACT section 6 promises of `webhooks validate`: stdout, one `error: ...` line on
// stderr, exit code. The CLI runs in this process through run(argv, io) (cli/main.ts), the
// function the bin calls; the `npx webhooks` test runs the real bin in a child process, as a user would.

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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-cli-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('webhooks validate', () => {
  it('reports a template and a context nested too deep as problems by node and field, not a stack overflow', async () => {
    // Written as text: JSON.stringify itself overflows on 5,000 levels.
    const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const event = makeEventJson({
      detail: {
        nodes: [makeNodeJson({ id: 'deep', data: { payload_template: '__TEMPLATE__' } }), makeNodeJson({ id: 'fine' })],
        initial_context: '__CONTEXT__',
      },
    });
    const text = JSON.stringify(event).replace('"__TEMPLATE__"', deep(2_000)).replace('"__CONTEXT__"', deep(5_000));
    await writeFile(file('too-deep.json'), text);
    const result = await webhooks('validate', file('too-deep.json'));
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      `${file('too-deep.json')}: deep: data.payload_template: nested more than 64 levels deep (arrays and objects); the limit keeps rendering and logging safe`,
      `${file('too-deep.json')}: initial_context: the run's context is too deep: nested more than 64 levels deep (arrays and objects); the limit keeps rendering and logging safe`,
    ]);
    expect(errorLine(result)).toBe(`error: ${file('too-deep.json')}: 2 problems found`);
  });

  it('accepts the example workflow definition', async () => {
    const result = await webhooks('validate', 'examples/workflow-definition.json');
    expect(result).toEqual({ code: 0, stdout: 'ok: 3 webhook nodes\n', stderr: '' });
  });

  it('accepts the example event', async () => {
    const result = await webhooks('validate', 'examples/event.json');
    expect(result).toEqual({ code: 0, stdout: 'ok: 3 webhook nodes\n', stderr: '' });
  });

  it('accepts an event detail on its own', async () => {
    const detail = await writeJson('detail.json', makeDetailJson());
    expect(await webhooks('validate', detail)).toEqual({ code: 0, stdout: 'ok: 1 webhook node\n', stderr: '' });
  });

  it('counts no webhook nodes in a definition without any', async () => {
    const definition = await writeJson('empty-definition.json', makeDefinitionJson([]));
    expect(await webhooks('validate', definition)).toEqual({ code: 0, stdout: 'ok: 0 webhook nodes\n', stderr: '' });
  });

  it('lists every problem of several bad nodes, one line each, and exits 1', async () => {
    const definition = await writeJson(
      'bad-nodes.json',
      makeDefinitionJson([
        makeNodeJson({ id: 'good' }),
        makeNodeJson({ id: 'bad-method', data: { http_method: 'TRACE' } }),
        makeNodeJson({ id: 'bad-retry', data: { retry_config: { max_attempts: 0, max_delay_seconds: 50_000 } } }),
        makeNodeJson({ id: 'fine-template', data: { payload_template: { a: '{{ }}', b: ['{{= it }}'] } } }),
        makeNodeJson({ id: 'bad-url', data: { endpoint_url: 'https://h.example/{{ a b }}' } }),
        makeNodeJson({ id: 'fine-header', data: { custom_headers: [{ key: 'X-A', value: '{{~ it }}' }] } }),
        makeNodeJson({ id: 'good' }),
      ]),
    );
    const result = await webhooks('validate', definition);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      `${definition}: bad-method: data.http_method: must be one of GET, POST, PUT, PATCH, DELETE, not the text "TRACE"`,
      `${definition}: bad-retry: data.retry_config.max_attempts: must be at least 1`,
      `${definition}: bad-retry: data.retry_config.max_delay_seconds: must be at most 43200`,
      `${definition}: nodes[7]: id: duplicate node id "good": an earlier node has it, and delivery ids are one per run and node`,
      `${definition}: bad-url: data.endpoint_url: the URL template has braces that are not a placeholder (write {{ path }} or {{ path | default }})`,
    ]);
    // The fine nodes render (as in Dograh), with warnings about their braces on stderr.
    const stderr = result.stderr.split('\n').filter((line) => line !== '');
    expect(stderr.filter((line) => !line.startsWith('warning: '))).toEqual([`error: ${definition}: 5 problems found`]);
    expect(stderr.filter((line) => line.startsWith(`warning: ${definition}: fine-`))).toHaveLength(3);
  });

  it('renders an event with its own context and reports a URL value it lacks', async () => {
    const event = await writeJson(
      'event-missing-value.json',
      makeEventJson({
        detail: {
          nodes: [
            makeNodeJson({
              id: 'crm',
              data: { endpoint_url: 'https://crm.example.com/{{initial_context.account_id}}' },
            }),
          ],
        },
      }),
    );
    const result = await webhooks('validate', event);
    expect(result.stdout).toBe(
      `${event}: crm: data.endpoint_url: {{initial_context.account_id}} has no value, so the URL cannot be built\n`,
    );
    expect(errorLine(result)).toBe(`error: ${event}: 1 problem found`);
  });

  it('reports a header value of the event that would inject a line', async () => {
    const event = await writeJson(
      'event-header.json',
      makeEventJson({
        detail: {
          initial_context: { note: 'x\r\nX-Evil: 1' },
          nodes: [
            makeNodeJson({
              id: 'crm',
              data: { custom_headers: [{ key: 'X-Note', value: '{{initial_context.note}}' }] },
            }),
          ],
        },
      }),
    );
    const result = await webhooks('validate', event);
    expect(result.stdout).toBe(
      `${event}: crm: data.custom_headers.0: the value of header "X-Note" contains a line break or NUL\n`,
    );
    expect(result.code).toBe(1);
  });

  it('reports bad event fields with their detail path, all of them', async () => {
    const event = await writeJson(
      'bad-event.json',
      makeEventJson({ detail: { workflow_run_id: 'abc', organization_id: 'a/b' } }),
    );
    const result = await webhooks('validate', event);
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      `${event}: detail.organization_id: organization_id may hold only letters, digits, "-" and "_"`,
      `${event}: detail.workflow_run_id: must be a number, not the text "abc"`,
    ]);
    expect(errorLine(result)).toBe(`error: ${event}: 2 problems found`);
  });

  it("reports the problems of the nodes too when the event's own fields are bad", async () => {
    const event = await writeJson(
      'bad-event-bad-node.json',
      makeEventJson({
        detail: {
          workflow_run_id: 'abc',
          nodes: [
            makeNodeJson({ id: 'good' }),
            makeNodeJson({ id: 'bad-method', data: { http_method: 'TRACE' } }),
            makeNodeJson({ id: 'bad-url', data: { endpoint_url: 'https://h.example/{{ a' } }),
          ],
        },
      }),
    );
    const result = await webhooks('validate', event);
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      `${event}: detail.workflow_run_id: must be a number, not the text "abc"`,
      `${event}: bad-method: data.http_method: must be one of GET, POST, PUT, PATCH, DELETE, not the text "TRACE"`,
      `${event}: bad-url: data.endpoint_url: the URL template has a "{{" without its "}}"`,
    ]);
    expect(errorLine(result)).toBe(`error: ${event}: 3 problems found`);
  });

  it('reports a custom header name that is not an HTTP token, which would fail every delivery', async () => {
    const definition = await writeJson(
      'bad-header-name.json',
      makeDefinitionJson([
        makeNodeJson({
          id: 'crm',
          data: {
            custom_headers: [
              { key: 'X-Source', value: 'dograh' },
              { key: 'X Tenant: 1', value: 'a' },
            ],
          },
        }),
      ]),
    );
    const result = await webhooks('validate', definition);
    expect(result.stdout).toBe(`${definition}: crm: data.custom_headers.1: "X Tenant: 1" is not a valid header name\n`);
    expect(errorLine(result)).toBe(`error: ${definition}: 1 problem found`);
  });

  it('reports a custom header value written with a line break in the definition', async () => {
    const definition = await writeJson(
      'header-line-break.json',
      makeDefinitionJson([
        makeNodeJson({ id: 'crm', data: { custom_headers: [{ key: 'X-Note', value: 'a\nX-Evil: 1' }] } }),
      ]),
    );
    const result = await webhooks('validate', definition);
    expect(result.stdout).toBe(
      `${definition}: crm: data.custom_headers.0: the value of header "X-Note" contains a line break or NUL\n`,
    );
    expect(result.code).toBe(1);
  });

  it('warns on stderr about custom headers that will be dropped, and still passes', async () => {
    const definition = await writeJson(
      'dropped-headers.json',
      makeDefinitionJson([
        makeNodeJson({
          id: 'crm',
          data: {
            custom_headers: [
              { key: 'X-Source', value: 'dograh' },
              { key: 'Authorization', value: 'Bearer x' },
              { key: 'X-Custom-Auth', value: 'x' },
            ],
          },
        }),
      ]),
    );
    const result = await webhooks('validate', definition);
    expect(result).toEqual({
      code: 0,
      stdout: 'ok: 1 webhook node\n',
      stderr:
        `warning: ${definition}: crm: data.custom_headers.1: header "Authorization" will be dropped: looks like a secret: put it in a credential\n` +
        `warning: ${definition}: crm: data.custom_headers.2: header "X-Custom-Auth" will be dropped: looks like a secret: put it in a credential\n`,
    });
  });

  it('names the kind of file it was given when that is no definition and no event', async () => {
    const cases: [string, string][] = [
      ['examples/context.json', "this is a run's context (template variables, for render --context)"],
      ['examples/secrets.json', 'this is a secrets file (credentials by secret name, for --secrets)'],
      [
        await writeJson('one-node.json', makeNodeJson({ id: 'crm' })),
        'this is a single workflow node (put it in a definition: {"nodes": [<the node>], "edges": []})',
      ],
    ];
    for (const [input, kind] of cases) {
      const result = await webhooks('validate', input);
      expect(result.code, input).toBe(1);
      expect(result.stdout).toBe(`${input}: (root): ${kind}, not a workflow definition or a run-completed event\n`);
    }
    const template = await webhooks('validate', 'examples/payload-template.json');
    expect(template.stdout).toBe(
      'examples/payload-template.json: (root): neither a workflow definition ({"nodes": [...], "edges": [...]}) nor a run-completed event ({"detail": {...}}): it has no "nodes" and no "detail"\n',
    );
  });

  it("warns about an event whose source or detail-type the stack's rule does not match, and still passes", async () => {
    const event = await writeJson('other-source.json', {
      ...makeEventJson(),
      source: 'dograh.workflow',
      'detail-type': 'Run Completed',
    });
    const result = await webhooks('validate', event);
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n').filter((line) => line !== '')).toEqual([
      `warning: ${event}: source: "dograh.workflow": the stack's rule matches "dograh.workflows" (unless it was deployed with -c eventSource=...); an event that matches no rule is dropped without an error`,
      `warning: ${event}: detail-type: "Run Completed": the stack's rule matches "Workflow Run Completed" (unless it was deployed with -c detailType=...); an event that matches no rule is dropped without an error`,
    ]);
  });

  it('refuses a file that is not a JSON object', async () => {
    const list = await writeJson('list.json', [1]);
    const result = await webhooks('validate', list);
    expect(result.stdout).toBe(`${list}: (root): expected a JSON object\n`);
    expect(errorLine(result)).toBe(`error: ${list}: 1 problem found`);
  });

  it('names a file that is not JSON', async () => {
    await writeFile(file('not-json.json'), 'nodes: []');
    const result = await webhooks('validate', file('not-json.json'));
    expect(errorLine(result)).toMatch(new RegExp(`^error: ${escapeRegex(file('not-json.json'))}: not valid JSON: `));
  });

  it('names a file that does not exist', async () => {
    const missing = file('nowhere.json');
    expect(errorLine(await webhooks('validate', missing))).toBe(
      `error: ${missing}: cannot read the file (no such file)`,
    );
  });

  it('requires a file argument', async () => {
    expect(errorLine(await webhooks('validate'))).toBe("error: missing required argument 'file'");
  });
});

describe.concurrent('installed as a bin', () => {
  it('runs as `npx webhooks` from the project, with no build step', async () => {
    const result = await runProcess('npx', ['--no-install', 'webhooks', 'validate', 'examples/event.json']);
    expect(result).toMatchObject({ code: 0, stdout: 'ok: 3 webhook nodes\n' });
  });
});
