import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DELIVERY_ID_ATTRIBUTE, toSqsJson } from '../../shared/adapters/sqs-delivery-queue.ts';
import { FINAL_STATUSES, type DeliveryMessage } from '../../shared/domain/delivery.ts';
import type { DeliveryRecord } from '../../shared/ports/delivery-store.ts';
import { colourEnabled, createStyle, formatTime, oneLine, parseInteger, styleStatus } from '../format.ts';
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
import { EXIT_NOT_FOUND, notFound } from './inspect.ts';

interface ReplayOptions extends TargetFlags {
  readonly wait?: boolean;
  readonly timeout: string;
  readonly json?: boolean;
}

/** What `replay --json` prints. */
export interface ReplayResult {
  readonly delivery_id: string;
  /** When the new series of attempts was opened (ISO); for a delivery already delivered, its latest replay, or null. */
  readonly replayed_at: string | null;
  /** `pending` without --wait; the final status with it. */
  readonly status: string;
  readonly attempts: number;
  readonly last_status_code: number | null;
  readonly error: string | null;
}

/** How often --wait reads the record. */
const POLL_MS = 500;

export function registerReplay(program: Command): void {
  const command = program
    .command('replay')
    .description('send a failed delivery again, as a new series of attempts under the same delivery id')
    .argument('<delivery-id>', 'the delivery id (whd_...), as "webhooks failures" lists it')
    .option('--wait', 'wait until the new series is final and print its outcome')
    .option('--timeout <seconds>', 'with --wait: give up waiting after this long (the replay itself goes on)', '900')
    .option('--json', 'print the outcome as JSON');
  addTargetOptions(command)
    .addHelpText(
      'after',
      `
Fix the endpoint (or its credential) first. The outcome log keeps the rendered request of every
delivery that failed after reaching the wire; replay reopens the delivery (its record keeps the
old attempts and marks where the new series starts) and puts that request back on the delivery
queue. The receiver sees the same X-Dograh-Delivery-Id, with X-Dograh-Delivery-Attempt from 1.
The node's retry_config applies again.

A delivery that is already delivered (a redrive or an earlier replay sent it) is not sent again:
replay says so and exits 0. Not replayable: one still in progress (wait for it), and one that never
rendered (a bad node: fix it and emit its run again). To send every dead letter again at once, use
"webhooks redrive".

${TARGET_HELP}

Exit codes: 0 replayed (with --wait: and delivered) or already delivered, 1 bad input, not replayable, the target
cannot be read, or (with --wait) failed again or still not final at --timeout,
${EXIT_NOT_FOUND} no such delivery.

Examples:
  $ webhooks replay whd_0123456789abcdef0123456789abcdef
  $ webhooks replay whd_0123456789abcdef0123456789abcdef --local --wait
  $ webhooks failures --since 2h --json | jq -r '.[] | select(.replayable) | .delivery_id' \\
      | xargs -n1 webhooks replay`,
    )
    .action(action(replay));
}

async function replay(deliveryId: string, options: ReplayOptions, io: CliIo): Promise<void> {
  const timeoutSeconds = parseInteger(options.timeout, '--timeout', { min: 1, max: 86_400 });
  const id = deliveryId.trim();
  const target = await resolveTarget(targetOptions(options));
  try {
    const record = await target.store.get(id);
    if (record === undefined) throw notFound(id, target.description);
    if (record.status === 'delivered') {
      // What a replay is for has happened (a redrive, or an earlier replay, sent it): said, not refused.
      alreadyDelivered(record, options, io);
      return;
    }
    const { request, resend } = replayable(record, targetArgs(options));
    let replayedAt: string;
    if (resend) {
      // An earlier replay reopened it, but its message never reached the queue.
      replayedAt = record.replayed_at.at(-1) ?? new Date().toISOString();
    } else {
      // Only the failure read above: a concurrent replay or redrive makes this one refuse.
      const reopened = await target.store.reopen(id, Date.now(), { final_at: record.final_at });
      replayedAt = reopened.replayed_at.at(-1) ?? reopened.updated_at;
    }
    await send(target, request);
    if (!options.json) {
      io.stdout.write(
        `replayed ${id}: a new series of attempts opened at ${formatTime(replayedAt)} UTC; ` +
          `request sent to the delivery queue (${request.method} ${record.endpoint_host})\n`,
      );
    }
    if (!options.wait) {
      if (options.json)
        print(io, {
          delivery_id: id,
          replayed_at: replayedAt,
          status: 'pending',
          attempts: 0,
          last_status_code: null,
          error: null,
        });
      else io.stdout.write(`follow it with: webhooks inspect ${id}${targetArgs(options)}\n`);
      return;
    }
    const final = await waitUntilFinal(target, id, timeoutSeconds, io);
    const result: ReplayResult = {
      delivery_id: id,
      replayed_at: replayedAt,
      status: final.status,
      attempts: final.attempts,
      last_status_code: final.last_status_code,
      error: final.status === 'delivered' ? null : final.last_error,
    };
    if (options.json) print(io, result);
    else {
      const style = createStyle(colourEnabled(io.stdout, io.env));
      const code = final.last_status_code === null ? '' : `, HTTP ${final.last_status_code}`;
      io.stdout.write(
        `${styleStatus(final.status, style)} after ${final.attempts} attempt${final.attempts === 1 ? '' : 's'}${code}\n`,
      );
    }
    if (final.status !== 'delivered') {
      throw new CliError(
        `delivery ${id} failed again: ${oneLine(final.last_error ?? 'no error recorded')}; see webhooks inspect ${id}${targetArgs(options)}`,
      );
    }
  } finally {
    target.close();
  }
}

/**
 * The request to send again, or why there is none. `resend` is a delivery an
 * earlier replay reopened whose message never reached the queue (the send
 * failed after the reopen): pending, no attempt in its new series yet.
 */
function replayable(record: DeliveryRecord, again: string): { request: DeliveryMessage; resend: boolean } {
  const id = record.delivery_id;
  if (record.status === 'skipped')
    throw new CliError(`delivery ${id} was skipped (its node is disabled): nothing to replay`);
  const reopenedUnsent = record.status === 'pending' && record.attempts === 0 && record.replayed_at.length > 0;
  if (!FINAL_STATUSES.has(record.status) && !reopenedUnsent) {
    throw new CliError(
      `delivery ${id} is ${record.status}, not final: wait for its outcome (webhooks inspect ${id}${again})`,
    );
  }
  if (record.request === null) {
    if (record.attempt_log.length === 0) {
      throw new CliError(
        `delivery ${id} never rendered, so there is no request to send again (${oneLine(record.last_error ?? 'no reason recorded')}): fix the node and emit its run again`,
      );
    }
    throw new CliError(
      `delivery ${id} keeps no rendered request (recorded by an older version, or too large to keep): redrive its dead letter instead (webhooks redrive${again}); the dead-letter queue keeps it 14 days`,
    );
  }
  return { request: record.request, resend: reopenedUnsent };
}

async function send(target: Target, request: DeliveryMessage): Promise<void> {
  try {
    await target.sqs.send(
      new SendMessageCommand({
        QueueUrl: target.queues.delivery.url,
        MessageBody: toSqsJson(request),
        // No dead_lettered_at: the record is already reopened, so the deliver side just claims it.
        MessageAttributes: { [DELIVERY_ID_ATTRIBUTE]: { DataType: 'String', StringValue: request.delivery_id } },
      }),
    );
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new CliError(
      `delivery ${request.delivery_id} is reopened but its request could not be put on the delivery queue (${reason}); run the same replay again`,
    );
  }
}

async function waitUntilFinal(target: Target, id: string, timeoutSeconds: number, io: CliIo): Promise<DeliveryRecord> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  if (io.stderr.isTTY) io.stderr.write('waiting for the outcome...\n');
  for (;;) {
    const record = await target.store.get(id);
    // Final again, and in the new series: the reopen reset the attempt count.
    if (record !== undefined && FINAL_STATUSES.has(record.status) && record.attempts > 0) return record;
    if (Date.now() > deadline) {
      throw new CliError(
        `delivery ${id} is still ${record?.status ?? 'missing'} after ${timeoutSeconds} s; the replay goes on: webhooks inspect ${id}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** A delivered delivery: nothing is sent (a delivered delivery keeps no request), and that is success. */
function alreadyDelivered(record: DeliveryRecord, options: ReplayOptions, io: CliIo): void {
  if (options.json) {
    print(io, {
      delivery_id: record.delivery_id,
      replayed_at: record.replayed_at.at(-1) ?? null,
      status: 'delivered',
      attempts: record.attempts,
      last_status_code: record.last_status_code,
      error: null,
    });
    return;
  }
  const code = record.last_status_code === null ? '' : `, HTTP ${record.last_status_code}`;
  io.stdout.write(
    `delivery ${record.delivery_id} is already delivered (${formatTime(record.final_at)} UTC, attempt ${record.attempts}/${record.max_attempts}${code}): nothing to send again\n`,
  );
}

function print(io: CliIo, result: ReplayResult): void {
  io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
