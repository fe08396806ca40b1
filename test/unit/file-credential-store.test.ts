import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileCredentialStore, loadSecretsFile } from '../../shared/adapters/file-credential-store.ts';
import { CredentialError, ValidationError } from '../../shared/errors.ts';

const PREFIX = 'webhooks/credentials';
const NAME = `${PREFIX}/org-1/cred-1`;
const CANARY = 'CANARY-51e0b2-do-not-log';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'secrets-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function everythingIn(error: unknown): string {
  return `${String(error)}\n${inspect(error, { depth: Infinity, showHidden: true })}\n${JSON.stringify(error)}`;
}

describe('file credential store', () => {
  it('finds a credential by <prefix>/<organization>/<uuid> and parses it', async () => {
    const store = createFileCredentialStore(
      { [NAME]: { type: 'custom_header', header_name: 'X-Token', header_value: 'v' } },
      PREFIX,
    );
    expect(await store.get('org-1', 'cred-1')).toEqual({
      type: 'CUSTOM_HEADER',
      header_name: 'X-Token',
      header_value: 'v',
    });
  });

  it('fails a missing credential with a CredentialError naming it', async () => {
    const store = createFileCredentialStore({ [`${PREFIX}/org-2/cred-1`]: { type: 'NONE' } }, PREFIX);
    const error = await failureOf(store.get('org-1', 'cred-1'));
    expect(error).toBeInstanceOf(CredentialError);
    expect((error as CredentialError).secretName).toBe(NAME);
  });

  it('does not find inherited names such as constructor', async () => {
    const store = createFileCredentialStore({}, 'x');
    await expect(store.get('org', 'constructor')).rejects.toThrow(CredentialError);
  });

  it('fails a malformed credential naming the field, never the value', async () => {
    const store = createFileCredentialStore({ [NAME]: { type: 'BEARER_TOKEN', token: '', extra: CANARY } }, PREFIX);
    const error = await failureOf(store.get('org-1', 'cred-1'));
    expect(error.message).toBe(`credential ${NAME}: not a valid credential: token: must not be empty`);
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('refuses ids that would reach another organization', async () => {
    const store = createFileCredentialStore({ [`${PREFIX}/org-2/cred-1`]: { type: 'NONE' } }, PREFIX);
    await expect(store.get('org-1/../org-2', 'cred-1')).rejects.toThrow(CredentialError);
  });
});

describe('loadSecretsFile', () => {
  it('reads a valid file into parsed credentials', async () => {
    const path = await fileWith(
      'ok.json',
      JSON.stringify({
        [NAME]: { type: 'bearer_token', token: 't' },
        [`${PREFIX}/org-1/cred-2`]: { type: 'API_KEY', api_key: 'k' },
      }),
    );
    const secrets = await loadSecretsFile(path);
    expect(secrets).toEqual({
      [NAME]: { type: 'BEARER_TOKEN', token: 't' },
      [`${PREFIX}/org-1/cred-2`]: { type: 'API_KEY', api_key: 'k', header_name: 'X-API-Key' },
    });
    expect(await createFileCredentialStore(secrets, PREFIX).get('org-1', 'cred-1')).toEqual({
      type: 'BEARER_TOKEN',
      token: 't',
    });
  });

  it('reports every bad secret at once, naming the file, the secret and the field', async () => {
    const path = await fileWith(
      'bad.json',
      JSON.stringify({
        [NAME]: { type: 'BASIC_AUTH', username: CANARY },
        [`${PREFIX}/org-1/cred-2`]: { type: CANARY },
        [`${PREFIX}/org-1/cred-3`]: { type: 'NONE' },
      }),
    );
    const error = await failureOf(loadSecretsFile(path));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toEqual([
      { source: path, path: `${NAME}.password`, reason: 'missing or not a string' },
      {
        source: path,
        path: `${PREFIX}/org-1/cred-2.type`,
        reason:
          'must be one of NONE, API_KEY, BEARER_TOKEN, BASIC_AUTH, CUSTOM_HEADER, OAUTH2_CLIENT_CREDENTIALS or SIGNING',
      },
    ]);
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('reports a file that is not JSON by position, without quoting it', async () => {
    const path = await fileWith('broken.json', `{"${NAME}": {"type": "BEARER_TOKEN", "token": ${CANARY}}}`);
    const error = await failureOf(loadSecretsFile(path));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(new RegExp(`^${path}: \\(root\\): not valid JSON`));
    expect(everythingIn(error)).not.toContain(CANARY);
  });

  it('reports a file that is not an object of secrets', async () => {
    const path = await fileWith('array.json', '[]');
    await expect(loadSecretsFile(path)).rejects.toThrow(
      `${path}: (root): must be an object mapping secret names to credentials`,
    );
  });

  it('reports a missing file by name', async () => {
    const path = join(dir, 'missing.json');
    await expect(loadSecretsFile(path)).rejects.toThrow(`${path}: (root): file not found`);
  });

  it('keeps a secret named __proto__ as a plain entry', async () => {
    const path = await fileWith('proto.json', '{"__proto__": {"type": "NONE"}}');
    const secrets = await loadSecretsFile(path);
    expect(Object.getPrototypeOf(secrets)).toBe(Object.prototype);
    expect(Object.keys(secrets)).toEqual(['__proto__']);
  });
});

describe('file store signing secrets', () => {
  const WHSEC = 'whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=';

  it("finds the organization's signing secret, or none, and a node's named one", async () => {
    const store = createFileCredentialStore(
      {
        [`${PREFIX}/org-1/signing`]: { type: 'SIGNING', secrets: [WHSEC] },
        [`${PREFIX}/org-1/sig-2`]: { type: 'signing', secrets: [WHSEC] },
      },
      PREFIX,
    );
    expect(await store.signingSecrets('org-1', null)).toEqual([WHSEC]);
    expect(await store.signingSecrets('org-2', null)).toBeNull();
    expect(await store.signingSecrets('org-1', 'sig-2')).toEqual([WHSEC]);
    await expect(store.signingSecrets('org-1', 'sig-3')).rejects.toThrow(
      `credential ${PREFIX}/org-1/sig-3: signing secret not found in the secrets file`,
    );
  });

  it("loads SIGNING and OAUTH2 entries from a secrets file and names a bad secret's field without quoting it", async () => {
    const good = join(dir, 'signing.json');
    await writeFile(
      good,
      JSON.stringify({
        [`${PREFIX}/org-1/signing`]: { type: 'SIGNING', secrets: [WHSEC] },
        [NAME]: {
          type: 'OAUTH2_CLIENT_CREDENTIALS',
          token_url: 'http://127.0.0.1:1/token',
          client_id: 'c',
          client_secret: CANARY,
        },
      }),
    );
    const loaded = await loadSecretsFile(good);
    expect(Object.keys(loaded)).toEqual([`${PREFIX}/org-1/signing`, NAME]);
    const bad = join(dir, 'bad-signing.json');
    await writeFile(
      bad,
      JSON.stringify({ [`${PREFIX}/org-1/signing`]: { type: 'SIGNING', secrets: [`whsec_${CANARY}`] } }),
    );
    const error = await loadSecretsFile(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toEqual([
      { source: bad, path: `${PREFIX}/org-1/signing.secrets.0`, reason: 'must be whsec_ followed by standard base64' },
    ]);
    expect(inspect(error, { depth: Infinity })).not.toContain(CANARY);
  });
});
