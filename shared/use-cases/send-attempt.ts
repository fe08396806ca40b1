import { createOAuth2TokenProvider, type TokenProvider } from '../adapters/oauth2-token-provider.ts';
import { buildRequest, signRequest } from '../domain/build-request.ts';
import type { DeliveryMessage } from '../domain/delivery.ts';
import {
  classifyError,
  classifyStatus,
  isSuccessStatus,
  parseRetryAfter,
  type AttemptVerdict,
} from '../domain/retry-policy.ts';
import { SIGNING_SECRET_PREFIX } from '../domain/signing.ts';
import { TransientDeliveryError } from '../errors.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import type { HttpResponse, HttpSender } from '../ports/http-sender.ts';
import type { Credential } from '../schemas/credential.ts';
import { credentialSecrets as secretValues } from '../domain/secret-scrub.ts';
import type { DeliverDeps } from './deliver-message.ts';

/** Kept here for the use case's callers; the scrub itself lives in the domain. */
export { scrubSecrets as scrub } from '../domain/secret-scrub.ts';

const NONE: Credential = { type: 'NONE' };

/**
 * Fetches the credential (and, for OAuth2, its access token) and the signing
 * secrets, then sends, signed when there are any. A refused cached credential
 * is fetched again once, so a rotation takes effect at once; after a 401 an
 * OAuth2 token is fetched again once, within the same deadline.
 */
export async function sendAttempt(
  message: DeliveryMessage,
  attempt: number,
  deps: DeliverDeps,
): Promise<{
  verdict: AttemptVerdict;
  response?: HttpResponse;
  secrets: readonly string[];
  resentAfterStatus?: number;
}> {
  const secrets: string[] = [];
  // One deadline for the whole attempt, so a resend after a rotation stays inside the lease.
  const deadline = deps.clock.now() + deps.requestTimeoutMs;
  const remaining = () => Math.max(1, deadline - deps.clock.now());
  const tokenName = `${message.organization_id}/${message.credential_uuid ?? ''}`;
  // The status that refused the cached credential, once the attempt was sent again.
  let resentAfterStatus: number | undefined;
  const resent = () => (resentAfterStatus === undefined ? {} : { resentAfterStatus });
  try {
    // First: a node whose named signing secret is missing fails before anything is sent, token requests included.
    const signing = await deps.credentials.signingSecrets(
      message.organization_id,
      message.signing_credential_uuid ?? null,
    );
    if (signing !== null) secrets.push(...signingSecretValues(signing));
    const send = async (credential: Credential): Promise<HttpResponse> => {
      let auth = credential;
      if (credential.type === 'OAUTH2_CLIENT_CREDENTIALS') {
        const token = await tokensOf(deps).token(tokenName, credential, deadline);
        secrets.push(token);
        auth = { type: 'BEARER_TOKEN', token };
      }
      const request = buildRequest(message, auth, attempt, remaining());
      return deps.sender.send(signRequest(request, message.delivery_id, Math.floor(deps.clock.now() / 1000), signing));
    };
    let credential = await credentialOf(message, deps);
    secrets.push(...secretValues(credential));
    let response = await send(credential);
    if ((response.status === 401 || response.status === 403) && message.credential_uuid !== null) {
      deps.credentials.invalidate(message.organization_id, message.credential_uuid);
      const fresh = await credentialOf(message, deps);
      const rotated = JSON.stringify(fresh) !== JSON.stringify(credential);
      // A 401 to an OAuth2 token: it may have been revoked or expired early, so one new token.
      const newToken = response.status === 401 && fresh.type === 'OAUTH2_CLIENT_CREDENTIALS';
      if (rotated || newToken) {
        secrets.push(...secretValues(fresh));
        if (newToken) tokensOf(deps).invalidate(tokenName);
        // A resend with next to no time left would only time out. The refusal was the old
        // credential's, not the endpoint's last word: leave the new one to a retry.
        if (remaining() < Math.min(1000, deps.requestTimeoutMs / 2)) {
          const what = rotated
            ? 'a credential rotated since; the next attempt uses the new one'
            : 'its OAuth2 token; the next attempt fetches a new one';
          return {
            verdict: {
              kind: 'transient',
              errorClass: 'credential',
              status: response.status,
              message: `endpoint answered ${response.status} to ${what}`,
            },
            response,
            secrets,
          };
        }
        credential = fresh;
        resentAfterStatus = response.status;
        response = await send(credential);
      }
    }
    return {
      // A success's headers are never read (the sender flattens them only when they are).
      verdict: classifyStatus(
        response.status,
        isSuccessStatus(response.status)
          ? undefined
          : parseRetryAfter(response.headers['retry-after'], deps.clock.now()),
      ),
      response,
      secrets,
      ...resent(),
    };
  } catch (error) {
    return { verdict: verdictOfError(error), secrets, ...resent() };
  }
}

/** Like `classifyError`, and a token endpoint's 408/425/429/5xx counts as the HTTP failure it is. */
function verdictOfError(error: unknown): AttemptVerdict {
  if (error instanceof TransientDeliveryError && error.status !== undefined) {
    return {
      kind: 'transient',
      errorClass: 'http_transient',
      status: null,
      message: error.message,
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    };
  }
  return classifyError(error);
}

// Tokens derive from a store's credentials and travel through a sender: one cache for each
// such pair, so a warm Lambda (one wiring) reuses its tokens and tests never share them.
const providers = new WeakMap<CredentialStore, WeakMap<HttpSender, TokenProvider>>();

function tokensOf(deps: DeliverDeps): TokenProvider {
  let bySender = providers.get(deps.credentials);
  if (bySender === undefined) {
    bySender = new WeakMap();
    providers.set(deps.credentials, bySender);
  }
  let provider = bySender.get(deps.sender);
  if (provider === undefined) {
    provider = createOAuth2TokenProvider({ sender: deps.sender, clock: deps.clock });
    bySender.set(deps.sender, provider);
  }
  return provider;
}

/** Signing secrets as they could leak: whole, and their base64 part. */
function signingSecretValues(signing: readonly string[]): string[] {
  return signing.flatMap((secret) => [secret, secret.slice(SIGNING_SECRET_PREFIX.length)]);
}

async function credentialOf(message: DeliveryMessage, deps: DeliverDeps): Promise<Credential> {
  if (message.credential_uuid === null) return NONE;
  return deps.credentials.get(message.organization_id, message.credential_uuid);
}
