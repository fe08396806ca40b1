import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialError, CredentialUnavailableError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import { ORG_SIGNING_SECRET, secretName } from '../schemas/credential.ts';
import type { Credential } from '../schemas/credential.ts';
import { credentialSecretName, parseCredential, parseSigningSecret } from './file-credential-store.ts';

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

interface CacheEntry<T = Credential> {
  readonly value: Promise<T>;
  /** Epoch ms; infinite while the request is in flight, so concurrent gets share it. */
  expiresAtMs: number;
}

/** Expired entries are swept once the cache holds this many. */
const SWEEP_AT = 1000;

/**
 * The `CredentialStore` on AWS Secrets Manager. Parsed credentials are cached
 * in memory for `ttlSeconds`, so a rotated secret is read again once its entry
 * expires, or at once after `invalidate`. Failures are not cached: a secret
 * created after a delivery failed is found by the next attempt. The one
 * exception: an organization without a signing secret is remembered as such
 * for `ttlSeconds`, so unsigned organizations pay no Secrets Manager call per
 * delivery (a signing secret created later takes effect within the TTL).
 *
 * Errors: a missing, unreadable or malformed secret rejects with
 * `CredentialError` (permanent); throttling, service and network errors with
 * `CredentialUnavailableError` (a `TransientDeliveryError`), so the delivery is retried. No error ever includes
 * the secret's value.
 */
export function createSecretsManagerCredentialStore(options: SecretsManagerCredentialStoreOptions): CredentialStore {
  const { client, prefix, ttlSeconds, clock } = options;
  const cache = new Map<string, CacheEntry>();

  // Signing secrets have their own cache; an organization without one is cached as null,
  // so its unsigned deliveries do not each pay a Secrets Manager call.
  const signingCache = new Map<string, CacheEntry<readonly string[] | null>>();

  async function fetch(name: string): Promise<Credential> {
    return parseCredential(name, await fetchJson(name));
  }

  async function fetchSigning(name: string, optional: boolean): Promise<readonly string[] | null> {
    let value: unknown;
    try {
      value = await fetchJson(name);
    } catch (error) {
      if (
        optional &&
        error instanceof CredentialError &&
        (error.cause as Error | undefined)?.name === 'ResourceNotFoundException'
      )
        return null;
      throw error;
    }
    return parseSigningSecret(name, value).secrets;
  }

  async function fetchJson(name: string): Promise<unknown> {
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
    return value;
  }

  function sweep<T>(map: Map<string, CacheEntry<T>>, nowMs: number): void {
    if (map.size < SWEEP_AT) return;
    for (const [name, entry] of map) if (entry.expiresAtMs <= nowMs) map.delete(name);
  }

  /** The cached value of `name`, or a fresh load shared by concurrent callers and kept for the TTL. */
  function cached<T>(map: Map<string, CacheEntry<T>>, name: string, load: () => Promise<T>): Promise<T> {
    const nowMs = clock.now();
    const hit = map.get(name);
    if (hit !== undefined && hit.expiresAtMs > nowMs) return hit.value;
    sweep(map, nowMs);
    const entry: CacheEntry<T> = { value: load(), expiresAtMs: Number.POSITIVE_INFINITY };
    map.set(name, entry);
    entry.value.then(
      () => {
        // An invalidate (or a newer fetch) while in flight wins over this answer.
        if (map.get(name) !== entry) return;
        if (ttlSeconds > 0) entry.expiresAtMs = clock.now() + ttlSeconds * 1000;
        else map.delete(name);
      },
      () => {
        if (map.get(name) === entry) map.delete(name);
      },
    );
    return entry.value;
  }

  return {
    get(organizationId, credentialUuid) {
      let name: string;
      try {
        name = credentialSecretName(prefix, organizationId, credentialUuid);
      } catch (error) {
        return Promise.reject(error);
      }
      return cached(cache, name, () => fetch(name));
    },
    invalidate(organizationId, credentialUuid) {
      cache.delete(secretName(prefix, organizationId, credentialUuid));
    },
    signingSecrets(organizationId, signingCredentialUuid) {
      let name: string;
      try {
        name = credentialSecretName(prefix, organizationId, signingCredentialUuid ?? ORG_SIGNING_SECRET);
      } catch (error) {
        return Promise.reject(error);
      }
      return cached(signingCache, name, () => fetchSigning(name, signingCredentialUuid === null));
    },
  };
}
