import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialError, CredentialUnavailableError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import { secretName } from '../schemas/credential.ts';
import type { Credential } from '../schemas/credential.ts';
import { credentialSecretName, parseCredential } from './file-credential-store.ts';

export interface SecretsManagerCredentialStoreOptions {
  readonly client: SecretsManagerClient;
  /** Secret names are `<prefix>/<organization_id>/<credential_uuid>`. */
  readonly prefix: string;
  /** How long a parsed credential is reused; 0 reads Secrets Manager on every get. */
  readonly ttlSeconds: number;
  readonly clock: Clock;
}

/**
 * Answers from Secrets Manager about a secret that will not change on retry.
 * Anything else (throttling, 5xx, network) is transient.
 */
const PERMANENT_ERRORS: Readonly<Record<string, string>> = {
  ResourceNotFoundException: 'not found',
  AccessDeniedException: 'access denied',
  DecryptionFailure: 'cannot be decrypted (KMS)',
  // A secret marked for deletion, or one without a current version.
  InvalidRequestException: 'cannot be read (deleted or without a current version)',
  InvalidParameterException: 'cannot be read (invalid name)',
};

interface CacheEntry {
  readonly value: Promise<Credential>;
  /** Epoch ms; infinite while the request is in flight, so concurrent gets share it. */
  expiresAtMs: number;
}

/** Expired entries are swept once the cache holds this many. */
const SWEEP_AT = 1000;

/**
 * The `CredentialStore` on AWS Secrets Manager. Parsed credentials are cached
 * in memory for `ttlSeconds`, so a rotated secret is read again once its entry
 * expires, or at once after `invalidate`. Failures are not cached: a secret
 * created after a delivery failed is found by the next attempt.
 *
 * Errors: a missing, unreadable or malformed secret rejects with
 * `CredentialError` (permanent); throttling, service and network errors with
 * `CredentialUnavailableError` (a `TransientDeliveryError`), so the delivery is retried. No error ever includes
 * the secret's value.
 */
export function createSecretsManagerCredentialStore(options: SecretsManagerCredentialStoreOptions): CredentialStore {
  const { client, prefix, ttlSeconds, clock } = options;
  const cache = new Map<string, CacheEntry>();

  async function fetch(name: string): Promise<Credential> {
    let secretString: string | undefined;
    try {
      ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: name })));
    } catch (error) {
      const errorName = error instanceof Error ? error.name : 'Error';
      const reason = PERMANENT_ERRORS[errorName];
      if (reason !== undefined) throw new CredentialError(name, reason, { cause: error });
      throw new CredentialUnavailableError(name, `Secrets Manager could not answer (${errorName})`, { cause: error });
    }
    if (secretString === undefined) {
      throw new CredentialError(name, 'has no SecretString (binary secrets are not supported)');
    }
    let value: unknown;
    try {
      value = JSON.parse(secretString);
    } catch {
      // No cause: JSON.parse's message quotes the text around the mistake.
      throw new CredentialError(name, 'SecretString is not valid JSON');
    }
    return parseCredential(name, value);
  }

  function sweep(nowMs: number): void {
    if (cache.size < SWEEP_AT) return;
    for (const [name, entry] of cache) if (entry.expiresAtMs <= nowMs) cache.delete(name);
  }

  return {
    get(organizationId, credentialUuid) {
      let name: string;
      try {
        name = credentialSecretName(prefix, organizationId, credentialUuid);
      } catch (error) {
        return Promise.reject(error);
      }
      const nowMs = clock.now();
      const cached = cache.get(name);
      if (cached !== undefined && cached.expiresAtMs > nowMs) return cached.value;
      sweep(nowMs);
      const entry: CacheEntry = { value: fetch(name), expiresAtMs: Number.POSITIVE_INFINITY };
      cache.set(name, entry);
      entry.value.then(
        () => {
          // An invalidate (or a newer fetch) while in flight wins over this answer.
          if (cache.get(name) !== entry) return;
          if (ttlSeconds > 0) entry.expiresAtMs = clock.now() + ttlSeconds * 1000;
          else cache.delete(name);
        },
        () => {
          if (cache.get(name) === entry) cache.delete(name);
        },
      );
      return entry.value;
    },
    invalidate(organizationId, credentialUuid) {
      cache.delete(secretName(prefix, organizationId, credentialUuid));
    },
  };
}
