import { Command, Help } from 'commander';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, run } from '../../cli/main.ts';
import { errorLine, runCliInProcess } from '../fixtures/cli.ts';

// cli/main.ts lists the commands it does not load from a table; each entry must say
// what the command's own module registers, or the root help would drift from it.
describe('the command table of run(argv, io)', () => {
  for (const [name, entry] of Object.entries(COMMANDS)) {
    it(`lists ${name} as its module registers it`, async () => {
      const program = new Command();
      (await entry.load())(program);
      const command = program.commands.find((c) => c.name() === name);
      expect(command?.description()).toBe(entry.description);
      expect(new Help().subcommandTerm(command!)).toBe(`${name} ${entry.term}`);
    });
  }

  it('lists every command in the root help, with its usage and description', async () => {
    const result = await runCliInProcess(['--help']);
    expect(result.code).toBe(0);
    for (const [name, entry] of Object.entries(COMMANDS)) {
      expect(result.stdout).toMatch(
        new RegExp(`^  ${name} ${entry.term.replace(/[[\]]/g, '\\$&')} +${entry.description.split(' ')[0]}`, 'm'),
      );
    }
  });

  it('keeps no state between runs: each builds its own program', async () => {
    const first = await runCliInProcess([
      'render',
      '--url',
      'https://a.example.com/{{workflow_run_id}}',
      '--context',
      'examples/context.json',
    ]);
    const second = await runCliInProcess([
      'render',
      '--url',
      'https://b.example.com/',
      '--context',
      'examples/context.json',
    ]);
    expect([first.stdout, second.stdout]).toEqual(['https://a.example.com/1234\n', 'https://b.example.com/\n']);
  });

  it('writes only to the io it is given and returns the exit code', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(['validate', 'no-such-file.json'], {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: {},
    });
    expect({ code, out, err }).toEqual({
      code: 1,
      out: [],
      err: ['error: no-such-file.json: cannot read the file (no such file)\n'],
    });
  });
});

describe('webhooks --version', () => {
  it('prints the version of the package and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      expect(await runCliInProcess([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('unknown options and commands', () => {
  it('names a mistyped required flag as unknown, with the flag it resembles', async () => {
    const result = await runCliInProcess([
      'render',
      '--template',
      'examples/payload-template.json',
      '--contxt',
      'examples/context.json',
    ]);
    expect(errorLine(result)).toBe("error: unknown option '--contxt' (did you mean --context?)");
  });

  it('names a mistyped optional flag the same way, on one line', async () => {
    const result = await runCliInProcess(['failures', '--sinc', '1h']);
    expect(errorLine(result)).toBe("error: unknown option '--sinc' (did you mean --since?)");
  });

  it('still says a required flag is missing when nothing unknown was typed', async () => {
    const result = await runCliInProcess(['local', '--secrets', 'examples/secrets.json']);
    expect(errorLine(result)).toBe("error: required option '-e, --event <file>' not specified");
  });

  it('suggests the command a mistyped one resembles', async () => {
    expect(errorLine(await runCliInProcess(['rendr']))).toBe("error: unknown command 'rendr' (did you mean render?)");
  });
});
