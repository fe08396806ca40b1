import { buildRequest } from '../domain/build-request.ts';
import type { DeliveryMessage } from '../domain/delivery.ts';
import { classifyError, classifyStatus, parseRetryAfter, type Outcome } from '../domain/retry-policy.ts';
import type { HttpResponse } from '../ports/http-sender.ts';
import type { Credential } from '../schemas/credential.ts';
import { credentialSecrets as secretValues } from '../domain/secret-scrub.ts';
import type { DeliverDeps } from './deliver-message.ts';

/** Kept here for the use case's callers; the scrub itself lives in the domain. */
export { scrubSecrets as scrub } from '../domain/secret-scrub.ts';

const NONE: Credential = { type: 'NONE' };

/** Fetches the credential and sends; a refused cached credential is fetched again once, so a rotation takes effect at once. */
export async function sendAttempt(
  message: DeliveryMessage,
  attempt: number,
  deps: DeliverDeps,
): Promise<{ outcome: Outcome; response?: HttpResponse; secrets: readonly string[] }> {
  const secrets: string[] = [];
  // One deadline for the whole attempt, so a resend after a rotation stays inside the lease.
  const deadline = deps.clock.now() + deps.requestTimeoutMs;
  try {
    let credential = await credentialOf(message, deps);
    secrets.push(...secretValues(credential));
    const remaining = () => Math.max(1, deadline - deps.clock.now());
    let response = await deps.sender.send(buildRequest(message, credential, attempt, remaining()));
    if ((response.status === 401 || response.status === 403) && message.credential_uuid !== null) {
      deps.credentials.invalidate(message.organization_id, message.credential_uuid);
      const fresh = await credentialOf(message, deps);
      if (JSON.stringify(fresh) !== JSON.stringify(credential)) {
        secrets.push(...secretValues(fresh));
        // A resend with next to no time left would only time out. The refusal was the old
        // credential's, not the endpoint's last word: leave the new one to a retry.
        if (remaining() < Math.min(1000, deps.requestTimeoutMs / 2)) {
          return {
            outcome: { kind: 'transient', errorClass: 'credential', status: response.status, message: `endpoint answered ${response.status} to a credential rotated since; the next attempt uses the new one` },
            response,
            secrets,
          };
        }
        credential = fresh;
        response = await deps.sender.send(buildRequest(message, credential, attempt, remaining()));
      }
    }
    return { outcome: classifyStatus(response.status, parseRetryAfter(response.headers['retry-after'], deps.clock.now())), response, secrets };
  } catch (error) {
    return { outcome: classifyError(error), secrets };
  }
}

async function credentialOf(message: DeliveryMessage, deps: DeliverDeps): Promise<Credential> {
  if (message.credential_uuid === null) return NONE;
  return deps.credentials.get(message.organization_id, message.credential_uuid);
}
