import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { CredentialError, ValidationError } from '../errors.ts';
import type { Problem } from '../errors.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import {
  CredentialSchema,
  isSigningSecret,
  ORG_SIGNING_SECRET,
  secretName,
  SigningSecretSchema,
} from '../schemas/credential.ts';
import type { Credential, SigningSecret } from '../schemas/credential.ts';
import { SAFE_ID } from '../schemas/fields.ts';
import { safeParse } from '../schemas/issues.ts';
import { setOwn } from '../domain/own-key.ts';

/**
 * The credential store of `webhooks local`: the secrets of a `--secrets S.json`
 * file, a map of secret names (`<prefix>/<organization_id>/<credential_uuid>`)
 * to credential objects. Names, parsing and errors are those of the Secrets
 * Manager store, so a node that works locally works in AWS.
 */
export function createFileCredentialStore(secrets: Readonly<Record<string, unknown>>, prefix: string): CredentialStore {
  return {
    async get(organizationId, credentialUuid) {
      const name = credentialSecretName(prefix, organizationId, credentialUuid);
      // Own keys only: a name like `constructor` must not reach Object.prototype.
      if (!Object.hasOwn(secrets, name)) throw new CredentialError(name, 'not found in the secrets file');
      return parseCredential(name, secrets[name]);
    },
    invalidate() {
      // Nothing is cached: every get reads the map.
    },
    async signingSecrets(organizationId, signingCredentialUuid) {
      const name = credentialSecretName(prefix, organizationId, signingCredentialUuid ?? ORG_SIGNING_SECRET);
      if (!Object.hasOwn(secrets, name)) {
        if (signingCredentialUuid === null) return null;
        throw new CredentialError(name, 'signing secret not found in the secrets file');
      }
      return parseSigningSecret(name, secrets[name]).secrets;
    },
  };
}

/**
 * Reads and validates a secrets file. Every problem is reported at once, each
 * naming the file, the secret and the field; no reason ever quotes a value.
 */
export async function loadSecretsFile(path: string): Promise<Record<string, Credential | SigningSecret>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : `cannot read the file${code === undefined ? '' : ` (${code})`}`;
    throw new ValidationError([{ source: path, path: '(root)', reason }], { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    // JSON.parse quotes the text around the mistake, which may be a secret: keep only the position.
    throw new ValidationError([{ source: path, path: '(root)', reason: `not valid JSON${jsonPosition(error)}` }]);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ValidationError([
      { source: path, path: '(root)', reason: 'must be an object mapping secret names to credentials' },
    ]);
  }
  const problems: Problem[] = [];
  const secrets: Record<string, Credential | SigningSecret> = {};
  for (const [name, value] of Object.entries(data)) {
    const parsed = isSigningSecret(value) ? safeParse(SigningSecretSchema, value) : safeParse(CredentialSchema, value);
    if (parsed.success) {
      // A secret named `__proto__` stays a plain key.
      setOwn(secrets, name, parsed.data);
    } else {
      for (const issue of parsed.error.issues) {
        problems.push({ source: path, path: [name, ...issue.path.map(String)].join('.'), reason: issueReason(issue) });
      }
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return secrets;
}

/**
 * The secret name of a credential, refusing ids that could step outside their
 * organization's part of the namespace (`/`, `..`). The event and node schemas
 * check this too; a store is the last line.
 */
export function credentialSecretName(prefix: string, organizationId: string, credentialUuid: string): string {
  const name = secretName(prefix, organizationId, credentialUuid);
  if (!SAFE_ID.test(organizationId)) {
    throw new CredentialError(name, 'organization_id may hold only letters, digits, "-" and "_"');
  }
  if (!SAFE_ID.test(credentialUuid)) {
    throw new CredentialError(name, 'credential_uuid may hold only letters, digits, "-" and "_"');
  }
  return name;
}

/**
 * Parses a secret's value as a credential. On failure the `CredentialError`
 * names the fields that are wrong and never carries the value, not even as a
 * cause: zod and JSON errors can quote their input.
 */
export function parseCredential(name: string, value: unknown): Credential {
  if (isSigningSecret(value))
    throw new CredentialError(name, 'is a signing secret (type SIGNING), not an endpoint credential');
  const parsed = safeParse(CredentialSchema, value);
  if (parsed.success) return parsed.data;
  throw new CredentialError(name, `not a valid credential: ${reasonsOf(parsed.error.issues)}`);
}

/** Parses a secret's value as a signing secret; the error names fields, never values. */
export function parseSigningSecret(name: string, value: unknown): SigningSecret {
  if (!isSigningSecret(value)) throw new CredentialError(name, 'is not a signing secret (its type must be SIGNING)');
  const parsed = safeParse(SigningSecretSchema, value);
  if (parsed.success) return parsed.data;
  throw new CredentialError(name, `not a valid signing secret: ${reasonsOf(parsed.error.issues)}`);
}

function reasonsOf(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issueReason(issue) : `${path}: ${issueReason(issue)}`;
    })
    .join('; ');
}

const CREDENTIAL_TYPES = 'NONE, API_KEY, BEARER_TOKEN, BASIC_AUTH, CUSTOM_HEADER, OAUTH2_CLIENT_CREDENTIALS or SIGNING';

/** A reason built from the issue's kind and the schema's expectations only, never from the input. */
function issueReason(issue: z.core.$ZodIssue): string {
  if (issue.path.length === 0 && issue.code === 'invalid_type') return 'must be a JSON object';
  if (issue.path.length === 1 && issue.path[0] === 'type') return `must be one of ${CREDENTIAL_TYPES}`;
  switch (issue.code) {
    case 'invalid_type':
      return `missing or not a ${issue.expected}`;
    case 'too_small':
      return 'must not be empty';
    case 'too_big':
      return 'too many entries';
    case 'custom':
      // Our own refinements' messages (signing secrets, the header-name rule): written from the rule, never from the value.
      return issue.message;
    default:
      return 'invalid';
  }
}

function jsonPosition(error: unknown): string {
  const match = error instanceof Error ? /line (\d+) column (\d+)/.exec(error.message) : null;
  return match === null ? '' : ` (line ${match[1]}, column ${match[2]})`;
}
