import * as z from 'zod';
import { MAX_SIGNING_SECRETS, signingSecretProblem } from '../domain/signing.ts';
import { credentialHeaderProblem } from '../domain/headers.ts';

// Dograh stores type names in lower case; both spellings are accepted and normalised to upper case.

/** A header a credential sends under: a valid name the transport and the delivery system leave alone (the custom-header rule). */
const HeaderNameSchema = z
  .string()
  .min(1)
  .superRefine((name, ctx) => {
    // An empty name already has its issue ("must not be empty").
    const problem = name === '' ? undefined : credentialHeaderProblem(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

export const CredentialSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal(['NONE', 'none']).transform(() => 'NONE' as const) }),
  z.object({
    type: z.literal(['API_KEY', 'api_key']).transform(() => 'API_KEY' as const),
    api_key: z.string().min(1),
    header_name: HeaderNameSchema.default('X-API-Key'),
  }),
  z.object({
    type: z.literal(['BEARER_TOKEN', 'bearer_token']).transform(() => 'BEARER_TOKEN' as const),
    token: z.string().min(1),
  }),
  z.object({
    type: z.literal(['BASIC_AUTH', 'basic_auth']).transform(() => 'BASIC_AUTH' as const),
    username: z.string(),
    password: z.string(),
  }),
  z.object({
    type: z.literal(['CUSTOM_HEADER', 'custom_header']).transform(() => 'CUSTOM_HEADER' as const),
    header_name: HeaderNameSchema,
    header_value: z.string(),
  }),
  z.object({
    type: z
      .literal(['OAUTH2_CLIENT_CREDENTIALS', 'oauth2_client_credentials'])
      .transform(() => 'OAUTH2_CLIENT_CREDENTIALS' as const),
    token_url: z.string().regex(/^https?:\/\//i, 'must start with http:// or https://'),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    scope: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
    client_auth: z.enum(['basic', 'body']).default('basic'),
  }),
]);
/** A credential as stored in Secrets Manager. */
export type Credential = z.infer<typeof CredentialSchema>;
export type CredentialType = Credential['type'];

export const DEFAULT_SECRETS_PREFIX = 'webhooks/credentials';

/** `<prefix>/<organization_id>/<credential_uuid>`: the organization is part of the name, so a node can only reach its own. */
export function secretName(prefix: string, organizationId: string, credentialUuid: string): string {
  return `${prefix}/${organizationId}/${credentialUuid}`;
}

/** The name of an organization's own signing secret: `<prefix>/<organization_id>/signing`. */
export const ORG_SIGNING_SECRET = 'signing';

/**
 * A Standard Webhooks signing secret as stored in Secrets Manager: one or more
 * `whsec_` secrets (several during a rotation; each one signs every request).
 */
export const SigningSecretSchema = z.object({
  type: z.literal(['SIGNING', 'signing']).transform(() => 'SIGNING' as const),
  secrets: z
    .array(
      z.string().superRefine((secret, ctx) => {
        const problem = signingSecretProblem(secret);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .min(1)
    .max(MAX_SIGNING_SECRETS),
});
export type SigningSecret = z.infer<typeof SigningSecretSchema>;

/** Whether a stored secret says it is a signing secret (so it is parsed as one, not as a credential). */
export function isSigningSecret(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    ((value as { type?: unknown }).type === 'SIGNING' || (value as { type?: unknown }).type === 'signing')
  );
}
