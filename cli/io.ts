import { readFile } from 'node:fs/promises';
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
    throw new CliError(`${file}: cannot read the file (${code === 'ENOENT' ? 'no such file' : (code ?? 'unknown error')})`);
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
  if (error instanceof ValidationError) return error.problems.map((p) => formatProblem({ ...p, source: p.source ?? source })).join('; ');
  if (error instanceof WebhookError) return `${prefix}${error.message}`;
  return `${prefix}${error instanceof Error ? error.message : String(error)}`;
}

/** Runs a command's action: any error becomes `error: ...` on stderr and its exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      process.stderr.write(`error: ${escapeControl(describeError(error))}\n`);
      process.exitCode = error instanceof CliError ? error.exitCode : 1;
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
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
