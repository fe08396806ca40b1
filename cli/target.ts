import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { DEFAULT_STACK_NAME, STACK_OUTPUTS } from '../infra/stack-outputs.ts';
import { createDynamoDeliveryQueries } from '../shared/adapters/dynamo-delivery-queries.ts';
import { createDynamoDeliveryStore } from '../shared/adapters/dynamo-delivery-store.ts';
import { createDynamoEndpointHealthStore } from '../shared/adapters/dynamo-endpoint-health-store.ts';
import type { EndpointHealthStore } from '../shared/ports/endpoint-health-store.ts';
import { DEFAULT_OUTCOME_RETENTION_DAYS } from '../shared/config/config.ts';
import { emulatorClientConfig } from '../shared/local/emulator-client-config.ts';
import type { DeliveryQueries } from '../shared/ports/delivery-queries.ts';
import type { DeliveryStore } from '../shared/ports/delivery-store.ts';
import { CliError } from './io.ts';

// For `webhooks emit --endpoint`, which signs its PutEvents to a local intake with them.

/** A queue's URL (what the SDK takes) and ARN (what move tasks name). */
export interface QueueRef {
  readonly url: string;
  readonly arn: string;
}

/**
 * Where the operations commands act: a deployed stack (found from its
 * CloudFormation outputs) or a running `webhooks dev` (found from the state
 * file it writes). Both give the same clients and names.
 */
export interface Target {
  readonly kind: 'aws' | 'local';
  /** For people: which stack or dev server this is. */
  readonly description: string;
  /** A delivery's record and its state changes (`inspect`, `replay`). */
  readonly store: DeliveryStore;
  /** Listings across deliveries (`failures`, `deliveries`). */
  readonly queries: DeliveryQueries;
  readonly sqs: SQSClient;
  readonly queues: { readonly delivery: QueueRef; readonly deadLetter: QueueRef };
  /** URLs of the queues holding events that never rendered (for `webhooks resend`); absent when the stack or dev server predates them. */
  readonly eventQueues: { readonly renderDeadLetter?: string; readonly eventDeadLetter?: string };
  readonly events: {
    readonly client: EventBridgeClient;
    readonly busName: string;
    readonly source: string;
    readonly detailType: string;
  };
  /** Endpoint health (circuits, gone marks); absent for a stack or dev server from before it existed. */
  readonly health?: EndpointHealthStore;
  close(): void;
}

export interface TargetOptions {
  /** Act on the `webhooks dev` running from this checkout (or this folder, outside one). */
  readonly local?: boolean;
  /** CloudFormation stack name; default DograhWebhooks. */
  readonly stack?: string;
  readonly region?: string;
}

/** What `webhooks dev` writes so other commands (and other terminals) can find it. */
export const DevStateSchema = z.object({
  pid: z.number().int(),
  intake: z.url(),
  sqsEndpoint: z.url(),
  dynamoEndpoint: z.url(),
  tableName: z.string(),
  healthTableName: z.string().optional(),
  busName: z.string(),
  source: z.string(),
  detailType: z.string(),
  queues: z.object({
    delivery: z.object({ url: z.string(), arn: z.string() }),
    /** The slow lane; absent when the dev server predates it. */
    slow: z.object({ url: z.string(), arn: z.string() }).optional(),
    deadLetter: z.object({ url: z.string(), arn: z.string() }),
    renderDeadLetter: z.object({ url: z.string(), arn: z.string() }),
    eventDeadLetter: z.object({ url: z.string(), arn: z.string() }).optional(),
  }),
});
export type DevState = z.infer<typeof DevStateSchema>;

/** This checkout's root folder (the package's). */
const CHECKOUT_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * The dev server's state file: at the root of this checkout when run from any folder
 * inside it (so `webhooks dev` and `--local` find each other from cli/, docs/, ...),
 * else in the folder it was started from.
 */
export function devStatePath(cwd = process.cwd()): string {
  const here = resolve(cwd);
  const base = here === CHECKOUT_ROOT || here.startsWith(`${CHECKOUT_ROOT}${sep}`) ? CHECKOUT_ROOT : here;
  return join(base, '.webhooks', 'dev.json');
}

export async function writeDevState(state: DevState, path = devStatePath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`);
}

export async function removeDevState(path = devStatePath()): Promise<void> {
  await rm(path, { force: true });
}

export async function readDevState(path = devStatePath()): Promise<DevState> {
  const missing = `no webhooks dev is running from this folder (${path} not found): start it with "npm start" or "npx webhooks dev"`;
  if (!existsSync(path)) throw new CliError(missing);
  const parsed = DevStateSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success)
    throw new CliError(`${path}: not a webhooks dev state file; remove it and start webhooks dev again`);
  if (!isAlive(parsed.data.pid))
    throw new CliError(`${missing.split(' (')[0]} (its process ${parsed.data.pid} has stopped)`);
  return parsed.data;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Finds the target of an operations command. */
export async function resolveTarget(options: TargetOptions): Promise<Target> {
  return options.local ? localTarget(await readDevState()) : awsTarget(options);
}

export function localTarget(state: DevState): Target {
  const sqs = new SQSClient(emulatorClientConfig(state.sqsEndpoint));
  const dynamo = new DynamoDBClient(emulatorClientConfig(state.dynamoEndpoint));
  const events = new EventBridgeClient(emulatorClientConfig(state.intake));
  return {
    kind: 'local',
    description: `webhooks dev (pid ${state.pid})`,
    store: createDynamoDeliveryStore({
      client: dynamo,
      tableName: state.tableName,
      retentionDays: DEFAULT_OUTCOME_RETENTION_DAYS,
    }),
    queries: createDynamoDeliveryQueries({ client: dynamo, tableName: state.tableName }),
    sqs,
    queues: state.queues,
    eventQueues: {
      renderDeadLetter: state.queues.renderDeadLetter.url,
      ...(state.queues.eventDeadLetter === undefined ? {} : { eventDeadLetter: state.queues.eventDeadLetter.url }),
    },
    events: { client: events, busName: state.busName, source: state.source, detailType: state.detailType },
    ...(state.healthTableName === undefined
      ? {}
      : {
          health: createDynamoEndpointHealthStore({
            client: dynamo,
            tableName: state.healthTableName,
            retentionDays: DEFAULT_OUTCOME_RETENTION_DAYS,
          }),
        }),
    close() {
      sqs.destroy();
      dynamo.destroy();
      events.destroy();
    },
  };
}

async function awsTarget(options: TargetOptions): Promise<Target> {
  const stackName = options.stack ?? DEFAULT_STACK_NAME;
  const config = options.region === undefined ? {} : { region: options.region };
  const cloudFormation = new CloudFormationClient(config);
  let outputs: Map<string, string>;
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = new Map((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (error) {
    const setup = awsSetupProblem(error);
    if (setup !== undefined) throw new CliError(`stack ${stackName}: ${setup}`);
    throw new CliError(
      `stack ${stackName}: cannot read its outputs (${(error as Error).name}: ${(error as Error).message}); deploy it with "npx cdk deploy", or pass --stack, --region or --local`,
    );
  } finally {
    cloudFormation.destroy();
  }
  const output = (key: string): string => {
    const value = outputs.get(key);
    if (value === undefined || value === '')
      throw new CliError(
        `stack ${stackName}: output ${key} is missing; is it a webhooks stack deployed by this version?`,
      );
    return value;
  };
  const retentionDays = outcomeRetentionDays(outputs.get(STACK_OUTPUTS.outcomeRetentionDays), stackName);
  const tableName = output(STACK_OUTPUTS.outcomeTableName);
  const healthTableName = outputs.get(STACK_OUTPUTS.endpointHealthTableName);
  const sqs = new SQSClient(config);
  const dynamo = new DynamoDBClient(config);
  const events = new EventBridgeClient(config);
  return {
    kind: 'aws',
    description: `stack ${stackName}`,
    store: createDynamoDeliveryStore({ client: dynamo, tableName, retentionDays }),
    queries: createDynamoDeliveryQueries({ client: dynamo, tableName, retentionDays }),
    sqs,
    queues: {
      delivery: { url: output(STACK_OUTPUTS.deliveryQueueUrl), arn: output(STACK_OUTPUTS.deliveryQueueArn) },
      deadLetter: { url: output(STACK_OUTPUTS.deadLetterQueueUrl), arn: output(STACK_OUTPUTS.deadLetterQueueArn) },
    },
    eventQueues: {
      ...optionalOutput(outputs, STACK_OUTPUTS.renderDeadLetterQueueUrl, 'renderDeadLetter'),
      ...optionalOutput(outputs, STACK_OUTPUTS.eventDeadLetterQueueUrl, 'eventDeadLetter'),
    },
    events: {
      client: events,
      busName: output(STACK_OUTPUTS.eventBusName),
      source: output(STACK_OUTPUTS.eventSource),
      detailType: output(STACK_OUTPUTS.eventDetailType),
    },
    ...(healthTableName === undefined || healthTableName === ''
      ? {}
      : { health: createDynamoEndpointHealthStore({ client: dynamo, tableName: healthTableName, retentionDays }) }),
    close() {
      sqs.destroy();
      dynamo.destroy();
      events.destroy();
    },
  };
}

function optionalOutput<K extends string>(
  outputs: ReadonlyMap<string, string>,
  key: string,
  name: K,
): Partial<Record<K, string>> {
  const value = outputs.get(key);
  return value === undefined || value === '' ? {} : ({ [name]: value } as Partial<Record<K, string>>);
}

/**
 * What is missing when the AWS SDK could not even make a request: no region, or no
 * credentials. Those are fixed in the shell (or with --local), not by deploying; undefined
 * for any other error.
 */
export function awsSetupProblem(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (/region is missing/i.test(error.message)) {
    return 'no AWS region is set: pass --region, set AWS_REGION, or set a region in your AWS profile (or use --local for webhooks dev)';
  }
  if (error.name === 'CredentialsProviderError' || /could not load credentials/i.test(error.message)) {
    return 'no AWS credentials found: set AWS_PROFILE (then "aws sso login" if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or use --local for webhooks dev)';
  }
  return undefined;
}

/**
 * The stack's record retention, so a record the CLI writes (a replay) expires when
 * the functions' own writes would: from the output, or the construct's default (what a
 * stack deployed before the output existed uses).
 */
function outcomeRetentionDays(value: string | undefined, stackName: string): number {
  if (value === undefined || value === '') return DEFAULT_OUTCOME_RETENTION_DAYS;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1)
    throw new CliError(
      `stack ${stackName}: output ${STACK_OUTPUTS.outcomeRetentionDays} is "${value}", not a number of days`,
    );
  return days;
}

/** Options of every operations command that say where to act. */
export interface TargetFlags {
  readonly local?: boolean;
  readonly stack?: string;
  readonly region?: string;
}

/** Adds --local, --stack and --region, the way every operations command finds its target. */
export function addTargetOptions(command: Command): Command {
  return command
    .option(
      '--local',
      'act on the `webhooks dev` started in this checkout (.webhooks/dev.json at its root), or in this folder outside one',
    )
    .option('--stack <name>', 'CloudFormation stack whose outputs name the queues and table (default DograhWebhooks)')
    .option('--region <region>', 'AWS region of the stack (default: AWS_REGION or your AWS config)');
}

/** The target options as `resolveTarget` takes them; --local with --stack or --region is a mistake worth naming. */
export function targetOptions(flags: TargetFlags): TargetFlags {
  if (flags.local === true && (flags.stack !== undefined || flags.region !== undefined)) {
    throw new CliError('--local: acts on the local webhooks dev; it cannot be combined with --stack or --region');
  }
  return flags.local === true
    ? { local: true }
    : {
        ...(flags.stack === undefined ? {} : { stack: flags.stack }),
        ...(flags.region === undefined ? {} : { region: flags.region }),
      };
}

/** Help text shared by the operations commands. */
export const TARGET_HELP = `Target: a deployed stack, found from its CloudFormation outputs (--stack, default DograhWebhooks;
credentials and region from the standard AWS chain: AWS_PROFILE, AWS_REGION, ...), or, with
--local, the webhooks dev started in this checkout (any folder of it), or in this folder outside
one.`;

/** The target flags as they were given, to repeat in a suggested next command (` --local`, ` --stack X`). */
export function targetArgs(flags: TargetFlags): string {
  if (flags.local === true) return ' --local';
  return `${flags.stack === undefined ? '' : ` --stack ${flags.stack}`}${flags.region === undefined ? '' : ` --region ${flags.region}`}`;
}
