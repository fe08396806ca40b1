import * as z from 'zod/mini';
import { MAX_SIGNING_SECRETS, signingSecretProblem } from '../domain/signing.ts';
import { credentialHeaderProblem } from '../domain/headers.ts';

// Dograh stores type names in lower case; both spellings are accepted and normalised to upper case.

/** A header a credential sends under: a valid name the transport and the delivery system leave alone (the custom-header rule). */
const HeaderNameSchema = z.string().check(
  z.minLength(1),
  z.superRefine((name, ctx) => {
    // An empty name already has its issue ("must not be empty").
    const problem = name === '' ? undefined : credentialHeaderProblem(name);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

/** A type name in either spelling, normalised to `name`. */
function typeName<const T extends string, const L extends string>(name: T, lower: L) {
  return z.pipe(
    z.literal([name, lower]),
    z.transform(() => name),
  );
}
const nonEmpty = () => z.string().check(z.minLength(1));

export const CredentialSchema = z.discriminatedUnion('type', [
  z.object({ type: typeName('NONE', 'none') }),
  z.object({
    type: typeName('API_KEY', 'api_key'),
    api_key: nonEmpty(),
    header_name: z._default(HeaderNameSchema, 'X-API-Key'),
  }),
  z.object({
    type: typeName('BEARER_TOKEN', 'bearer_token'),
    token: nonEmpty(),
  }),
  z.object({
    type: typeName('BASIC_AUTH', 'basic_auth'),
    username: z.string(),
    password: z.string(),
  }),
  z.object({
    type: typeName('CUSTOM_HEADER', 'custom_header'),
    header_name: HeaderNameSchema,
    header_value: z.string(),
  }),
  z.object({
    type: typeName('OAUTH2_CLIENT_CREDENTIALS', 'oauth2_client_credentials'),
    token_url: z.string().check(z.regex(/^https?:\/\//i, 'must start with http:// or https://')),
    client_id: nonEmpty(),
    client_secret: nonEmpty(),
    scope: z.optional(nonEmpty()),
    audience: z.optional(nonEmpty()),
    client_auth: z._default(z.enum(['basic', 'body']), 'basic'),
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
  type: typeName('SIGNING', 'signing'),
  secrets: z
    .array(
      z.string().check(
        z.superRefine((secret, ctx) => {
          const problem = signingSecretProblem(secret);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
      ),
    )
    .check(z.minLength(1), z.maxLength(MAX_SIGNING_SECRETS)),
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
