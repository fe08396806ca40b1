import { z } from 'zod';
import { credentialHeaderProblem } from '../domain/headers.ts';
import './issues.ts';

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
]);
/** A credential as stored in Secrets Manager. The union grows (OAuth2 client credentials next). */
export type Credential = z.infer<typeof CredentialSchema>;
export type CredentialType = Credential['type'];

export const DEFAULT_SECRETS_PREFIX = 'webhooks/credentials';

/** `<prefix>/<organization_id>/<credential_uuid>`: the organization is part of the name, so a node can only reach its own. */
export function secretName(prefix: string, organizationId: string, credentialUuid: string): string {
  return `${prefix}/${organizationId}/${credentialUuid}`;
}
