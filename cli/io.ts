import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatProblem, InvalidTemplateError, ValidationError, WebhookError } from '../shared/errors.ts';

/** An error the CLI reports as one `error: ...` line, exiting with `exitCode`. */
export class CliError extends WebhookError {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Reads and parses a JSON file; errors name the file and what is wrong. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `${file}: cannot read the file (${code === 'ENOENT' ? 'no such file' : (code ?? 'unknown error')})`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
}

/** One line for stderr, naming the file (or flag) and the field, for any error the commands raise. */
export function describeError(error: unknown, source?: string): string {
  const prefix = source === undefined ? '' : `${source}: `;
  if (error instanceof CliError) return error.message;
  if (error instanceof InvalidTemplateError) return `${prefix}${error.path}: ${error.reason}`;
  if (error instanceof ValidationError)
    return error.problems.map((p) => formatProblem({ ...p, source: p.source ?? source })).join('; ');
  if (error instanceof WebhookError) return `${prefix}${error.message}`;
  return `${prefix}${error instanceof Error ? error.message : String(error)}`;
}

/** Where a command writes: a process stream, or a collector in a test. */
export interface CliWriter {
  /** As a Node stream's: `done` is called once the text is handed on (a pipe may take a while). */
  write(text: string, done?: (error?: Error | null) => void): unknown;
  /** A terminal: colour and in-place progress lines are for terminals only. */
  readonly isTTY?: boolean;
  /** Its width, on a terminal. */
  readonly columns?: number;
}

/**
 * What one run of the CLI talks to, instead of the process: `run(argv, io)`
 * gets it from the bin (the process's streams and environment) or from a test.
 */
export interface CliIo {
  readonly stdout: CliWriter;
  readonly stderr: CliWriter;
  /** Read for NO_COLOR and AWS_REGION. (The AWS SDK's own chain reads the process's.) */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Settles when the user asks a foreground command (dev) to stop: Ctrl-C or SIGTERM. */
  untilStopped?(): Promise<void>;
}

/** One run: its io, and the exit code its command ended with. */
export interface RunState {
  readonly io: CliIo;
  exitCode: number;
}

const runs = new WeakMap<Command, RunState>();

/** Ties a run's io to its (fresh) root command, where `action` finds it. */
export function startRun(program: Command, io: CliIo): RunState {
  const state: RunState = { io, exitCode: 0 };
  runs.set(program, state);
  return state;
}

function runOf(command: Command): RunState {
  let root = command;
  while (root.parent !== null) root = root.parent;
  const state = runs.get(root);
  if (state === undefined) throw new Error('a command ran outside run(argv, io)');
  return state;
}

/**
 * Runs a command's action with the run's io as its last argument (where
 * commander passes the Command). It may return an exit code; any error
 * becomes `error: ...` on stderr and its exit code.
 */
export function action<A extends unknown[]>(
  fn: (...args: [...A, CliIo]) => Promise<number | void>,
): (...args: unknown[]) => Promise<void>;
/** An action that does not take the io yet (it writes to the process): it still gets it, last. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void>,
): (...args: unknown[]) => Promise<void>;
export function action(fn: (...args: never) => Promise<number | void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const state = runOf(args.at(-1) as Command);
    try {
      state.exitCode =
        (await (fn as (...args: unknown[]) => Promise<number | void>)(...args.slice(0, -1), state.io)) ?? 0;
    } catch (error) {
      state.io.stderr.write(`error: ${escapeControl(describeError(error))}\n`);
      state.exitCode = error instanceof CliError ? error.exitCode : 1;
    }
  };
}

/**
 * One line whatever the input held: templates and keys are tenant text and may
 * carry line breaks or terminal escapes, which would split an `error:` line or
 * rewrite the terminal. They are written as escapes instead.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
