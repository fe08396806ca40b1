import { Command, CommanderError, Help, type Option } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { startRun, type CliIo } from './io.ts';

/**
 * The `webhooks` CLI as a function: `run(argv, io)` parses argv (the arguments
 * after `webhooks`), runs one command writing through `io`, and returns the exit
 * code. It never exits the process and keeps no state between runs (a fresh
 * Command each time), so tests call it in-process; cli/bin.ts is the shim that
 * gives it the process's streams.
 *
 * Start-up is lazy: a command's module (and the SDK clients, schemas and
 * renderer it brings) is imported only when that command runs. The others are
 * listed for the root help and for "did you mean" from the table below.
 */

/** A command as the root help lists it, and how to load the module that registers it. */
interface CommandEntry {
  /** Its usage in the root help's list, after the name. */
  readonly term: string;
  readonly description: string;
  readonly load: () => Promise<(program: Command) => void>;
}

/** Every command, in the order the root help lists them. A test checks each against its module. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  render: {
    term: '[options]',
    description: 'render a payload template (or an endpoint URL) with a context, or dry-run one node of an event',
    load: async () => (await import('./commands/render.ts')).registerRender,
  },
  validate: {
    term: '<file>',
    description: 'check a workflow definition or a run-completed event: every webhook node, every problem',
    load: async () => (await import('./commands/validate.ts')).registerValidate,
  },
  local: {
    term: '[options]',
    description: "run the whole pipeline on this machine (embedded SQS and DynamoDB) and print each delivery's outcome",
    load: async () => (await import('./commands/local.ts')).registerLocal,
  },
  dev: {
    term: '[options]',
    description:
      'run the local stack in the foreground: emulators, functions, a PutEvents intake and a sample receiver',
    load: async () => (await import('./commands/dev.ts')).registerDev,
  },
  emit: {
    term: '[options] <file>',
    description: 'send run-completed events to EventBridge (PutEvents), or to the local intake of webhooks dev',
    load: async () => (await import('./commands/emit.ts')).registerEmit,
  },
  failures: {
    term: '[options]',
    description: 'list recent final failures, newest first: when, whose, where to, and why',
    load: async () => (await import('./commands/failures.ts')).registerFailures,
  },
  deliveries: {
    term: '[options]',
    description:
      'every delivery of a run (--run), or of a workflow in a window (--workflow --since): status, attempts, last code',
    load: async () => (await import('./commands/deliveries.ts')).registerDeliveries,
  },
  inspect: {
    term: '[options] <delivery-id>',
    description: "tell one delivery's story: what it is, where it went, and every attempt",
    load: async () => (await import('./commands/inspect.ts')).registerInspect,
  },
  redrive: {
    term: '[options]',
    description: 'move the dead letters back to the delivery queue, so their deliveries are tried again',
    load: async () => (await import('./commands/redrive.ts')).registerRedrive,
  },
  replay: {
    term: '[options] <delivery-id>',
    description: 'send a failed delivery again, as a new series of attempts under the same delivery id',
    load: async () => (await import('./commands/replay.ts')).registerReplay,
  },
  resend: {
    term: '[options]',
    description: 'send the events held in the render and event dead-letter queues back onto the event bus',
    load: async () => (await import('./commands/resend.ts')).registerResend,
  },
  endpoints: {
    term: '[options]',
    description: 'endpoint health per organization: open circuits, gone endpoints, failure streaks',
    load: async () => (await import('./commands/endpoints.ts')).registerEndpoints,
  },
};

/** The version `webhooks --version` prints: the package's. */
export const VERSION: string = packageJson.version;

/** Two of commander's own methods (not in its typings) that the class below builds on. */
interface CommanderInternals {
  unknownOption(flag: string): never;
  missingMandatoryOptionValue(option: Option): never;
}
const commander = Command.prototype as unknown as CommanderInternals;

/**
 * Commander checks required options before unknown ones, so `render --contxt x`
 * would say --context is missing. An unknown option is the better error: it
 * names what was typed, with a suggestion.
 */
class WebhooksCommand extends Command {
  #unknown: string[] = [];

  override createCommand(name?: string): Command {
    return new WebhooksCommand(name);
  }

  override parseOptions(args: string[]): { operands: string[]; unknown: string[] } {
    const parsed = super.parseOptions(args);
    this.#unknown = parsed.unknown;
    return parsed;
  }

  /** Called by commander for a required option with no value. */
  missingMandatoryOptionValue(option: Option): never {
    const typed = this.#unknown[0];
    if (typed?.startsWith('-') && typed !== '-') commander.unknownOption.call(this, typed);
    return commander.missingMandatoryOptionValue.call(this, option);
  }
}

/** Runs `webhooks ...argv` and returns its exit code: 0 done, 1 bad input or failure, others as each command documents. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = new WebhooksCommand()
    .name('webhooks')
    .description('Dograh webhook delivery: render, validate, run locally, operate a deployed stack')
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      // One `error: ...` line (CONTRACT section 6), commander's suggestion on it too.
      outputError: (text, write) => {
        const line = text.replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)');
        write(line.startsWith('error: ') ? line : `error: ${line}`);
      },
    });
  const state = startRun(program, io);

  // Only the command asked for is loaded; the rest are listed from the table.
  const wanted = commandName(argv);
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (name === wanted) (await entry.load())(program);
    else program.command(name).description(entry.description);
  }
  const help = new Help();
  program.configureHelp({
    subcommandTerm: (cmd) =>
      COMMANDS[cmd.name()] !== undefined && cmd.name() !== wanted
        ? `${cmd.name()} ${COMMANDS[cmd.name()]?.term}`
        : help.subcommandTerm(cmd),
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    // Help and --version end with code 0; usage errors (unknown flag, missing argument) with 1.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
    throw error;
  }
  return state.exitCode;
}

/** The command argv names (`webhooks help X` names X), if any. No root option takes a value. */
function commandName(argv: readonly string[]): string | undefined {
  const operands = argv.filter((arg) => !arg.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}
