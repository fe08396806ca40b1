import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import type { ListMessageMoveTasksResultEntry, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { WebhookError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { systemClock } from '../ports/clock.ts';
import { MOVE_DONE_STATUSES } from '../ports/message-mover.ts';
import type { MessageMover, MoveProgress, MoveQueue, MoveStatus, MoveTask } from '../ports/message-mover.ts';
import { readQueueDepth } from './sqs-queue-depth.ts';

/** SQS's bounds on MaxNumberOfMessagesPerSecond of a move task. */
export const MOVE_RATE_LIMITS = { min: 1, max: 500 } as const;

export interface SqsMessageMoverOptions {
  readonly client: SQSClient;
  readonly source: MoveQueue;
  readonly destination: MoveQueue;
  /** How often progress is read while waiting. Default 2 s for move tasks, 250 ms locally. */
  readonly pollIntervalMs?: number;
}

/** Approximate count of visible messages: what a move would take now. */
async function waitingOn(client: SQSClient, queue: MoveQueue): Promise<number> {
  return (await readQueueDepth(client, queue.url)).waiting;
}

/**
 * The mover for AWS: an SQS message move task (StartMessageMoveTask), whose
 * progress is read with ListMessageMoveTasks until it is COMPLETED, FAILED or
 * CANCELLED. SQS moves the messages itself, attributes and all; this process
 * only watches, so stopping it does not stop the move.
 */
export function createSqsMoveTaskMover(options: SqsMessageMoverOptions): MessageMover {
  const { client, source, destination } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  return {
    waiting: () => waitingOn(client, source),
    async start(moveOptions = {}) {
      const { TaskHandle: handle } = await client.send(
        new StartMessageMoveTaskCommand({
          SourceArn: source.arn,
          DestinationArn: destination.arn,
          ...(moveOptions.maxPerSecond === undefined ? {} : { MaxNumberOfMessagesPerSecond: moveOptions.maxPerSecond }),
        }),
      );
      if (handle === undefined) throw new WebhookError(`StartMessageMoveTask on ${source.arn} returned no task handle`);
      // ListMessageMoveTasks names a task by its handle only while it runs; a finished one
      // is known by its start time, remembered from the first time the handle was seen.
      let startedTimestamp: number | undefined;
      const progress = async (): Promise<MoveProgress> => {
        const { Results = [] } = await client.send(
          new ListMessageMoveTasksCommand({ SourceArn: source.arn, MaxResults: 10 }),
        );
        const entry =
          Results.find((r) => r.TaskHandle === handle) ??
          (startedTimestamp === undefined
            ? // Never seen running: it finished before the first look. Only one task runs per
              // queue at a time and the list is newest first, so the newest is the one just started.
              Results[0]
            : Results.find((r) => r.StartedTimestamp === startedTimestamp));
        if (entry === undefined)
          throw new WebhookError(`move task ${handle} is not among the move tasks of ${source.arn}`);
        startedTimestamp ??= entry.StartedTimestamp;
        return taskProgress(entry);
      };
      return {
        id: handle,
        progress,
        async wait(onProgress) {
          for (;;) {
            const current = await progress();
            onProgress?.(current);
            if (MOVE_DONE_STATUSES.has(current.status)) return current;
            await sleep(pollIntervalMs);
          }
        },
      };
    },
  };
}

const KNOWN_STATUSES: ReadonlySet<string> = new Set<MoveStatus>([
  'RUNNING',
  'COMPLETED',
  'CANCELLING',
  'CANCELLED',
  'FAILED',
]);

function taskProgress(entry: ListMessageMoveTasksResultEntry): MoveProgress {
  const status = entry.Status ?? '';
  // A status this code does not know must not be waited on forever.
  if (!KNOWN_STATUSES.has(status)) {
    return {
      status: 'FAILED',
      moved: entry.ApproximateNumberOfMessagesMoved ?? 0,
      toMove: entry.ApproximateNumberOfMessagesToMove ?? null,
      failureReason: `unknown move task status "${status}"`,
    };
  }
  return {
    status: status as MoveStatus,
    moved: entry.ApproximateNumberOfMessagesMoved ?? 0,
    toMove: entry.ApproximateNumberOfMessagesToMove ?? null,
    failureReason: entry.FailureReason ?? null,
  };
}

export interface SqsCopyMoverOptions extends SqsMessageMoverOptions {
  /** Decides which messages count as already there when the move starts. Default the system clock. */
  readonly clock?: Clock;
}

/** How long a received message stays hidden while it is copied; a crash mid-move makes it visible again after this. */
const IN_FLIGHT_SECONDS = 30;

/**
 * The mover for emulators without the move-task API (fauxqs): receive from the
 * source, send each message to the destination with its body and every message
 * attribute, then delete it from the source. As a move task does, it takes the
 * messages waiting when it starts: a message that reaches the source during the
 * move (a redriven delivery that failed again) stays there, or a redrive of a
 * broken endpoint would never end. A crash between send and delete leaves a
 * copy on both queues: the deliver side drops the duplicate by delivery id.
 */
export function createSqsCopyMover(options: SqsCopyMoverOptions): MessageMover {
  const { client, source, destination } = options;
  const clock = options.clock ?? systemClock;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  return {
    waiting: () => waitingOn(client, source),
    async start(moveOptions = {}) {
      const startedAt = clock.now();
      const toMove = await waitingOn(client, source);
      const intervalMs = moveOptions.maxPerSecond === undefined ? 0 : 1000 / moveOptions.maxPerSecond;
      let state: MoveProgress = { status: 'RUNNING', moved: 0, toMove, failureReason: null };
      const update = (change: Partial<MoveProgress>) => {
        state = { ...state, ...change };
      };

      async function copyAll(): Promise<void> {
        const heldBack: string[] = [];
        try {
          while (state.moved < toMove) {
            const { Messages = [] } = await client.send(
              new ReceiveMessageCommand({
                QueueUrl: source.url,
                MaxNumberOfMessages: Math.min(10, toMove - state.moved),
                MessageAttributeNames: ['All'],
                MessageSystemAttributeNames: ['SentTimestamp'],
                VisibilityTimeout: IN_FLIGHT_SECONDS,
                WaitTimeSeconds: 0,
              }),
            );
            let movedThisRound = 0;
            for (const message of Messages) {
              if (message.ReceiptHandle === undefined) continue;
              if (Number(message.Attributes?.SentTimestamp ?? 0) > startedAt) {
                heldBack.push(message.ReceiptHandle);
                continue;
              }
              // Message k leaves no earlier than k / rate seconds after the start.
              const dueAt = startedAt + state.moved * intervalMs;
              if (clock.now() < dueAt) await sleep(dueAt - clock.now());
              await client.send(
                new SendMessageCommand({
                  QueueUrl: destination.url,
                  MessageBody: message.Body ?? '',
                  // dead_lettered_at among them: it makes the deliver side reopen a failed delivery.
                  MessageAttributes: message.MessageAttributes as Record<string, MessageAttributeValue> | undefined,
                }),
              );
              await client.send(
                new DeleteMessageCommand({ QueueUrl: source.url, ReceiptHandle: message.ReceiptHandle }),
              );
              movedThisRound += 1;
              update({ moved: state.moved + 1 });
            }
            if (movedThisRound === 0) break;
          }
          update({ status: 'COMPLETED' });
        } catch (error) {
          update({
            status: 'FAILED',
            failureReason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          });
        } finally {
          // Newer messages were only hidden so they would not be taken; show them again now.
          await Promise.allSettled(
            heldBack.map((handle) =>
              client.send(
                new ChangeMessageVisibilityCommand({
                  QueueUrl: source.url,
                  ReceiptHandle: handle,
                  VisibilityTimeout: 0,
                }),
              ),
            ),
          );
        }
      }

      const done = copyAll();
      const task: MoveTask = {
        id: `local-move-${startedAt}`,
        progress: async () => state,
        async wait(onProgress) {
          const finished = done.then(() => true);
          for (;;) {
            onProgress?.(state);
            if (await Promise.race([finished, sleep(pollIntervalMs, false)])) break;
          }
          onProgress?.(state);
          return state;
        },
      };
      return task;
    },
  };
}
