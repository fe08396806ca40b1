import { createHash } from 'node:crypto';
import { USER_AGENT } from '../domain/build-request.ts';
import { classifyStatus, parseRetryAfter } from '../domain/retry-policy.ts';
import { BlockedRequestError, CredentialError, NetworkError, TransientDeliveryError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { HttpSender } from '../ports/http-sender.ts';
import type { Credential } from '../schemas/credential.ts';

export type OAuth2Credential = Extract<Credential, { type: 'OAUTH2_CLIENT_CREDENTIALS' }>;

/**
 * Access tokens of OAuth2 client-credentials credentials (RFC 6749 section 4.4),
 * fetched through the same guarded sender as the endpoints and cached per
 * credential until shortly before they expire.
 *
 * Errors, classified like any request's: a token endpoint that answers 408, 425,
 * 429 or 5xx rejects with `TransientDeliveryError` (status set); a timeout or a
 * connection error with `NetworkError`; a blocked token URL with
 * `BlockedRequestError`; any other answer (400/401 `invalid_client`, a 200
 * without a token) with `CredentialError`, which fails the delivery. No error
 * carries the client secret or a token.
 */
export interface TokenProvider {
  /** A valid access token; `name` is the credential's secret name, `deadlineMs` the attempt's (epoch ms). */
  token(name: string, credential: OAuth2Credential, deadlineMs: number): Promise<string>;
  /** Forgets the cached token of a credential, e.g. after the endpoint answered 401. */
  invalidate(name: string): void;
}

export interface OAuth2TokenProviderOptions {
  readonly sender: HttpSender;
  readonly clock: Clock;
  /** Lifetime assumed when the token endpoint gives no `expires_in`. Default 300 s. */
  readonly defaultLifetimeSeconds?: number;
  /** A token is fetched again this long before it expires (at most half its lifetime). Default 60 s. */
  readonly refreshMarginSeconds?: number;
}

interface Entry {
  /** A hash of the credential: a rotated client secret gets a new token. */
  readonly fingerprint: string;
  readonly value: Promise<{ token: string; expiresAtMs: number }>;
}

/** Longest token kept; a 64 KiB response cap bounds it anyway. */
const MAX_TOKEN_CHARS = 16_384;
/** Entries are swept once the cache holds this many. */
const SWEEP_AT = 1000;
// RFC 6749 section 5.2: error codes are printable ASCII without `"` and `\`.
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

export function createOAuth2TokenProvider(options: OAuth2TokenProviderOptions): TokenProvider {
  const { sender, clock } = options;
  const defaultLifetimeMs = (options.defaultLifetimeSeconds ?? 300) * 1000;
  const marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
  const cache = new Map<string, Entry>();

  async function fetchToken(
    name: string,
    credential: OAuth2Credential,
    deadlineMs: number,
  ): Promise<{ token: string; expiresAtMs: number }> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (credential.scope !== undefined) form.set('scope', credential.scope);
    if (credential.audience !== undefined) form.set('audience', credential.audience);
    const headers: Record<string, string> = {
      'User-Agent': USER_AGENT,
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    };
    if (credential.client_auth === 'basic') {
      headers['Authorization'] = `Basic ${basicCredentials(credential.client_id, credential.client_secret)}`;
    } else {
      form.set('client_id', credential.client_id);
      form.set('client_secret', credential.client_secret);
    }
    const requestedAt = clock.now();
    let response: Awaited<ReturnType<HttpSender['send']>>;
    try {
      response = await sender.send({
        method: 'POST',
        url: credential.token_url,
        headers,
        body: form.toString(),
        timeoutMs: Math.max(1, deadlineMs - requestedAt),
      });
    } catch (error) {
      if (error instanceof NetworkError)
        throw new NetworkError(error.kind, `token endpoint of credential ${name}: ${error.message}`, { cause: error });
      if (error instanceof BlockedRequestError)
        throw new BlockedRequestError(`token URL of credential ${name}: ${error.reason}`, { cause: error });
      throw error;
    }
    const verdict = classifyStatus(response.status);
    if (verdict.kind === 'transient') {
      const retryAfterSeconds = parseRetryAfter(response.headers['retry-after'], clock.now());
      throw new TransientDeliveryError(`credential ${name}: token endpoint answered ${response.status}`, {
        status: response.status,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      });
    }
    const body = parseJson(response.bodySnippet);
    if (verdict.kind === 'permanent') {
      const code =
        isRecord(body) && typeof body['error'] === 'string' && ERROR_CODE.test(body['error'])
          ? ` (${body['error']})`
          : '';
      throw new CredentialError(
        name,
        `token endpoint answered ${response.status}${code}: check token_url, client_id and client_secret`,
      );
    }
    const token = isRecord(body) ? body['access_token'] : undefined;
    if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_CHARS || /[\r\n\0]/.test(token)) {
      throw new CredentialError(name, `token endpoint answered ${response.status} without a usable access_token`);
    }
    const lifetimeMs = lifetimeOf(isRecord(body) ? body['expires_in'] : undefined) ?? defaultLifetimeMs;
    // Counted from the request, not the answer: the token's clock started before we heard of it.
    return { token, expiresAtMs: requestedAt + lifetimeMs - Math.min(marginMs, lifetimeMs / 2) };
  }

  function sweep(nowMs: number): void {
    if (cache.size < SWEEP_AT) return;
    for (const [name, entry] of cache) {
      entry.value.then(
        (t) => {
          if (t.expiresAtMs <= nowMs && cache.get(name) === entry) cache.delete(name);
        },
        () => undefined,
      );
    }
  }

  return {
    async token(name, credential, deadlineMs) {
      const fingerprint = createHash('sha256').update(JSON.stringify(credential)).digest('base64');
      const cached = cache.get(name);
      if (cached !== undefined && cached.fingerprint === fingerprint) {
        // Shared while in flight: a batch of deliveries for one credential fetches one token.
        const t = await cached.value.catch(() => undefined);
        if (t !== undefined && t.expiresAtMs > clock.now()) return t.token;
      }
      sweep(clock.now());
      const entry: Entry = { fingerprint, value: fetchToken(name, credential, deadlineMs) };
      cache.set(name, entry);
      // Failures are not cached: the next attempt asks the token endpoint again.
      entry.value.catch(() => {
        if (cache.get(name) === entry) cache.delete(name);
      });
      return (await entry.value).token;
    },
    invalidate(name) {
      cache.delete(name);
    },
  };
}

/** RFC 6749 section 2.3.1: id and secret are form-encoded, then joined by ":" and base64-encoded. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  return Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64');
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** `expires_in` in seconds, as a number or a numeric string (some servers send one); undefined when absent or unusable. */
function lifetimeOf(value: unknown): number | undefined {
  const seconds =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[0-9]{1,9}$/.test(value)
        ? Number(value)
        : undefined;
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return undefined;
  return Math.min(seconds, 86_400) * 1000;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
