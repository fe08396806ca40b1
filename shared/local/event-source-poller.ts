import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { messagesHeld, readQueueDepth } from '../adapters/sqs-queue-depth.ts';

/** The handler of an SQS-triggered Lambda with ReportBatchItemFailures on. */
export type SqsBatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

/** Where in a poll cycle an error happened. */
export type PollerStage = 'receive' | 'handler' | 'response' | 'delete';

/** Options of {@link startPoller}. */
export interface PollerOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** Becomes `eventSourceARN` of every record; its region becomes `awsRegion`. */
  readonly queueArn: string;
  readonly handler: SqsBatchHandler;
  /** Largest batch handed to the handler, 1 to 10. Default 10. */
  readonly batchSize?: number;
  /** Long-poll wait of each ReceiveMessage, 0 to 20 seconds. Default 20, as Lambda polls. */
  readonly waitTimeSeconds?: number;
  /** Batches handled at once, each by its own receive loop. Default 1. */
  readonly concurrency?: number;
  /**
   * Told of every error the poller absorbs: a failed receive or delete, a
   * handler that threw, a response Lambda would reject. The default writes one
   * JSON line to stderr.
   */
  readonly onError?: (error: unknown, stage: PollerStage) => void;
}

/** A running poller. */
export interface Poller {
  /**
   * Resolves once no batch is in the handler and the queue holds no message at
   * all: none visible, none in flight (a delay set by the handler keeps a
   * message in flight), none delayed. Messages the redrive policy moved to the
   * dead-letter queue no longer count. Rejects if the poller is stopped first.
   */
  idle(): Promise<void>;
  /** Stops receiving and resolves when the batches in the handler are finished and acknowledged. */
  stop(): Promise<void>;
}

const IDLE_CHECK_INTERVAL_MS = 25;
const MAX_RECEIVE_BACKOFF_MS = 5_000;

/**
 * Polls an SQS queue and invokes `handler` the way Lambda's SQS event source
 * mapping does with ReportBatchItemFailures:
 *
 * - a resolved handler: every record not named in `batchItemFailures` is deleted;
 *   the named ones are left as they are (the handler may have changed their visibility);
 * - a thrown handler, or a response naming a record not in the batch: nothing is
 *   deleted, and the whole batch comes back after its visibility timeout.
 *
 * Moving a message to the dead-letter queue after `maxReceiveCount` receives is
 * the queue's RedrivePolicy, done by SQS (and by fauxqs) on receive, not here.
 */
export function startPoller(options: PollerOptions): Poller {
  const { client, queueUrl, queueArn, handler } = options;
  const batchSize = checkedInt('batchSize', options.batchSize ?? 10, 1, 10);
  const waitTimeSeconds = checkedInt('waitTimeSeconds', options.waitTimeSeconds ?? 20, 0, 20);
  const concurrency = checkedInt('concurrency', options.concurrency ?? 1, 1, 1_000);
  const onError = options.onError ?? logError;
  const awsRegion = queueArn.split(':')[3] || 'us-east-1';

  const abort = new AbortController();
  let stopping = false;
  let inHandler = 0;

  function report(error: unknown, stage: PollerStage): void {
    try {
      onError(error, stage);
    } catch {
      // A failing error sink must not stop the poll loop.
    }
  }

  async function handleBatch(messages: readonly Message[]): Promise<void> {
    const records = messages.map((m) => toRecord(m, queueArn, awsRegion));
    let response: SQSBatchResponse | void;
    try {
      response = await handler({ Records: records });
    } catch (error) {
      report(error, 'handler');
      return;
    }
    const failed = failedMessageIds(response, records);
    if (failed instanceof Error) {
      report(failed, 'response');
      return;
    }
    const done = records.filter((r) => !failed.has(r.messageId));
    if (done.length === 0) return;
    try {
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
      if (out.Failed !== undefined && out.Failed.length > 0) {
        const ids = out.Failed.map((f) => `${done[Number(f.Id)]?.messageId ?? f.Id} (${f.Code ?? 'unknown'})`);
        report(new Error(`could not delete ${ids.join(', ')}; they will be received again`), 'delete');
      }
    } catch (error) {
      report(error, 'delete');
    }
  }

  async function receiveLoop(): Promise<void> {
    let receiveFailures = 0;
    while (!stopping) {
      let messages: Message[];
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        messages = (out.Messages ?? []).filter((m) => m.MessageId !== undefined && m.ReceiptHandle !== undefined);
        receiveFailures = 0;
      } catch (error) {
        if (stopping) return;
        report(error, 'receive');
        receiveFailures++;
        await pause(Math.min(MAX_RECEIVE_BACKOFF_MS, 100 * 2 ** receiveFailures), abort.signal);
        continue;
      }
      if (messages.length === 0) continue;
      // Received messages are ours even if stop() came meanwhile: handle them, so
      // they do not sit invisible for a whole visibility timeout.
      inHandler++;
      try {
        await handleBatch(messages);
      } finally {
        inHandler--;
      }
    }
  }

  const loops = Array.from({ length: concurrency }, () => receiveLoop());
  let stopped: Promise<void> | undefined;

  return {
    async idle() {
      for (;;) {
        if (stopping) throw new Error('the poller was stopped before the queue was idle');
        if (inHandler === 0) {
          const held = messagesHeld(await readQueueDepth(client, queueUrl));
          if (held === 0 && inHandler === 0) return;
        }
        await sleep(IDLE_CHECK_INTERVAL_MS);
      }
    },
    stop() {
      stopping = true;
      // Ends the long polls at once; a batch already received is still handled.
      abort.abort();
      stopped ??= Promise.all(loops).then(() => undefined);
      return stopped;
    },
  };
}

/**
 * The message ids a response asks to keep, by Lambda's rules: no response, or
 * no or an empty `batchItemFailures`, is full success; an identifier that is
 * empty or not in the batch makes the response invalid, and the whole batch failed.
 */
function failedMessageIds(response: unknown, records: readonly SQSRecord[]): Set<string> | Error {
  if (response === undefined || response === null) return new Set();
  if (typeof response !== 'object') return new Error(`invalid batch response: ${typeof response}`);
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return new Error('invalid batch response: batchItemFailures is not an array');
  const inBatch = new Set(records.map((r) => r.messageId));
  const ids = new Set<string>();
  for (const failure of failures as unknown[]) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !inBatch.has(id)) {
      return new Error(`invalid batch response: itemIdentifier ${JSON.stringify(id)} is not in the batch`);
    }
    ids.add(id);
  }
  return ids;
}

/** A received message as Lambda hands it to a function. */
function toRecord(message: Message, queueArn: string, awsRegion: string): SQSRecord {
  const system: Record<string, string | undefined> = message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ...system,
    ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
    SentTimestamp: system.SentTimestamp ?? '',
    SenderId: system.SenderId ?? '',
    ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? '',
  };
  const messageAttributes: Record<string, SQSMessageAttribute> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = toLambdaAttribute(value);
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes === undefined ? {} : { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion,
  };
}

/** Lambda spells attributes in camelCase, binary as base64, with the (unused) list fields present and empty. */
function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  return {
    ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
    ...(value.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    stringListValues: [],
    binaryListValues: [],
    dataType: value.DataType ?? 'String',
  };
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted by stop(): the loop checks `stopping` next.
  }
}

function checkedInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function logError(error: unknown, stage: PollerStage): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const line = { level: 'error', component: 'event-source-poller', stage, error: message };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
