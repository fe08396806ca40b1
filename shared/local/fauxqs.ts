import { buildApp } from 'fauxqs';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { emulatorClientConfig } from './emulator-client-config.ts';

/** A running in-process SQS emulator and a client bound to it. */
export interface LocalSqs {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** A real SDK client pointed at the emulator (region us-east-1, dummy static credentials). */
  readonly client: SQSClient;
  /** Destroys the client and closes the emulator. Stop pollers first: their receives fail once it is gone. */
  stop(): Promise<void>;
}

/** Options of {@link startSqsEmulator}. */
export interface SqsEmulatorOptions {
  /** Port to listen on; 0 (the default) lets the system pick a free one. */
  readonly port?: number;
}

/**
 * Starts fauxqs in this process on 127.0.0.1.
 *
 * State lives in memory only: fauxqs has no persistence, so queues and
 * messages are gone when the emulator stops. fauxqs's own `startFauxqs` listens
 * on every interface (0.0.0.0); building its app and listening ourselves keeps
 * the emulator on loopback.
 *
 * Queue URLs it hands out look like `http://sqs.us-east-1.localhost:<port>/000000000000/<name>`;
 * they are identifiers only, requests always go to `endpoint`.
 */
export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<LocalSqs> {
  const app = buildApp({ logger: false });
  const endpoint = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const client = new SQSClient(emulatorClientConfig(endpoint));
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    client,
    stop() {
      stopped ??= (async () => {
        client.destroy();
        // fauxqs builds its app with forceCloseConnections, so close() does not
        // wait for keep-alive sockets, and its preClose hook ends pending long polls.
        await app.close();
      })();
      return stopped;
    },
  };
}

/** A queue's URL (what the SDK takes) and ARN (what policies and event sources name). */
export interface QueueRef {
  readonly url: string;
  readonly arn: string;
}

/** The queues of the delivery pipeline. */
export interface DeliveryQueues {
  /** Rendered deliveries; redrives to `deadLetter` after `maxReceiveCount` receives. */
  readonly delivery: QueueRef;
  /** Final failures of the deliver function, and whatever the redrive policy moves there. */
  readonly deadLetter: QueueRef;
  /** Run-completed events the render function could not process. */
  readonly renderDeadLetter: QueueRef;
}

/** Options of {@link createDeliveryQueues}. */
export interface DeliveryQueuesOptions {
  /** Visibility timeout of the delivery queue: how long a received message stays hidden. */
  readonly visibilityTimeoutSeconds: number;
  /** Receives after which SQS moves a message to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Prefix of the queue names, so one emulator can hold several pipelines. Default `dograh-webhooks`. */
  readonly namePrefix?: string;
}

/** Dead-letter queues keep messages as long as SQS allows, so an operator has time to redrive them. */
const FOURTEEN_DAYS_SECONDS = 14 * 24 * 3600;

/**
 * Creates the delivery queue with a RedrivePolicy to its dead-letter queue,
 * and the render dead-letter queue. Idempotent for the same options, as
 * CreateQueue is; the dead-letter queue is created first because the redrive
 * policy names its ARN.
 */
export async function createDeliveryQueues(client: SQSClient, options: DeliveryQueuesOptions): Promise<DeliveryQueues> {
  const prefix = options.namePrefix ?? 'dograh-webhooks';
  const deadLetter = await createQueue(client, `${prefix}-delivery-dlq`, {
    MessageRetentionPeriod: String(FOURTEEN_DAYS_SECONDS),
  });
  const renderDeadLetter = await createQueue(client, `${prefix}-render-dlq`, {
    MessageRetentionPeriod: String(FOURTEEN_DAYS_SECONDS),
  });
  const delivery = await createQueue(client, `${prefix}-delivery`, {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetter.arn,
      maxReceiveCount: options.maxReceiveCount,
    }),
  });
  return { delivery, deadLetter, renderDeadLetter };
}

async function createQueue(client: SQSClient, name: string, attributes: Record<string, string>): Promise<QueueRef> {
  const created = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl;
  if (url === undefined) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`queue ${name} has no QueueArn`);
  return { url, arn };
}
