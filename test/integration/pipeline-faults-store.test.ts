import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalStack, LOCAL_TABLE_NAME, type LocalStack } from '../../cli/local-stack.ts';
import { nextStep } from '../../cli/commands/inspect.ts';
import { createDynamoDeliveryStore } from '../../shared/adapters/dynamo-delivery-store.ts';
import { createSecretsManagerCredentialStore } from '../../shared/adapters/secrets-manager-credential-store.ts';
import { emulatorClientConfig } from '../../shared/local/emulator-client-config.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import type { CredentialStore } from '../../shared/ports/credential-store.ts';
import type { DeliveryStore } from '../../shared/ports/delivery-store.ts';
import type { DeliverDeps } from '../../shared/use-cases/deliver-message.ts';
import { account, logOf, refusedOrigin, startFaultReceiver, type FaultReceiver } from '../fixtures/fault-accounting.ts';
import { makeEventJson, makeNodeJson, type NodeJson } from '../fixtures/factories.ts';
import { faultyDynamoClient, type FaultLog } from '../fixtures/lost-answers.ts';

// DynamoDB and Secrets Manager failing under the local pipeline. The deliver function's
// store runs on a real SDK client with the SDK's standard retries and a middleware that
// loses answers (the write landed) or refuses requests (it did not), per delivery.

type Matcher = (name: string, input: Record<string, unknown>) => boolean;
const faults: { lose?: Matcher; refuse?: Matcher; times?: number } = {};
let faultLog: FaultLog;
let faultyStore: DeliveryStore | undefined;
let stack: LocalStack;
let receiver: FaultReceiver;
let smDown: CredentialStore;
const lines: string[] = [];
let nextRun = 7200;
const ORG = '42';

/** The store of the deliver function, made once the emulator's endpoint is known. */
function lateStore(): DeliveryStore {
  const get = (): DeliveryStore => {
    if (faultyStore === undefined) throw new Error('store not ready');
    return faultyStore;
  };
  const methods = [
    'claim',
    'recordAttempt',
    'recordFinal',
    'markDeadLettered',
    'reopen',
    'get',
    'markRequeued',
    'failStranded',
  ] as const;
  return Object.fromEntries(
    methods.map((m) => [m, (...args: unknown[]) => (get()[m] as (...a: unknown[]) => unknown)(...args)]),
  ) as unknown as DeliveryStore;
}

const retry = (max_attempts: number) => ({
  max_attempts,
  backoff: 'fixed' as const,
  initial_delay_seconds: 1,
  max_delay_seconds: 2,
});
const node = (id: string, path: string, max = 3, data: NodeJson['data'] = {}): NodeJson =>
  makeNodeJson({
    id,
    data: { endpoint_url: `${receiver.origin}${path}`, credential_uuid: null, retry_config: retry(max), ...data },
  });

async function run(n: NodeJson): Promise<string> {
  const [rendered] = await stack.emit(makeEventJson({ detail: { workflow_run_id: nextRun++, nodes: [n] } }));
  return rendered!.delivery_id;
}

const forDelivery =
  (id: string, also: (input: Record<string, unknown>) => boolean): Matcher =>
  (name, input) =>
    name === 'UpdateItemCommand' && (input.Key as { pk?: { S?: string } } | undefined)?.pk?.S === id && also(input);
const isClaim = (input: Record<string, unknown>) =>
  String(input.ConditionExpression).startsWith('attribute_not_exists');
const records = (status: string) => (input: Record<string, unknown>) =>
  String(input.ConditionExpression).startsWith('#attempts = ') &&
  JSON.stringify(input.ExpressionAttributeValues).includes(`"S":"${status}"`);

beforeAll(async () => {
  receiver = await startFaultReceiver();
  const down = await refusedOrigin();
  smDown = createSecretsManagerCredentialStore({
    client: new SecretsManagerClient(emulatorClientConfig(down)),
    prefix: 'webhooks/credentials',
    ttlSeconds: 60,
    clock: systemClock,
  });
  let flakyCalls = 0;
  stack = await startLocalStack({
    secrets: { [`webhooks/credentials/${ORG}/sm-flaky`]: { type: 'BEARER_TOKEN', token: 'flaky-token-value' } },
    requestTimeoutMs: 1000,
    visibilityTimeoutSeconds: 2,
    logSink: (line) => lines.push(line),
    logLevel: 'debug',
    adaptDeliverDeps: (deps: DeliverDeps) => ({
      ...deps,
      store: lateStore(),
      leaseMarginMs: 500,
      credentials: {
        // Secrets Manager unreachable (a real SDK client on a refused port): always for sm-down, once for sm-flaky.
        get: (org, uuid) =>
          uuid === 'sm-down' || (uuid === 'sm-flaky' && flakyCalls++ === 0)
            ? smDown.get(org, uuid)
            : deps.credentials.get(org, uuid),
        invalidate: (org, uuid) => deps.credentials.invalidate(org, uuid),
        signingSecrets: (org, uuid) => deps.credentials.signingSecrets(org, uuid),
      },
    }),
  });
  const faulty = faultyDynamoClient(stack.dynamoEndpoint, faults);
  faultLog = faulty.log;
  faultyStore = createDynamoDeliveryStore({ client: faulty.client, tableName: LOCAL_TABLE_NAME, retentionDays: 30 });
}, 60_000);

beforeEach(() => {
  delete faults.lose;
  delete faults.refuse;
  faults.times = 1;
  faultLog.lost = 0;
  faultLog.refused = 0;
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

const final = async (id: string) => (await stack.waitUntilFinal([id], 30_000))[0];

describe('DynamoDB failing', () => {
  it('a claim whose write landed but whose answer was lost burns no attempt number', async () => {
    receiver.on('/lost-claim', (n) => ({ kind: 'reply', status: n < 3 ? 503 : 200 }));
    const id = await run(node('lost-claim', '/lost-claim', 3));
    faults.lose = forDelivery(id, isClaim);
    faults.times = 3;
    const record = await final(id);
    expect(faultLog.lost).toBe(3);
    expect(account(record, receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 3,
      recorded: ['1:http_transient', '2:http_transient', '3:none'],
      wire: [1, 2, 3],
      logged: ['1:retrying', '2:retrying', '3:delivered'],
    });
  });

  it('a 410 whose failed record write fails (every SDK try) is recorded on the next try, never sent again', async () => {
    receiver.on('/gone-unrecorded', () => ({ kind: 'reply', status: 410 }));
    const id = await run(node('gone-unrecorded', '/gone-unrecorded', 3));
    faults.refuse = forDelivery(id, records('failed'));
    faults.times = 3;
    await final(id);
    // Let a message that came back (it must not) reach the endpoint again.
    await new Promise((r) => setTimeout(r, 3000));
    expect(faultLog.refused).toBe(3);
    const record = await stack.store.get(id);
    expect(account(record, receiver, lines)).toEqual({
      status: 'failed',
      attempts: 1,
      recorded: ['1:http_permanent'],
      wire: [1],
      logged: ['1:failed'],
    });
    expect(record?.dead_letter_pending).toBe(false);
    expect(logOf(lines, id).some((l) => l.message === 'outcome not recorded: trying the write again')).toBe(true);
  });

  it('a retrying record write that fails is written on the next try: the next attempt is attempt 2', async () => {
    receiver.on('/retry-unrecorded', (n) => ({ kind: 'reply', status: n === 1 ? 503 : 200 }));
    const id = await run(node('retry-unrecorded', '/retry-unrecorded', 3));
    faults.refuse = forDelivery(id, records('retrying'));
    faults.times = 3;
    const record = await final(id);
    expect(account(record, receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 2,
      recorded: ['1:http_transient', '2:none'],
      wire: [1, 2],
      logged: ['1:retrying', '2:delivered'],
    });
  });

  it('the claim write failing before the send (every SDK try): nothing sent, the message comes back and is delivered as attempt 1', async () => {
    const id = await run(node('claim-down', '/claim-down', 3));
    faults.refuse = forDelivery(id, isClaim);
    faults.times = 3;
    const record = await final(id);
    expect(faultLog.refused).toBe(3);
    expect(account(record, receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 1,
      recorded: ['1:none'],
      wire: [1],
      logged: ['1:delivered'],
    });
    expect(lines.some((l) => l.includes('message not settled: it will be received again'))).toBe(true);
  });

  it('the answer of the delivered record lost after the send: the retried write is accepted, nothing resent', async () => {
    const id = await run(node('lost-outcome', '/lost-outcome', 3));
    faults.lose = forDelivery(id, records('delivered'));
    const record = await final(id);
    await new Promise((r) => setTimeout(r, 3000));
    expect(faultLog.lost).toBe(1);
    expect(account(record, receiver, lines)).toEqual({
      status: 'delivered',
      attempts: 1,
      recorded: ['1:none'],
      wire: [1],
      logged: ['1:delivered'],
    });
    expect(logOf(lines, id).some((l) => l.message.includes('could not be recorded'))).toBe(false);
  });
});

describe('Secrets Manager unavailable', () => {
  it('nothing is sent without the credential; the attempts are on record and the delivery fails when they run out', async () => {
    const id = await run(node('sm-down', '/sm-down', 2, { credential_uuid: 'sm-down' }));
    const record = await final(id);
    const a = account(record, receiver, lines);
    expect(a).toMatchObject({ status: 'failed', attempts: 2, wire: [], logged: ['1:retrying', '2:failed'] });
    expect(a.recorded).toHaveLength(2);
    // Transient, so retried; the advice is not "fix the endpoint" when the endpoint never saw a request.
    expect(nextStep(record!, ' --local')).not.toMatch(/^fix the endpoint/);
  });

  it('back on the next attempt: delivered as attempt 2, with the credential, attempt 1 never on the wire', async () => {
    const id = await run(node('sm-flaky', '/sm-flaky', 3, { credential_uuid: 'sm-flaky' }));
    const record = await final(id);
    expect(account(record, receiver, lines)).toMatchObject({
      status: 'delivered',
      attempts: 2,
      wire: [2],
      logged: ['1:retrying', '2:delivered'],
    });
    expect(receiver.seen.find((s) => s.path === '/sm-flaky')?.headers.authorization).toBe('Bearer flaky-token-value');
  });
});
