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
  /**
   * The `whsec_` signing secrets of a node (`signingCredentialUuid`) or, given
   * null, of its organization (`<prefix>/<organization_id>/signing`). An
   * organization without a signing secret resolves null (its requests go
   * unsigned); a named signing secret that is missing or malformed rejects with
   * `CredentialError`, so the request is never sent unsigned by mistake.
   */
  signingSecrets(organizationId: string, signingCredentialUuid: string | null): Promise<readonly string[] | null>;
}
