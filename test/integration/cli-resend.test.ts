import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HeldEvent, ResendResult } from '../../cli/commands/resend.ts';
import { startEventIntake, type BusEvent, type EventIntake } from '../../cli/event-intake.ts';
import { LOCAL_TABLE_NAME, startLocalStack, type LocalStack } from '../../cli/local-stack.ts';
import { devStatePath, writeDevState } from '../../cli/target.ts';
import { STACK_OUTPUTS } from '../../infra/stack-outputs.ts';
import { LOCAL_CREDENTIALS } from '../../shared/local/emulator-client-config.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../../shared/schemas/event.ts';
import { errorLine, runCliInProcess, type Run } from '../fixtures/cli.ts';
import { makeEventJson, makeNodeJson } from '../fixtures/factories.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { startFakeCloudFormation } from '../fixtures/fake-cloudformation.ts';

// `webhooks resend` against a local stack with a PutEvents intake routed to the render
// function, as `webhooks dev` wires them: through the dev state file (--local), and through
// CloudFormation outputs served by a loopback fake (the AWS path, the SDK pointed at the
// emulators and the intake by AWS_ENDPOINT_URL_*).

let dir: string;
let stack: LocalStack;
let receiver: Receiver;
let intake: EventIntake;
/** Every event the intake took, when. */
const arrived: { event: BusEvent; at: number }[] = [];
let nextRun = 9100;

function environment(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: dir,
    NO_COLOR: '1',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function webhooks(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runCliInProcess(args, { cwd: dir, env: { ...environment(), ...env } });
}

function parsed(result: Run, code = 0): ResendResult {
  expect(result.code, result.stderr).toBe(code);
  return JSON.parse(result.stdout) as ResendResult;
}

async function waiting(url: string): Promise<number> {
  const { Attributes = {} } = await stack.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible);
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A good event whose one node posts to the receiver at `path`. */
function goodEvent(path: string): ReturnType<typeof makeEventJson> & { detail: { workflow_run_id: number } } {
  const run = nextRun++;
  const event = makeEventJson({
    detail: {
      workflow_run_id: run,
      nodes: [
        makeNodeJson({
          id: 'hook',
          data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: null },
        }),
      ],
    },
  });
  return { ...event, detail: { ...(event.detail as object), workflow_run_id: run } };
}

/** What EventBridge puts on a rule target's dead-letter queue: the event, and why it was not delivered. */
async function holdInEventQueue(event: unknown): Promise<void> {
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queues.eventDeadLetter.url,
      MessageBody: JSON.stringify(event),
      MessageAttributes: {
        ERROR_CODE: { DataType: 'String', StringValue: 'SDK_CLIENT_ERROR' },
        ERROR_MESSAGE: { DataType: 'String', StringValue: 'Rate exceeded' },
        RULE_ARN: { DataType: 'String', StringValue: 'arn:aws:events:us-east-1:123456789012:rule/run-completed' },
      },
    }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-resend-'));
  receiver = await startReceiver();
  stack = await startLocalStack({ secrets: {}, requestTimeoutMs: 1000 });
  // The rule, as webhooks dev routes: run-completed events go to the render function.
  intake = await startEventIntake({
    port: 0,
    busName: 'default',
    onEvent: (event) => {
      arrived.push({ event, at: Date.now() });
      if (event.source === DEFAULT_EVENT_SOURCE && event['detail-type'] === DEFAULT_DETAIL_TYPE)
        void stack.emit(event).catch(() => undefined);
    },
  });
  await writeDevState(
    {
      pid: process.pid,
      intake: intake.endpoint,
      sqsEndpoint: stack.sqsEndpoint,
      dynamoEndpoint: stack.dynamoEndpoint,
      tableName: LOCAL_TABLE_NAME,
      busName: 'default',
      source: DEFAULT_EVENT_SOURCE,
      detailType: DEFAULT_DETAIL_TYPE,
      queues: stack.queues,
    },
    devStatePath(dir),
  );
});

afterAll(async () => {
  await intake?.close();
  await stack?.stop();
  await receiver?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.queues.renderDeadLetter.url }));
  await stack.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.queues.eventDeadLetter.url }));
  arrived.length = 0;
});

describe('webhooks resend --local', () => {
  it('says nothing is held and exits 0 when both queues are empty', async () => {
    const result = await webhooks(['resend', '--local']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^nothing to resend: no event is held/);
  });

  it('refuses a bad --from or --max-per-second, naming the flag', async () => {
    expect(errorLine(await webhooks(['resend', '--local', '--from', 'delivery']))).toBe(
      'error: --from: expected render, events or both, got "delivery"',
    );
    expect(errorLine(await webhooks(['resend', '--local', '--max-per-second', '0']))).toMatch(
      /^error: --max-per-second: expected a whole number from 1/,
    );
  });

  it('lists with --dry-run and changes nothing; re-sends a still-malformed event, which lands back in the render DLQ; leaves a message that holds no event', async () => {
    const bad = makeEventJson({ detail: { workflow_run_id: 'not-a-number' } });
    await expect(stack.emit(bad)).rejects.toThrow();
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queues.renderDeadLetter.url, MessageBody: 'not json at all' }),
    );
    expect(await waiting(stack.queues.renderDeadLetter.url)).toBe(2);

    const dry = parsed(await webhooks(['resend', '--local', '--dry-run', '--json']), 3);
    expect(dry.dry_run).toBe(true);
    const listed = new Map(dry.events.map((e) => [e.outcome, e]));
    expect(listed.get('would_send')).toMatchObject({
      queue: 'render',
      workflow_run_id: 'not-a-number',
      error: expect.stringContaining('detail.workflow_run_id'),
    });
    expect(listed.get('would_send')?.age_ms).toBeGreaterThanOrEqual(0);
    expect(listed.get('left')).toMatchObject({ queue: 'render', reason: 'the message is not JSON' });
    expect(arrived).toHaveLength(0);
    // Released at once: both are there for the next look.
    expect(await waiting(stack.queues.renderDeadLetter.url)).toBe(2);

    const text = await webhooks(['resend', '--local', '--dry-run']);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/would send {2}run not-a-number \(render, .* old\): .*detail\.workflow_run_id/);
    expect(text.stdout).toContain('left on the queue: the message is not JSON');
    expect(text.stdout).toContain('dry run: 1 event would be sent, 1 would stay; nothing changed');

    const sent = parsed(await webhooks(['resend', '--local', '--from', 'render', '--json']), 3);
    expect(sent).toMatchObject({ sent: 1, left: 1 });
    const resent = sent.events.find((e) => e.outcome === 'sent') as HeldEvent;
    expect(resent.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(arrived.map((a) => a.event.id)).toEqual([resent.event_id]);
    expect((arrived[0]!.event.detail as Record<string, unknown>)['workflow_run_id']).toBe('not-a-number');
    // Still malformed: it failed again and is held again, as a new message with its error, not lost.
    await until(
      async () => (await waiting(stack.queues.renderDeadLetter.url)) === 2,
      'the re-failed event back in the render DLQ',
    );
    const again = parsed(await webhooks(['resend', '--local', '--dry-run', '--json']), 3);
    const heldAgain = again.events.find((e) => e.outcome === 'would_send');
    expect(heldAgain).toMatchObject({
      workflow_run_id: 'not-a-number',
      error: expect.stringContaining('detail.workflow_run_id'),
    });
    expect(heldAgain?.message_id).not.toBe(listed.get('would_send')?.message_id);
  });

  it('re-sends a good event held in the event DLQ, which is delivered end to end, and empties the queue', async () => {
    const event = goodEvent('/held');
    await holdInEventQueue(event);
    const result = await webhooks(['resend', '--local', '--from', 'events']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^sent as [0-9a-f-]{36}  run ${event.detail.workflow_run_id} \\(events, .* old\\): SDK_CLIENT_ERROR: Rate exceeded$`,
        'm',
      ),
    );
    expect(result.stdout).toMatch(/re-sent 1 event in .*, 0 left on the queue/);
    expect(result.stderr).toContain('re-sending 1 held event from the event dead-letter queue');
    expect(result.stderr).toContain('event dead-letter queue: 1 of 1 handled');
    const [request] = await receiver.waitFor('/held', 1, 20_000);
    expect(JSON.parse(request?.body ?? '{}')).toBeTypeOf('object');
    expect(await waiting(stack.queues.eventDeadLetter.url)).toBe(0);
  });
});

describe('webhooks resend on a deployed stack, found from its CloudFormation outputs', () => {
  const STACK = 'DograhWebhooks-resend';
  const stacks = new Map<string, Record<string, string>>();
  let cloudFormation: { origin: string; close(): Promise<void> };
  let awsEnv: Record<string, string>;

  beforeAll(async () => {
    const base: Record<string, string> = {
      [STACK_OUTPUTS.outcomeTableName]: LOCAL_TABLE_NAME,
      [STACK_OUTPUTS.deliveryQueueUrl]: stack.queues.delivery.url,
      [STACK_OUTPUTS.deliveryQueueArn]: stack.queues.delivery.arn,
      [STACK_OUTPUTS.deadLetterQueueUrl]: stack.queues.deadLetter.url,
      [STACK_OUTPUTS.deadLetterQueueArn]: stack.queues.deadLetter.arn,
      // On AWS the SDK sends SQS requests to the queue URL's host: here, the emulator's.
      [STACK_OUTPUTS.renderDeadLetterQueueUrl]: onEmulator(stack.queues.renderDeadLetter.url),
      [STACK_OUTPUTS.eventDeadLetterQueueUrl]: onEmulator(stack.queues.eventDeadLetter.url),
      [STACK_OUTPUTS.eventBusName]: 'default',
      [STACK_OUTPUTS.eventSource]: DEFAULT_EVENT_SOURCE,
      [STACK_OUTPUTS.eventDetailType]: DEFAULT_DETAIL_TYPE,
    };
    stacks.set(STACK, base);
    // A stack whose bus the intake does not know: every PutEvents entry is refused.
    stacks.set('OtherBus', { ...base, [STACK_OUTPUTS.eventBusName]: 'elsewhere' });
    cloudFormation = await startFakeCloudFormation(stacks);
    awsEnv = {
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.origin,
      AWS_ENDPOINT_URL_SQS: stack.sqsEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoEndpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: intake.endpoint,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
  });

  afterAll(async () => {
    await cloudFormation?.close();
  });

  it('re-sends from both queues the outputs name, at most --max-per-second, and each is delivered', async () => {
    const first = goodEvent('/aws/first');
    const second = goodEvent('/aws/second');
    await holdInEventQueue(first);
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.renderDeadLetter.url,
        MessageBody: JSON.stringify({
          requestPayload: second,
          responsePayload: { errorMessage: 'Task timed out after 30.00 seconds' },
        }),
      }),
    );
    const result = parsed(await webhooks(['resend', '--stack', STACK, '--max-per-second', '1', '--json'], awsEnv));
    expect(result).toMatchObject({ dry_run: false, sent: 2, left: 0 });
    expect(result.events.map((e) => [e.queue, e.workflow_run_id, e.error])).toEqual([
      ['render', second.detail.workflow_run_id, 'Task timed out after 30.00 seconds'],
      ['events', first.detail.workflow_run_id, 'SDK_CLIENT_ERROR: Rate exceeded'],
    ]);
    // One a second: the second PutEvents went at least a second after the first (a lower bound only).
    expect(arrived).toHaveLength(2);
    expect((arrived[1]?.at ?? 0) - (arrived[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    await receiver.waitFor('/aws/first', 1, 20_000);
    await receiver.waitFor('/aws/second', 1, 20_000);
    expect(await waiting(stack.queues.renderDeadLetter.url)).toBe(0);
    expect(await waiting(stack.queues.eventDeadLetter.url)).toBe(0);
  });

  it('keeps a message whose event PutEvents refused, and says why', async () => {
    await holdInEventQueue(goodEvent('/aws/refused'));
    const result = parsed(await webhooks(['resend', '--stack', 'OtherBus', '--json'], awsEnv), 3);
    expect(result).toMatchObject({ sent: 0, left: 1 });
    expect(result.events[0]?.reason).toMatch(
      /^refused by PutEvents: ResourceNotFoundException: event bus elsewhere does not exist/,
    );
    expect(arrived).toHaveLength(0);
    expect(await waiting(stack.queues.eventDeadLetter.url)).toBe(1);
  });

  it('stops with one error line when PutEvents cannot be reached, and the event stays held', async () => {
    await holdInEventQueue(goodEvent('/aws/unreached'));
    // A loopback port nothing listens on: the bus cannot be reached.
    const closed = await startFakeCloudFormation(new Map());
    await closed.close();
    const result = await webhooks(['resend', '--stack', STACK, '--from', 'events'], {
      ...awsEnv,
      AWS_ENDPOINT_URL_EVENTBRIDGE: closed.origin,
      AWS_MAX_ATTEMPTS: '1',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('error: '))).toEqual([
      expect.stringMatching(/^error: resend: PutEvents failed \(.*\); 0 sent before it, the rest are still held$/),
    ]);
    expect(await waiting(stack.queues.eventDeadLetter.url)).toBe(1);
    // Visible again at once, for the next try: a dry run lists it.
    expect(
      parsed(await webhooks(['resend', '--stack', STACK, '--from', 'events', '--dry-run', '--json'], awsEnv)).events,
    ).toEqual([expect.objectContaining({ outcome: 'would_send' })]);
  });
});

/** A queue URL with the emulator's address as its host (fauxqs finds the queue by its path). */
function onEmulator(url: string): string {
  return `${stack.sqsEndpoint}${new URL(url).pathname}`;
}
