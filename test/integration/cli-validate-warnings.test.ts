import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../fixtures/cli.ts';
import { makeDefinitionJson, makeNodeJson } from '../fixtures/factories.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-validate-warnings-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('webhooks validate warns about templates that render, but not as meant', () => {
  it('prints file: node: field: what for stray braces and unknown variables, and still passes', async () => {
    const file = join(dir, 'definition.json');
    await writeFile(
      file,
      JSON.stringify(
        makeDefinitionJson([
          makeNodeJson({
            id: 'crm',
            data: { payload_template: { run: '{{ workflow_run_id }', who: '{{ customer }}' } },
          }),
        ]),
      ),
    );
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('ok: 1 webhook node\n');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines[0]).toBe(
      `warning: ${file}: crm: data.payload_template.run: "{{ workflow_run_id }" is not a placeholder and is sent as written (write {{ path }} or {{ path | default }})`,
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^warning: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: crm: data.payload_template.who: unknown variable "customer" in \\{\\{ customer \\}\\} renders empty; the variables are `,
      ),
    );
    expect(lines).toHaveLength(2);
  });
});
