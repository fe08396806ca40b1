import { CredentialError } from '../errors.ts';
import type { OutboundRequest } from '../ports/http-sender.ts';
import type { Credential } from '../schemas/credential.ts';
import type { DeliveryMessage } from './delivery.ts';
import { signatureHeaders } from './signing.ts';
import { credentialHeaderProblem } from './headers.ts';

export const USER_AGENT = 'Dograh-Webhooks/0.1';

/** The auth header of a credential, or none. Header names and values are checked: a credential cannot inject headers. */
export function authHeader(credential: Credential, secret: string): [string, string] | undefined {
  let header: [string, string] | undefined;
  switch (credential.type) {
    case 'NONE':
      return undefined;
    case 'API_KEY':
      header = [credential.header_name, credential.api_key];
      break;
    case 'BEARER_TOKEN':
      header = ['Authorization', `Bearer ${credential.token}`];
      break;
    case 'BASIC_AUTH':
      header = [
        'Authorization',
        `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`,
      ];
      break;
    case 'CUSTOM_HEADER':
      header = [credential.header_name, credential.header_value];
      break;
    case 'OAUTH2_CLIENT_CREDENTIALS':
      // Its header is a bearer token fetched at send time: the caller passes that instead.
      throw new CredentialError(secret, 'an OAuth2 credential needs its access token: fetch it first');
  }
  // The schema checks this when the secret is read; checked again here, where the header is made.
  const nameProblem = credentialHeaderProblem(header[0]);
  if (nameProblem !== undefined) throw new CredentialError(secret, `header_name ${nameProblem}`);
  if (/[\r\n\0]/.test(header[1])) throw new CredentialError(secret, 'the header value contains a line break or NUL');
  return header;
}

/**
 * The request for one attempt of a delivery: its rendered method, URL, body and
 * custom headers, plus Content-Type, the credential's auth header and the
 * X-Dograh-* headers (CONTRACT section 5). Pure; `signRequest` adds the
 * Standard Webhooks headers to what this returns.
 */
export function buildRequest(
  message: DeliveryMessage,
  credential: Credential,
  attempt: number,
  timeoutMs: number,
  secret = message.credential_uuid ?? 'none',
): OutboundRequest {
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
  if (message.body !== null) headers['Content-Type'] = 'application/json';
  Object.assign(headers, message.headers);
  const auth = authHeader(credential, secret);
  if (auth !== undefined) {
    // The credential wins over a custom header of the same name, whatever its case.
    for (const name of Object.keys(headers)) if (name.toLowerCase() === auth[0].toLowerCase()) delete headers[name];
    headers[auth[0]] = auth[1];
  }
  headers['X-Dograh-Delivery-Id'] = message.delivery_id;
  headers['X-Dograh-Workflow-Run-Id'] = String(message.workflow_run_id);
  headers['X-Dograh-Delivery-Attempt'] = String(attempt);
  return { method: message.method, url: message.url, headers, body: message.body, timeoutMs };
}

/**
 * The request signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) over exactly its body; unchanged when there are no
 * secrets. Our headers replace custom headers of the same names, whatever their case.
 */
export function signRequest(
  request: OutboundRequest,
  id: string,
  timestampSeconds: number,
  secrets: readonly string[] | null,
): OutboundRequest {
  if (secrets === null || secrets.length === 0) return request;
  const signature = signatureHeaders(id, timestampSeconds, request.body, secrets);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (!Object.hasOwn(signature, name.toLowerCase())) headers[name] = value;
  return { ...request, headers: Object.assign(headers, signature) };
}
