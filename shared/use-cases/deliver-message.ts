import { buildRequest } from '../domain/build-request.ts';
import { DeliveryMessageSchema, type DeliveryMessage } from '../domain/delivery.ts';
import { classifyError, classifyStatus, nextAttempt, parseRetryAfter, type Outcome } from '../domain/retry-policy.ts';
import type { Clock } from '../ports/clock.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import type { MessageActions } from '../ports/delivery-queue.ts';
import type { AttemptRecord, DeliveryStore } from '../ports/delivery-store.ts';
import type { HttpResponse, HttpSender } from '../ports/http-sender.ts';
import type { Credential } from '../schemas/credential.ts';
import { problemsFrom } from '../schemas/issues.ts';
import type { Log, Metrics } from './observability.ts';

export interface DeliverDeps {
  readonly store: DeliveryStore;
  readonly credentials: CredentialStore;
  readonly sender: HttpSender;
  readonly actions: MessageActions;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  /** In [0, 1): spreads backoff delays. */
  readonly random: () => number;
  readonly requestTimeoutMs: number;
  /** Redacts and truncates a response body for the outcome log. */
  readonly snippet: (body: string) => string;
  /** How often to retry recording a success before giving up on the record (never on the send). */
  readonly recordRetries?: number;
  /** How long past the request timeout an attempt's claim is held before another worker may take over. Default 30 s. */
  readonly leaseMarginMs?: number;
}

/** One received queue message. */
export interface ReceivedMessage {
  readonly body: string;
  readonly receiptHandle: string;
  /** Set on messages this system dead-lettered: when a redrive brings one back, its delivery starts a new series of attempts. */
  readonly deadLetteredAt?: string;
}

/** `done`: delete the message. `retry`: leave it on the queue (a batch item failure); its visibility is already set. */
export type MessageResult = 'done' | 'retry';

const NONE: Credential = { type: 'NONE' };

/**
 * Delivers one message: claim the next attempt, fetch the credential, send,
 * classify, record, then retry later, finish, or dead-letter. Nothing here
 * throws for a delivery's own failure: a thrown error means "this message again".
 */
export async function deliverMessage(received: ReceivedMessage, deps: DeliverDeps): Promise<MessageResult> {
  const message = parseMessage(received, deps);
  if (message === undefined) return 'done';
  const log = deps.log.child({
    delivery_id: message.delivery_id,
    workflow_run_id: message.workflow_run_id,
    workflow_id: message.workflow_id,
    node_id: message.node_id,
    organization_id: message.organization_id,
  });
  const leaseMs = deps.requestTimeoutMs + (deps.leaseMarginMs ?? 30_000);
  let claim = await deps.store.claim(message, deps.clock.now(), leaseMs);

  if (claim.kind === 'final' && claim.status === 'failed') {
    // Two ways a failed delivery comes back to life: an operator redrove its dead
    // letter, or it never reached the wire (a bad node) and its fixed run was emitted
    // again. Neither can send anything twice.
    const record = await deps.store.get(message.delivery_id);
    const neverSent = record !== undefined && record.attempts === 0;
    const redriven = received.deadLetteredAt !== undefined && record?.final_at != null && record.final_at <= received.deadLetteredAt;
    if (neverSent || redriven) {
      log.info(neverSent ? 'a delivery that was never sent is renderable now: sending it' : 'redriven from the dead-letter queue: starting a new series of attempts');
      await deps.store.reopen(message.delivery_id, deps.clock.now());
      claim = await deps.store.claim(message, deps.clock.now(), leaseMs);
    }
  }
  switch (claim.kind) {
    case 'final':
      log.info('duplicate message for a final delivery: dropped', { outcome: claim.status });
      return 'done';
    case 'wait':
      await deps.actions.delay(received.receiptHandle, claim.seconds);
      log.debug('delivery busy or not yet due: message hidden', { seconds: claim.seconds });
      return 'retry';
    case 'exhausted': {
      const reason = `no attempts left: attempt ${claim.attempts}'s outcome was lost (the worker stopped before recording it)`;
      const attempt = lostAttempt(claim.attempts, deps.clock.now(), reason);
      await deps.store.recordAttempt(message, attempt, { status: 'failed' }, deps.clock.now());
      await finalFailure(received, message, reason, log, deps);
      return 'done';
    }
    case 'claimed':
      return attemptDelivery(received, message, claim.attempt, log, deps);
  }
}

async function attemptDelivery(
  received: ReceivedMessage,
  message: DeliveryMessage,
  attempt: number,
  log: Log,
  deps: DeliverDeps,
): Promise<MessageResult> {
  const startedAt = deps.clock.now();
  const { outcome, response } = await send(message, attempt, deps);
  const durationMs = response?.durationMs ?? Math.max(0, deps.clock.now() - startedAt);
  const decision = nextAttempt(outcome, attempt, message.retry, deps.random());
  const record: AttemptRecord = {
    attempt,
    at: new Date(startedAt).toISOString(),
    duration_ms: Math.round(durationMs),
    status_code: response?.status ?? null,
    error_class: outcome.kind === 'success' ? 'none' : outcome.errorClass,
    error_message: decision.action === 'fail' ? decision.reason : outcome.kind === 'success' ? null : outcome.message,
    response_snippet: response === undefined || response.bodySnippet === '' ? null : deps.snippet(response.bodySnippet),
  };
  const fields = {
    attempt,
    outcome: decision.action === 'retry' ? 'retrying' : decision.action === 'fail' ? 'failed' : 'delivered',
    status_code: record.status_code,
    error_class: record.error_class,
    duration_ms: record.duration_ms,
    endpoint_host: hostOfUrl(message.url),
  };
  deps.metrics.duration('AttemptDuration', durationMs);

  switch (decision.action) {
    case 'delivered':
      await recordSuccess(message, record, log, deps);
      log.info('delivered', fields);
      deps.metrics.count('Deliveries', 1, { Outcome: 'delivered' });
      deps.metrics.count('AttemptsPerDelivery', attempt);
      return 'done';
    case 'retry': {
      const atMs = deps.clock.now() + decision.delaySeconds * 1000;
      await deps.store.recordAttempt(message, record, { status: 'retrying', atMs }, deps.clock.now());
      await deps.actions.delay(received.receiptHandle, decision.delaySeconds);
      log.warn('attempt failed: will retry', { ...fields, error: record.error_message, retry_in_seconds: decision.delaySeconds });
      deps.metrics.count('Deliveries', 1, { Outcome: 'retrying' });
      return 'retry';
    }
    case 'fail':
      await deps.store.recordAttempt(message, record, { status: 'failed' }, deps.clock.now());
      log.warn('delivery failed', { ...fields, error: decision.reason });
      deps.metrics.count('AttemptsPerDelivery', attempt);
      await finalFailure(received, message, decision.reason, log, deps);
      return 'done';
  }
}

/** Fetches the credential and sends; a refused cached credential is fetched again once, so a rotation takes effect at once. */
async function send(message: DeliveryMessage, attempt: number, deps: DeliverDeps): Promise<{ outcome: Outcome; response?: HttpResponse }> {
  try {
    let credential = await credentialOf(message, deps);
    let response = await deps.sender.send(buildRequest(message, credential, attempt, deps.requestTimeoutMs));
    if ((response.status === 401 || response.status === 403) && message.credential_uuid !== null) {
      deps.credentials.invalidate(message.organization_id, message.credential_uuid);
      const fresh = await credentialOf(message, deps);
      if (JSON.stringify(fresh) !== JSON.stringify(credential)) {
        credential = fresh;
        response = await deps.sender.send(buildRequest(message, credential, attempt, deps.requestTimeoutMs));
      }
    }
    return { outcome: classifyStatus(response.status, parseRetryAfter(response.headers['retry-after'], deps.clock.now())), response };
  } catch (error) {
    return { outcome: classifyError(error) };
  }
}

async function credentialOf(message: DeliveryMessage, deps: DeliverDeps): Promise<Credential> {
  if (message.credential_uuid === null) return NONE;
  return deps.credentials.get(message.organization_id, message.credential_uuid);
}

/**
 * The endpoint took it: the delivery must not be sent again nor marked failed,
 * even when the record cannot be written. Retry the write; if it still fails,
 * say so loudly and let the message go.
 */
async function recordSuccess(message: DeliveryMessage, record: AttemptRecord, log: Log, deps: DeliverDeps): Promise<void> {
  const tries = (deps.recordRetries ?? 3) + 1;
  for (let i = 1; i <= tries; i++) {
    try {
      await deps.store.recordAttempt(message, record, { status: 'delivered' }, deps.clock.now());
      return;
    } catch (error) {
      if (i === tries) {
        log.error('delivered, but the outcome could not be recorded: not resending', { attempt: record.attempt, error });
        deps.metrics.count('UnrecordedSuccess', 1);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** i));
    }
  }
}

async function finalFailure(received: ReceivedMessage, message: DeliveryMessage, reason: string, log: Log, deps: DeliverDeps): Promise<void> {
  deps.metrics.count('Deliveries', 1, { Outcome: 'failed' });
  await deps.actions.deadLetter(received.body, reason, message.delivery_id);
  log.info('moved to the dead-letter queue', { outcome: 'failed' });
}

function parseMessage(received: ReceivedMessage, deps: DeliverDeps): DeliveryMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(received.body);
  } catch {
    value = undefined;
  }
  const parsed = DeliveryMessageSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  // Not ours to deliver, and not ours to drop: park it for an operator.
  const reason = value === undefined ? 'message body is not JSON' : `not a delivery message: ${problemsFrom(parsed.error).map((p) => `${p.path}: ${p.reason}`).join('; ')}`;
  deps.log.error('unreadable queue message: dead-lettered', { error: reason });
  void deps.actions.deadLetter(received.body, reason, 'unknown').catch(() => undefined);
  return undefined;
}

function lostAttempt(attempt: number, nowMs: number, reason: string): AttemptRecord {
  return { attempt, at: new Date(nowMs).toISOString(), duration_ms: 0, status_code: null, error_class: 'unknown', error_message: reason, response_snippet: null };
}

function hostOfUrl(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}
