import { buildApp } from 'fauxqs';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
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
  /**
   * Keep queues and messages in a SQLite database in this folder (fauxqs's own
   * persistence). Every change (send, receive, visibility change, delete, a move to
   * the dead-letter queue) is written through before the emulator answers, so a
   * process killed at any moment restarts with its queues as they were.
   */
  readonly dataDir?: string;
}

/** The parts of fauxqs's internal stores that persistence needs; fauxqs exports only `buildApp` and `startFauxqs`. */
interface FauxqsStores {
  readonly sqsStore: { persistence?: unknown; allQueues(): Iterable<{ persistence?: unknown }> };
  readonly snsStore: { persistence?: unknown };
  readonly s3Store: { persistence?: unknown };
}
interface FauxqsPersistence {
  readonly db: { exec(sql: string): void };
  load(sqs: unknown, sns: unknown, s3: unknown): void;
  close(): void;
}

/**
 * fauxqs's stores wired to its SQLite persistence, as its `startFauxqs({ dataDir })`
 * wires them; `startFauxqs` itself listens on every interface, so this does the
 * same wiring and leaves the listening to us. Its internals are loaded by file
 * URL next to its entry point (the package's `exports` name only the entry).
 */
async function persistentStores(dataDir: string): Promise<{ stores: FauxqsStores; persistence: FauxqsPersistence }> {
  const entry = import.meta.resolve('fauxqs');
  const load = async <T>(path: string, name: string) =>
    ((await import(new URL(path, entry).href)) as Record<string, new (...args: never[]) => T>)[name]!;
  const SqsStore = await load<FauxqsStores['sqsStore']>('./sqs/sqsStore.js', 'SqsStore');
  const SnsStore = await load<FauxqsStores['snsStore']>('./sns/snsStore.js', 'SnsStore');
  const S3Store = await load<FauxqsStores['s3Store']>('./s3/s3Store.js', 'S3Store');
  const PersistenceManager = await load<FauxqsPersistence>('./persistence.js', 'PersistenceManager');
  const stores: FauxqsStores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence = new (PersistenceManager as unknown as new (dir: string) => FauxqsPersistence)(dataDir);
  // WAL without an fsync per commit: every write is in the operating system's
  // hands before fauxqs answers, so a killed process loses nothing; only a power
  // cut could lose the last commits. An fsync per queue operation would cost far more.
  persistence.db.exec('PRAGMA synchronous = NORMAL');
  // As startFauxqs: load first, then switch write-through on, so loading writes nothing back.
  // (These internals are why package.json pins fauxqs to ~2.4: the local-stack-data tests fail if they move.)
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  stores.sqsStore.persistence = persistence;
  stores.snsStore.persistence = persistence;
  stores.s3Store.persistence = persistence;
  for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  return { stores, persistence };
}

/**
 * Starts fauxqs in this process on 127.0.0.1.
 *
 * State lives in memory unless `dataDir` is given (see {@link SqsEmulatorOptions}).
 * fauxqs's own `startFauxqs` listens on every interface (0.0.0.0); building its
 * app and listening ourselves keeps the emulator on loopback.
 *
 * Queue URLs it hands out look like `http://sqs.us-east-1.localhost:<port>/000000000000/<name>`;
 * they are identifiers only, requests always go to `endpoint`.
 */
export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<LocalSqs> {
  const persistent = options.dataDir === undefined ? undefined : await persistentStores(options.dataDir);
  const app = buildApp({ logger: false, ...(persistent === undefined ? {} : { stores: persistent.stores as never }) });
  if (persistent !== undefined)
    app.addHook('onClose', (_instance, done) => {
      persistent.persistence.close();
      done();
    });
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
  /** The slow lane (shared/domain/lanes.ts): the delivery queue's settings and dead-letter queue. */
  readonly slow: QueueRef;
  /** Final failures of the deliver function, and whatever the redrive policy moves there. */
  readonly deadLetter: QueueRef;
  /** Run-completed events the render function could not process. */
  readonly renderDeadLetter: QueueRef;
  /**
   * Where EventBridge puts events it could not hand to the render function (the rule's
   * target dead-letter queue). Locally nothing fails that way, so it fills only by hand
   * (or a test); `webhooks resend --local` reads it as on AWS.
   */
  readonly eventDeadLetter: QueueRef;
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
 * Creates the delivery queue and the slow lane, each with a RedrivePolicy to the
 * dead-letter queue, and the render and event dead-letter queues. Idempotent for the same options, as
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
  const eventDeadLetter = await createQueue(client, `${prefix}-event-dlq`, {
    MessageRetentionPeriod: String(FOURTEEN_DAYS_SECONDS),
  });
  const lane = {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetter.arn,
      maxReceiveCount: options.maxReceiveCount,
    }),
  };
  const delivery = await createQueue(client, `${prefix}-delivery`, lane);
  const slow = await createQueue(client, `${prefix}-delivery-slow`, lane);
  return { delivery, slow, deadLetter, renderDeadLetter, eventDeadLetter };
}

async function createQueue(client: SQSClient, name: string, attributes: Record<string, string>): Promise<QueueRef> {
  let url: string | undefined;
  try {
    url = (await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
  } catch (error) {
    // A persistent queue made by an earlier run with other attributes (another request
    // timeout): CreateQueue refuses to change them, so they are set on the one there.
    if (!(error instanceof Error) || !/QueueNameExists|QueueAlreadyExists/.test(error.name)) throw error;
    url = (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    if (url !== undefined) await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  if (url === undefined) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`queue ${name} has no QueueArn`);
  return { url, arn };
}
