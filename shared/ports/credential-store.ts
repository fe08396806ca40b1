import type { Credential } from '../schemas/credential.ts';

/**
 * Where credentials live. Scoped by organization: a node can only name its own
 * organization's credentials. Rejects with `CredentialError` when the credential
 * is missing or malformed.
 */
export interface CredentialStore {
  get(organizationId: string, credentialUuid: string): Promise<Credential>;
  /** Forgets a cached value, e.g. after the endpoint refused it (rotation). */
  invalidate(organizationId: string, credentialUuid: string): void;
}
