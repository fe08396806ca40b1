import type { Command } from 'commander';
import {
  createSqsCopyMover,
  createSqsMoveTaskMover,
  MOVE_RATE_LIMITS,
} from '../../shared/adapters/sqs-message-mover.ts';
import type { MessageMover, MoveProgress } from '../../shared/ports/message-mover.ts';
import { colourEnabled, createStyle, formatDuration, oneLine, parseInteger, plural } from '../format.ts';
import { action, CliError, type CliIo } from '../io.ts';
import {
  resolveTarget,
  type Target,
  addTargetOptions,
  TARGET_HELP,
  targetArgs,
  targetOptions,
  type TargetFlags,
} from '../target.ts';

interface RedriveOptions extends TargetFlags {
  readonly maxPerSecond?: string;
  readonly json?: boolean;
}

/** What `redrive --json` prints. */
export interface RedriveResult {
  /** `NOTHING_TO_MOVE` when the dead-letter queue was empty; else the move's final status. */
  readonly status: MoveProgress['status'] | 'NOTHING_TO_MOVE';
  readonly moved: number;
  readonly to_move: number;
  readonly task_id: string | null;
  readonly failure_reason: string | null;
  readonly duration_ms: number;
}

export function registerRedrive(program: Command): void {
  const command = program
    .command('redrive')
    .description('move the dead letters back to the delivery queue, so their deliveries are tried again')
    .option(
      '--max-per-second <n>',
      `move at most this many messages per second (${MOVE_RATE_LIMITS.min}-${MOVE_RATE_LIMITS.max}; default: as fast as SQS sees fit)`,
    )
    .option('--json', 'print the outcome as JSON on stdout (progress still goes to stderr)');
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
Fix the endpoint first. Each failed delivery then starts a new series of attempts under its
delivery id (its record keeps the old attempts); a delivery that was delivered or replayed since
is dropped as a duplicate, so redriving twice sends nothing twice.

On a deployed stack this starts an SQS message move task (StartMessageMoveTask) from the delivery
dead-letter queue to the delivery queue and follows it until it ends; stopping this command does
not stop the task. Locally (--local), where the emulator has no move tasks, it receives each dead
letter, sends it to the delivery queue with all its attributes, and deletes it. Either way only the
messages waiting when it starts are moved. Progress goes to stderr: one updating line on a
terminal, a line per change otherwise.

${TARGET_HELP}

Exit codes: 0 moved (or nothing to move), 1 bad input, the target cannot be read, or the move
task FAILED or was CANCELLED (its reason is printed).

Examples:
  $ webhooks redrive
  $ webhooks redrive --local
  $ webhooks redrive --max-per-second 10 --stack DograhWebhooks-staging --region eu-west-1
  $ webhooks redrive --json | jq .moved`,
    )
    .action(action(redrive));
}

async function redrive(options: RedriveOptions, io: CliIo): Promise<void> {
  const maxPerSecond =
    options.maxPerSecond === undefined
      ? undefined
      : parseInteger(options.maxPerSecond, '--max-per-second', MOVE_RATE_LIMITS);
  const target = await resolveTarget(targetOptions(options));
  const startedAt = Date.now();
  let final: MoveProgress;
  let taskId: string;
  try {
    const mover = moverFor(target);
    const waiting = await mover.waiting();
    if (waiting === 0) {
      report(
        io,
        options,
        { status: 'NOTHING_TO_MOVE', moved: 0, to_move: 0, task_id: null, failure_reason: null, duration_ms: 0 },
        target,
      );
      return;
    }
    io.stderr.write(`redriving ${plural(waiting, 'dead letter')} to the delivery queue (${target.description})\n`);
    const task = await mover.start(maxPerSecond === undefined ? {} : { maxPerSecond });
    taskId = task.id;
    const progress = progressLine(io);
    try {
      final = await task.wait(progress.show);
    } finally {
      progress.end();
    }
  } finally {
    target.close();
  }
  const result: RedriveResult = {
    status: final.status,
    moved: final.moved,
    to_move: final.toMove ?? final.moved,
    task_id: taskId,
    failure_reason: final.failureReason,
    duration_ms: Date.now() - startedAt,
  };
  if (final.status !== 'COMPLETED') {
    if (options.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const why = final.failureReason === null ? '' : `: ${oneLine(final.failureReason)}`;
    throw new CliError(
      `redrive ${final.status.toLowerCase()}${why} (${result.moved} of ${result.to_move} moved; the rest are still on the dead-letter queue)`,
    );
  }
  report(io, options, result, target);
}

/** The move-task API on AWS; fauxqs has none, so locally the messages are copied one by one. */
function moverFor(target: Target): MessageMover {
  const queues = { client: target.sqs, source: target.queues.deadLetter, destination: target.queues.delivery };
  return target.kind === 'aws' ? createSqsMoveTaskMover(queues) : createSqsCopyMover(queues);
}

function report(io: CliIo, options: RedriveOptions, result: RedriveResult, target: Target): void {
  if (options.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  if (result.status === 'NOTHING_TO_MOVE') {
    io.stdout.write(`nothing to redrive: the dead-letter queue is empty (${target.description})\n`);
    return;
  }
  const style = createStyle(colourEnabled(io.stdout, io.env));
  io.stdout.write(
    `${style.green('redriven')}: ${result.moved} of ${plural(result.to_move, 'dead letter')} moved to the delivery queue in ${formatDuration(result.duration_ms)}\n` +
      style.dim(
        `their deliveries start a new series of attempts; follow them with: webhooks failures --since 1h${targetArgs(options)}`,
      ) +
      '\n',
  );
}

/** Progress on stderr: one line rewritten in place on a terminal, a new line per change otherwise. */
function progressLine(io: CliIo): { show: (progress: MoveProgress) => void; end: () => void } {
  const tty = io.stderr.isTTY === true;
  let last = '';
  return {
    show(progress) {
      const of = progress.toMove === null ? '' : ` of ${progress.toMove}`;
      const percent =
        progress.toMove === null || progress.toMove === 0
          ? ''
          : ` (${Math.floor((100 * progress.moved) / progress.toMove)}%)`;
      const line = `  ${progress.status.toLowerCase()}: ${progress.moved}${of} moved${percent}`;
      if (line === last) return;
      last = line;
      io.stderr.write(tty ? `\r\u001b[2K${line}` : `${line}\n`);
    },
    end() {
      if (tty && last !== '') io.stderr.write('\n');
    },
  };
}
