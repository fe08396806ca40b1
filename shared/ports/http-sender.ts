import type { HttpMethod } from '../schemas/node.ts';

/** A fully built request, ready to go on the wire. Secrets may be in `headers`: never log it whole. */
export interface OutboundRequest {
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text, or null for GET/DELETE. */
  readonly body: string | null;
  readonly timeoutMs: number;
}

/** What the endpoint answered. Any status is a response, not an error: classification is the caller's. */
export interface HttpResponse {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The start of the body, at most the sender's cap, decoded as UTF-8. */
  readonly bodySnippet: string;
  readonly durationMs: number;
}

/**
 * Sends one request. Resolves with any HTTP response; rejects with
 * `BlockedRequestError` (never sent: scheme, address or header not allowed) or
 * `NetworkError` (timeout, refused, reset, DNS) from `shared/errors.ts`.
 * Never follows redirects.
 */
export interface HttpSender {
  send(request: OutboundRequest): Promise<HttpResponse>;
  /**
   * Closes pooled connections, so a process that is done can exit on its own
   * (the local stack, tests). Optional: a sender that pools nothing needs none.
   */
  close?(): void;
}
