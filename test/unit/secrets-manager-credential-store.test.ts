import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSecretsManagerCredentialStore } from '../../shared/adapters/secrets-manager-credential-store.ts';
import { CredentialError, TransientDeliveryError } from '../../shared/errors.ts';
import type { CredentialStore } from '../../shared/ports/credential-store.ts';
import {
  DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS,
  DeliverConfigSchema,
  ENV,
  parseConfig,
} from '../../shared/config/config.ts';

/**
 * A loopback stand-in for Secrets Manager that speaks the GetSecretValue JSON
 * protocol, so the real SDK client does the signing, serialising and error parsing.
 */
interface FakeSecretsManager {
  readonly endpoint: string;
  /** SecretString by name; an `{ error }` answers that AWS error instead. */
  readonly secrets: Map<string, string | { error: string; status?: number }>;
  /** GetSecretValue requests per secret name. */
  readonly calls: Map<string, number>;
  /** When set, answers wait until it resolves. */
  gate: Promise<void> | undefined;
  close(): Promise<void>;
}

async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const fake: Omit<FakeSecretsManager, 'endpoint' | 'close'> = {
    secrets: new Map(),
    calls: new Map(),
    gate: undefined,
  };
  const server: Server = createServer((req, res) => void answer(req, res));
  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      return send(400, { __type: 'UnknownOperationException', message: 'unexpected request' });
    }
    const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId: string };
    fake.calls.set(SecretId, (fake.calls.get(SecretId) ?? 0) + 1);
    await fake.gate;
    const secret = fake.secrets.get(SecretId);
    if (secret === undefined) {
      return send(400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
    }
    if (typeof secret !== 'string') return send(secret.status ?? 400, { __type: secret.error, message: 'refused' });
    send(200, {
      ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${SecretId}-AbCdEf`,
      Name: SecretId,
      SecretString: secret,
      VersionId: 'v1',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_714_564_800,
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  });
}

const PREFIX = 'webhooks/credentials';
const NAME = `${PREFIX}/org-1/cred-1`;
const CANARY = 'CANARY-7f3a9c-do-not-log';

let fake: FakeSecretsManager;
let client: SecretsManagerClient;
let now: number;
const clock = { now: () => now };

function makeStore(ttlSeconds = 60): CredentialStore {
  return createSecretsManagerCredentialStore({ client, prefix: PREFIX, ttlSeconds, clock });
}

beforeAll(async () => {
  fake = await startFakeSecretsManager();
  client = new SecretsManagerClient({
    endpoint: fake.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await fake.close();
});

beforeEach(() => {
  fake.secrets.clear();
  fake.calls.clear();
  fake.gate = undefined;
  now = 1_714_564_800_000;
});

/** Everything an error could show: message, fields, causes, as a logger would print it. */
function everythingIn(error: unknown): string {
  return `${String(error)}\n${inspect(error, { depth: Infinity, showHidden: true })}\n${JSON.stringify(error)}`;
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('Secrets Manager credential store', () => {
  it('reads the secret named <prefix>/<organization>/<uuid> and parses it', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'tok-1' }));
    expect(await makeStore().get('org-1', 'cred-1')).toEqual({ type: 'BEARER_TOKEN', token: 'tok-1' });
    expect([...fake.calls.keys()]).toEqual([NAME]);
  });

  it('accepts lower-case type names and normalises them', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'api_key', api_key: 'k-1' }));
    expect(await makeStore().get('org-1', 'cred-1')).toEqual({
      type: 'API_KEY',
      api_key: 'k-1',
      header_name: 'X-API-Key',
    });
  });

  it('serves a cached credential until the TTL runs out', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'NONE' }));
    const store = makeStore(60);
    await store.get('org-1', 'cred-1');
    now += 59_999;
    await store.get('org-1', 'cred-1');
    expect(fake.calls.get(NAME)).toBe(1);
    now += 1;
    await store.get('org-1', 'cred-1');
    expect(fake.calls.get(NAME)).toBe(2);
  });

  it('keeps a credential for the default 15 minutes, so Secrets Manager calls do not grow with deliveries', async () => {
    const ttlSeconds = parseConfig(DeliverConfigSchema, {
      [ENV.deliveryQueueUrl]: 'https://sqs.example/q',
      [ENV.deadLetterQueueUrl]: 'https://sqs.example/d',
      [ENV.outcomeTableName]: 't',
    })[ENV.credentialCacheTtlSeconds];
    expect(ttlSeconds).toBe(DEFAULT_CREDENTIAL_CACHE_TTL_SECONDS);
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'tok-1' }));
    const store = makeStore(ttlSeconds);
    for (let i = 0; i < 14; i++) {
      await store.get('org-1', 'cred-1');
      await store.signingSecrets('org-1', null);
      now += 60_000;
    }
    expect(fake.calls.get(NAME)).toBe(1);
    expect(fake.calls.get(`${PREFIX}/org-1/signing`)).toBe(1);
    // A refusal (the send path's 401/403) does not wait for the TTL.
    store.invalidate('org-1', 'cred-1');
    await store.get('org-1', 'cred-1');
    expect(fake.calls.get(NAME)).toBe(2);
    now += 15 * 60_000;
    await store.get('org-1', 'cred-1');
    expect(fake.calls.get(NAME)).toBe(3);
  });

  it('reads a rotated value once the TTL has run out', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'old' }));
    const store = makeStore(60);
    await store.get('org-1', 'cred-1');
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'new' }));
    expect(await store.get('org-1', 'cred-1')).toEqual({ type: 'BEARER_TOKEN', token: 'old' });
    now += 60_000;
    expect(await store.get('org-1', 'cred-1')).toEqual({ type: 'BEARER_TOKEN', token: 'new' });
  });

  it('reads again at once after invalidate', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'old' }));
    const store = makeStore(60);
    await store.get('org-1', 'cred-1');
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'new' }));
    store.invalidate('org-1', 'cred-1');
    expect(await store.get('org-1', 'cred-1')).toEqual({ type: 'BEARER_TOKEN', token: 'new' });
    expect(fake.calls.get(NAME)).toBe(2);
  });

  it('invalidates only the one credential', async () => {
    const other = `${PREFIX}/org-1/cred-2`;
    fake.secrets.set(NAME, JSON.stringify({ type: 'NONE' }));
    fake.secrets.set(other, JSON.stringify({ type: 'NONE' }));
    const store = makeStore(60);
    await store.get('org-1', 'cred-1');
    await store.get('org-1', 'cred-2');
    store.invalidate('org-1', 'cred-1');
    await store.get('org-1', 'cred-1');
    await store.get('org-1', 'cred-2');
    expect([fake.calls.get(NAME), fake.calls.get(other)]).toEqual([2, 1]);
  });

  it('shares one request among concurrent gets of the same credential', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'NONE' }));
    let open!: () => void;
    fake.gate = new Promise((resolve) => (open = resolve));
    const store = makeStore(60);
    const gets = [store.get('org-1', 'cred-1'), store.get('org-1', 'cred-1'), store.get('org-1', 'cred-1')];
    open();
    expect(await Promise.all(gets)).toEqual([{ type: 'NONE' }, { type: 'NONE' }, { type: 'NONE' }]);
    expect(fake.calls.get(NAME)).toBe(1);
  });

  it('does not let an answer that was in flight during invalidate fill the cache', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'old' }));
    let open!: () => void;
    fake.gate = new Promise((resolve) => (open = resolve));
    const store = makeStore(60);
    const inFlight = store.get('org-1', 'cred-1');
    store.invalidate('org-1', 'cred-1');
    open();
    await inFlight;
    fake.secrets.set(NAME, JSON.stringify({ type: 'BEARER_TOKEN', token: 'new' }));
    expect(await store.get('org-1', 'cred-1')).toEqual({ type: 'BEARER_TOKEN', token: 'new' });
  });

  it('reads Secrets Manager on every get when the TTL is 0', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'NONE' }));
    const store = makeStore(0);
    await store.get('org-1', 'cred-1');
    await store.get('org-1', 'cred-1');
    expect(fake.calls.get(NAME)).toBe(2);
  });

  it('fails a missing secret with a CredentialError naming it', async () => {
    const error = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect(error).toBeInstanceOf(CredentialError);
    expect((error as CredentialError).secretName).toBe(NAME);
    expect((error as Error).message).toBe(`credential ${NAME}: not found`);
  });

  it('does not remember a failure: a secret created afterwards is found', async () => {
    const store = makeStore(60);
    await expect(store.get('org-1', 'cred-1')).rejects.toThrow(CredentialError);
    fake.secrets.set(NAME, JSON.stringify({ type: 'NONE' }));
    expect(await store.get('org-1', 'cred-1')).toEqual({ type: 'NONE' });
  });

  it('fails a secret it may not read with a CredentialError', async () => {
    fake.secrets.set(NAME, { error: 'AccessDeniedException' });
    await expect(makeStore().get('org-1', 'cred-1')).rejects.toThrow(`credential ${NAME}: access denied`);
  });

  it('reports throttling as transient, not as a bad credential', async () => {
    fake.secrets.set(NAME, { error: 'ThrottlingException' });
    const error = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error).not.toBeInstanceOf(CredentialError);
    expect((error as Error).message).toContain('ThrottlingException');
  });

  it('fails a SecretString that is not JSON, without quoting it', async () => {
    fake.secrets.set(NAME, `{"type":"BEARER_TOKEN","token":"${CANARY}`);
    const error = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect(error).toBeInstanceOf(CredentialError);
    expect((error as Error).message).toBe(`credential ${NAME}: SecretString is not valid JSON`);
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('fails a credential of an unknown type, without quoting it', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: CANARY, token: CANARY }));
    const error = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect((error as Error).message).toMatch(/not a valid credential: type: must be one of NONE, API_KEY/);
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('names the wrong fields of a credential, without quoting any value', async () => {
    fake.secrets.set(NAME, JSON.stringify({ type: 'BASIC_AUTH', username: CANARY, password: 12345 }));
    const wrongType = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect((wrongType as Error).message).toBe(
      `credential ${NAME}: not a valid credential: password: missing or not a string`,
    );
    expect(everythingIn(wrongType)).not.toContain(CANARY);
    expect(everythingIn(wrongType)).not.toContain('12345');

    fake.secrets.set(NAME, JSON.stringify({ type: 'api_key', api_key: CANARY, header_name: '' }));
    const empty = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect((empty as Error).message).toBe(`credential ${NAME}: not a valid credential: header_name: must not be empty`);
    expect(everythingIn(empty)).not.toContain(CANARY);
  });

  it('fails a SecretString that is JSON but not an object', async () => {
    fake.secrets.set(NAME, JSON.stringify(CANARY));
    const error = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect((error as Error).message).toBe(`credential ${NAME}: not a valid credential: must be a JSON object`);
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('refuses ids that would reach outside the organization, without asking Secrets Manager', async () => {
    const store = makeStore();
    await expect(store.get('org-1', '../org-2/cred-1')).rejects.toThrow(CredentialError);
    await expect(store.get('org-1/x', 'cred-1')).rejects.toThrow(CredentialError);
    expect(fake.calls.size).toBe(0);
  });
});

describe('Secrets Manager signing secrets', () => {
  const ORG_SIGNING = `${PREFIX}/org-1/signing`;
  const NODE_SIGNING = `${PREFIX}/org-1/sig-1`;
  const WHSEC = 'whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=';
  const WHSEC_NEW = 'whsec_K7SUYjEkNa+1UdX+mTyr1MUCIQfZlVD7';

  it("reads the organization's signing secret from <prefix>/<organization>/signing, every secret of a rotation", async () => {
    fake.secrets.set(ORG_SIGNING, JSON.stringify({ type: 'SIGNING', secrets: [WHSEC, WHSEC_NEW] }));
    expect(await makeStore().signingSecrets('org-1', null)).toEqual([WHSEC, WHSEC_NEW]);
    expect([...fake.calls.keys()]).toEqual([ORG_SIGNING]);
  });

  it('caches an organization without a signing secret for the TTL, then asks again', async () => {
    const store = makeStore(60);
    expect(await store.signingSecrets('org-1', null)).toBeNull();
    expect(await store.signingSecrets('org-1', null)).toBeNull();
    expect(fake.calls.get(ORG_SIGNING)).toBe(1);
    fake.secrets.set(ORG_SIGNING, JSON.stringify({ type: 'SIGNING', secrets: [WHSEC] }));
    now += 61_000;
    expect(await store.signingSecrets('org-1', null)).toEqual([WHSEC]);
    expect(fake.calls.get(ORG_SIGNING)).toBe(2);
  });

  it('fails a node whose named signing secret is missing, and does not cache the failure', async () => {
    const store = makeStore();
    const error = await failureOf(store.signingSecrets('org-1', 'sig-1'));
    expect(error).toBeInstanceOf(CredentialError);
    expect((error as Error).message).toBe(`credential ${NODE_SIGNING}: not found`);
    fake.secrets.set(NODE_SIGNING, JSON.stringify({ type: 'signing', secrets: [WHSEC] }));
    expect(await store.signingSecrets('org-1', 'sig-1')).toEqual([WHSEC]);
  });

  it('refuses an endpoint credential as a signing secret and a signing secret as a credential, quoting neither', async () => {
    fake.secrets.set(NODE_SIGNING, JSON.stringify({ type: 'BEARER_TOKEN', token: CANARY }));
    const notSigning = await failureOf(makeStore().signingSecrets('org-1', 'sig-1'));
    expect((notSigning as Error).message).toBe(
      `credential ${NODE_SIGNING}: is not a signing secret (its type must be SIGNING)`,
    );
    expect(everythingIn(notSigning)).not.toContain(CANARY);
    fake.secrets.set(NAME, JSON.stringify({ type: 'SIGNING', secrets: [WHSEC] }));
    const notCredential = await failureOf(makeStore().get('org-1', 'cred-1'));
    expect((notCredential as Error).message).toMatch(/is a signing secret/);
    expect(everythingIn(notCredential)).not.toContain(WHSEC.slice(6));
  });

  it('names a malformed signing secret without quoting it', async () => {
    fake.secrets.set(ORG_SIGNING, JSON.stringify({ type: 'SIGNING', secrets: [`whsec_${CANARY}`] }));
    const error = await failureOf(makeStore().signingSecrets('org-1', null));
    expect((error as Error).message).toBe(
      `credential ${ORG_SIGNING}: not a valid signing secret: secrets.0: must be whsec_ followed by standard base64`,
    );
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('treats throttling of the organization\'s lookup as transient, not as "unsigned"', async () => {
    fake.secrets.set(ORG_SIGNING, { error: 'ThrottlingException', status: 400 });
    await expect(makeStore().signingSecrets('org-1', null)).rejects.toBeInstanceOf(TransientDeliveryError);
  });
});
