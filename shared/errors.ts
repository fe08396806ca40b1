/**
 * One small error hierarchy. Branch with `instanceof`, never on message text.
 * Every error carries data a caller can act on; `cause` keeps the original.
 */
export class WebhookError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A problem found while validating input: `path` is the field, `reason` what is wrong with it. */
export interface Problem {
  /** Where the problem is, e.g. `webhook-1` or the file name. */
  readonly source?: string;
  /** Dotted path of the field, e.g. `data.retry_config.max_attempts`. */
  readonly path: string;
  readonly reason: string;
}

/** Input that does not fit its schema; lists every problem at once. */
export class ValidationError extends WebhookError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('; '), options);
    this.problems = problems;
  }
}

export function formatProblem(p: Problem): string {
  const where = [p.source, p.path].filter((s) => s !== undefined && s !== '').join(': ');
  return where === '' ? p.reason : `${where}: ${p.reason}`;
}

/** A template that cannot be rendered: `path` is where in the template, `reason` why. */
export class InvalidTemplateError extends WebhookError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(path === '' ? reason : `${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/** A credential that is missing, unreadable or not of a known shape. The request is never sent without it. */
export class CredentialError extends WebhookError {
  readonly secretName: string;
  constructor(secretName: string, reason: string, options?: { cause?: unknown }) {
    super(`credential ${secretName}: ${reason}`, options);
    this.secretName = secretName;
  }
}

/** A request that must not be sent: blocked address, bad scheme, bad header. Permanent. */
export class BlockedRequestError extends WebhookError {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.reason = reason;
  }
}

/** A failure that may succeed later: 408/425/429/5xx, timeouts, connection errors. */
export class TransientDeliveryError extends WebhookError {
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, data: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, { cause: data.cause });
    this.status = data.status;
    this.retryAfterSeconds = data.retryAfterSeconds;
  }
}

/** A credential store that could not answer now (throttled, unavailable): the delivery is retried, never sent without it. */
export class CredentialUnavailableError extends TransientDeliveryError {
  readonly secretName: string;
  constructor(secretName: string, reason: string, options?: { cause?: unknown }) {
    super(`credential ${secretName}: ${reason}`, { cause: options?.cause });
    this.secretName = secretName;
  }
}

/** The request could not complete on the network. Transient: worth a retry. */
export class NetworkError extends WebhookError {
  readonly kind: 'timeout' | 'connection' | 'dns' | 'protocol';
  constructor(kind: NetworkError['kind'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** A write to the outcome log refused because the delivery is not in the state the caller expected. */
export class DeliveryStateError extends WebhookError {
  readonly deliveryId: string;
  readonly reason: string;
  constructor(deliveryId: string, reason: string, options?: { cause?: unknown }) {
    super(`delivery ${deliveryId}: ${reason}`, options);
    this.deliveryId = deliveryId;
    this.reason = reason;
  }
}
