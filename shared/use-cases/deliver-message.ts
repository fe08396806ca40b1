import { requestTimeoutOf, safeParseDeliveryMessage, type DeliveryMessage } from '../domain/delivery.ts';
import type { Gate } from '../domain/endpoint-health.ts';
import type { Lane } from '../domain/lanes.ts';
import { endpointHost } from '../domain/endpoint.ts';
import { isFinalStatus, type MessageFate } from '../domain/outcome.ts';
import { nextAttempt } from '../domain/retry-policy.ts';
import { DeliveryStateError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import { MAX_VISIBILITY_SECONDS, type MessageActions } from '../ports/delivery-queue.ts';
import type { AttemptRecord, DeliveryStore } from '../ports/delivery-store.ts';
import type { HttpSender } from '../ports/http-sender.ts';
import type { MessageSettler } from '../ports/message-settler.ts';
import { problemsFrom } from '../schemas/issues.ts';
import { countDeliveries, DIMENSION, METRIC } from '../observability/metrics.ts';
import type { SlowLane } from '../ports/slow-lane.ts';
import type { EndpointHealthGuard } from './endpoint-health.ts';
import type { Log, Metrics } from './observability.ts';
import { scrub, sendAttempt } from './send-attempt.ts';

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
  // --- Tenant isolation (issue 8) ---
  /** Endpoint circuits: deliveries to an open circuit are deferred, to a gone endpoint failed. Absent: every delivery goes. */
  readonly health?: EndpointHealthGuard;
  /** Deletes a batch's settled messages before its slowest one ends (the handler's; absent: the event source deletes them at the end). */
  readonly settler?: MessageSettler;
  /** How long the handler waits after a message settles before deleting it early, so a batch that ends at once costs no extra request. Default 1000 ms. */
  readonly settleAfterMs?: number;
  /** The slow lane (see shared/domain/lanes.ts). Absent: one lane, and nothing is diverted. */
  readonly slowLane?: SlowLaneDeps;
}

/** The slow lane as the deliver side sees it: where diverted deliveries go, and how to act on messages received from it. */
export interface SlowLaneDeps {
  readonly queue: SlowLane;
  /** The slow lane queue's name: a record whose event source ARN ends in it came from the slow lane. */
  readonly queueName: string;
  /** Visibility and dead-letter actions on the slow lane's messages (a receipt handle belongs to its queue). */
  readonly actions: MessageActions;
  /** Early deletes of the slow lane's messages (absent: the event source deletes them at the end of the batch). */
  readonly settler?: MessageSettler;
}

/** One received queue message. */
export interface ReceivedMessage {
  readonly body: string;
  readonly receiptHandle: string;
  /** Set on messages this system dead-lettered: when a redrive brings one back, its delivery starts a new series of attempts. */
  readonly deadLetteredAt?: string;
  /** When the batch was handed over: SQS caps a visibility change at 12 h from the receive. */
  readonly receivedAtMs: number;
  /** The lane it was received from; default main. */
  readonly lane?: Lane;
}

/** SQS refuses a visibility past 12 h from the receive; the margin covers the time before the invocation started. */
const VISIBILITY_MARGIN_SECONDS = 900;

/**
 * What becomes of the message: `delete` it, or `keep` it on the queue (a batch item failure),
 * its visibility already set. Not the delivery's outcome (see shared/domain/outcome.ts).
 */
export type { MessageFate } from '../domain/outcome.ts';

/**
 * Delivers one message: claim the next attempt, fetch the credential, send,
 * classify, record, then retry later, finish, or dead-letter. Nothing here
 * throws for a delivery's own failure: a thrown error means "this message again".
 */
export async function deliverMessage(received: ReceivedMessage, deps: DeliverDeps): Promise<MessageFate> {
  const read = readMessage(received.body);
  if (!read.ok) return parkUnreadable(received, read.reason, deps);
  const message = read.message;
  const log = deps.log.child({
    delivery_id: message.delivery_id,
    workflow_run_id: message.workflow_run_id,
    workflow_id: message.workflow_id,
    node_id: message.node_id,
    organization_id: message.organization_id,
  });
  const timeoutMs = requestTimeoutOf(message, deps.requestTimeoutMs);
  const leaseMs = timeoutMs + (deps.leaseMarginMs ?? 30_000);
  // Before the claim: a deferred or diverted delivery uses no attempt and no write, only its visibility
  // or a copy on the slow lane.
  const lane = deps.slowLane === undefined ? undefined : (received.lane ?? 'main');
  const decided: Gate =
    deps.health === undefined
      ? { kind: 'send' }
      : await deps.health.before(message, leaseMs, log, received.deadLetteredAt !== undefined, lane);
  if (decided.kind === 'divert' && (await divert(received, message, decided, log, deps))) return 'delete';
  const gate = decided.kind === 'divert' ? decided.otherwise : decided;
  if (gate.kind === 'defer') {
    await hide(received, gate.seconds, deps);
    log.debug('endpoint circuit not closed: delivery deferred without an attempt', {
      circuit: gate.state,
      seconds: gate.seconds,
    });
    return 'keep';
  }
  let claim = await deps.store.claim(message, deps.clock.now(), leaseMs);

  if (claim.kind === 'final' && claim.status === 'failed') {
    const record = await deps.store.get(message.delivery_id);
    const redriven =
      received.deadLetteredAt !== undefined && record?.final_at != null && record.final_at <= received.deadLetteredAt;
    if (record?.dead_letter_pending) {
      if (redriven) {
        // This copy came from the dead-letter queue, so the move did happen; only its mark was lost.
        await deps.store.markDeadLettered(message.delivery_id, { final_at: record.final_at });
      } else {
        // Recorded failed, but the move to the dead-letter queue did not happen: finish it.
        await deadLetter(received, message, record.last_error ?? 'failed', record.final_at, log, deps);
        return 'delete';
      }
    }
    // Two ways a failed delivery comes back to life: an operator redrove its dead
    // letter, or it never reached the wire (a bad node) and its fixed run was emitted
    // again. Neither can send anything twice: the reopen holds only if the failure is
    // still the one read here.
    // A stranded failure (the reconciler found it with its message lost and nothing to rebuild
    // it from) is as good as never sent for this purpose: a copy of the message came back.
    const neverSent = record !== undefined && (record.attempts === 0 || record.stranded === true);
    if (record !== undefined && (neverSent || redriven)) {
      try {
        await deps.store.reopen(message.delivery_id, deps.clock.now(), { final_at: record.final_at });
        log.info(
          neverSent
            ? 'a delivery that was never sent is renderable now: sending it'
            : 'redriven from the dead-letter queue: starting a new series of attempts',
        );
        claim = await deps.store.claim(message, deps.clock.now(), leaseMs);
      } catch (error) {
        if (!(error instanceof DeliveryStateError)) throw error;
        log.info('another copy already reopened this delivery: dropped', { reason: error.reason });
        return 'delete';
      }
    }
  }
  switch (claim.kind) {
    case 'final':
      log.info('duplicate message for a final delivery: dropped', {
        ...(isFinalStatus(claim.status) ? { outcome: claim.status } : { status: claim.status }),
      });
      return 'delete';
    case 'wait':
      await hide(received, claim.seconds, deps);
      log.debug('delivery busy or not yet due: message hidden', { seconds: claim.seconds });
      return 'keep';
    case 'exhausted':
      // Only a copy carrying a lower max_attempts than the series in flight gets here
      // (a workflow edited between duplicate events); the copy that set it goes on.
      log.info('no attempts left for this copy of the message: dropped', { attempts: claim.attempts });
      return 'delete';
    case 'claimed':
      if (gate.kind === 'gone') return failGone(received, message, claim.attempt, gate.reason, log, deps);
      return attemptDelivery(
        received,
        message,
        claim.attempt,
        log,
        timeoutMs === deps.requestTimeoutMs ? deps : { ...deps, requestTimeoutMs: timeoutMs },
      );
  }
}

/**
 * Moves a delivery to the slow lane: a copy there first, so the original is deleted
 * ('delete') only once the copy is safe; resolves false if the slow lane did not take
 * it (the caller then does what the gate says without lanes). A copy sent twice (the
 * delete of the original lost) only finds the delivery busy or final: the claim decides.
 */
async function divert(
  received: ReceivedMessage,
  message: DeliveryMessage,
  gate: Extract<Gate, { kind: 'divert' }>,
  log: Log,
  deps: DeliverDeps,
): Promise<boolean> {
  if (deps.slowLane === undefined) return false;
  try {
    await deps.slowLane.queue.forward(received, message, gate.seconds);
  } catch (error) {
    log.warn('the slow lane did not take the delivery: it stays on the main lane', { cause: gate.cause, error });
    if (gate.otherwise.kind === 'defer')
      deps.metrics.count(METRIC.deferredDeliveries, 1, { [DIMENSION.state]: gate.otherwise.state });
    return false;
  }
  deps.metrics.count(METRIC.divertedDeliveries, 1, { [DIMENSION.cause]: gate.cause });
  log.debug('delivery moved to the slow lane without an attempt', { cause: gate.cause, seconds: gate.seconds });
  return true;
}

/**
 * Hides the message until its next attempt is due, within the 12 hours SQS allows
 * from this receive; a longer wait is covered by the next receive's claim, which
 * finds the attempt not yet due and hides it again.
 */
async function hide(received: ReceivedMessage, seconds: number, deps: DeliverDeps): Promise<void> {
  const elapsed = Math.ceil((deps.clock.now() - received.receivedAtMs) / 1000);
  const budget = Math.max(0, MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS - elapsed);
  await deps.actions.delay(received.receiptHandle, Math.min(seconds, budget));
}

async function attemptDelivery(
  received: ReceivedMessage,
  message: DeliveryMessage,
  attempt: number,
  log: Log,
  deps: DeliverDeps,
): Promise<MessageFate> {
  const startedAt = deps.clock.now();
  // Marks the endpoint slow if the answer is long in coming (with a slow lane only).
  const answered = deps.health?.watch(message, log);
  const { verdict, response, secrets, resentAfterStatus } = await sendAttempt(message, attempt, deps).finally(answered);
  const durationMs = response?.durationMs ?? Math.max(0, deps.clock.now() - startedAt);
  const decision = nextAttempt(verdict, attempt, message.retry, deps.random());
  await deps.health?.after(message, verdict, log);
  // Every request on the wire is on record: a resend after a refused cached credential too.
  const resent = resentAfterStatus === undefined ? {} : { resent_after_status: resentAfterStatus };
  const record: AttemptRecord = {
    attempt,
    at: new Date(startedAt).toISOString(),
    duration_ms: Math.round(durationMs),
    status_code: response?.status ?? null,
    error_class: verdict.kind === 'success' ? 'none' : verdict.errorClass,
    error_message: scrub(
      decision.outcome === 'failed' ? decision.reason : verdict.kind === 'success' ? null : verdict.message,
      secrets,
    ),
    // A success's body explains nothing an operator needs: not redacted, scrubbed or stored
    // (every later write of the item would pay for its bytes). An empty one has nothing to redact.
    response_snippet:
      response === undefined || response.bodySnippet === '' || verdict.kind === 'success'
        ? null
        : scrub(deps.snippet(scrub(response.bodySnippet, secrets) ?? ''), secrets),
    ...resent,
  };
  const fields = {
    attempt,
    outcome: decision.outcome,
    status_code: record.status_code,
    error_class: record.error_class,
    duration_ms: record.duration_ms,
    endpoint_host: endpointHost(message.url),
    ...resent,
  };
  deps.metrics.duration(METRIC.attemptDuration, durationMs);

  switch (decision.outcome) {
    case 'delivered':
      await recordSuccess(message, record, log, deps);
      log.info('delivered', fields);
      countDeliveries(deps.metrics, decision.outcome);
      deps.metrics.count(METRIC.attemptsPerDelivery, attempt);
      return 'delete';
    case 'retrying': {
      const atMs = deps.clock.now() + decision.delaySeconds * 1000;
      await recordOutcome(message, record, { status: decision.outcome, atMs }, log, deps);
      await hide(received, decision.delaySeconds, deps);
      log.warn('attempt failed: will retry', {
        ...fields,
        error: record.error_message,
        retry_in_seconds: decision.delaySeconds,
      });
      countDeliveries(deps.metrics, decision.outcome);
      return 'keep';
    }
    case 'failed': {
      const finalAtMs = deps.clock.now();
      await recordOutcome(message, record, { status: decision.outcome }, log, deps, finalAtMs);
      log.warn('delivery failed', { ...fields, error: record.error_message });
      deps.metrics.count(METRIC.attemptsPerDelivery, attempt);
      countDeliveries(deps.metrics, decision.outcome);
      await deadLetter(
        received,
        message,
        record.error_message ?? 'failed',
        new Date(finalAtMs).toISOString(),
        log,
        deps,
      );
      return 'delete';
    }
  }
}

/** A delivery to an endpoint marked gone: recorded failed with the reason, not sent, and dead-lettered for a redrive after a reset. */
async function failGone(
  received: ReceivedMessage,
  message: DeliveryMessage,
  attempt: number,
  reason: string,
  log: Log,
  deps: DeliverDeps,
): Promise<MessageFate> {
  const finalAtMs = deps.clock.now();
  const record: AttemptRecord = {
    attempt,
    at: new Date(finalAtMs).toISOString(),
    duration_ms: 0,
    status_code: null,
    error_class: 'endpoint_gone',
    error_message: reason,
    response_snippet: null,
  };
  await deps.store.recordAttempt(message, record, { status: 'failed' }, finalAtMs);
  log.warn('delivery failed: endpoint gone', {
    attempt,
    outcome: 'failed',
    error_class: 'endpoint_gone',
    endpoint_host: endpointHost(message.url),
  });
  deps.metrics.count(METRIC.attemptsPerDelivery, attempt);
  countDeliveries(deps.metrics, 'failed');
  await deadLetter(received, message, reason, new Date(finalAtMs).toISOString(), log, deps);
  return 'delete';
}

/**
 * The endpoint took it: the delivery must not be sent again nor marked failed,
 * even when the record cannot be written. Retry the write; if it still fails,
 * say so loudly and let the message go.
 */
async function recordSuccess(
  message: DeliveryMessage,
  record: AttemptRecord,
  log: Log,
  deps: DeliverDeps,
): Promise<void> {
  try {
    await recordOutcome(message, record, { status: 'delivered' }, log, deps);
  } catch (error) {
    log.error('delivered, but the outcome could not be recorded: not resending', { attempt: record.attempt, error });
    deps.metrics.count(METRIC.unrecordedSuccess, 1);
  }
}

/**
 * Writes an attempt's outcome, retrying the write as often as `recordRetries`
 * says: a request went on the wire, and an outcome lost to one DynamoDB fault
 * would have the message come back and send it again (a permanent failure
 * resent, a retry sent under a number already used). A state error is not
 * retried: it repeats however often it is tried (the attempt is no longer ours).
 * Rejects when every try failed; the caller decides what that means.
 */
async function recordOutcome(
  message: DeliveryMessage,
  record: AttemptRecord,
  next: Parameters<DeliveryStore['recordAttempt']>[2],
  log: Log,
  deps: DeliverDeps,
  nowMs?: number,
): Promise<void> {
  const tries = (deps.recordRetries ?? 3) + 1;
  for (let i = 1; ; i++) {
    try {
      await deps.store.recordAttempt(message, record, next, nowMs ?? deps.clock.now());
      return;
    } catch (error) {
      if (i >= tries || error instanceof DeliveryStateError) throw error;
      log.warn('outcome not recorded: trying the write again', {
        attempt: record.attempt,
        outcome: next.status,
        error,
      });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** i));
    }
  }
}

/** Puts a final failure's message on the dead-letter queue, then clears the record's pending mark. */
async function deadLetter(
  received: ReceivedMessage,
  message: DeliveryMessage,
  reason: string,
  finalAt: string | null,
  log: Log,
  deps: DeliverDeps,
): Promise<void> {
  await deps.actions.deadLetter(received.body, reason, message.delivery_id);
  await deps.store.markDeadLettered(message.delivery_id, { final_at: finalAt });
  log.info('moved to the dead-letter queue', { outcome: 'failed' });
}

/** The delivery message of a queue body, or why it is none. */
function readMessage(body: string): { ok: true; message: DeliveryMessage } | { ok: false; reason: string } {
  const value = parseJson(body);
  if (value === undefined) return { ok: false, reason: 'message body is not JSON' };
  const parsed = safeParseDeliveryMessage(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  return {
    ok: false,
    reason: `not a delivery message: ${problemsFrom(parsed.error)
      .map((p) => `${p.path}: ${p.reason}`)
      .join('; ')}`,
  };
}

/** Not ours to deliver, and not ours to drop: park it for an operator, or keep it if that fails. */
async function parkUnreadable(received: ReceivedMessage, reason: string, deps: DeliverDeps): Promise<MessageFate> {
  try {
    await deps.actions.deadLetter(received.body, reason, '');
    deps.log.error('unreadable queue message: dead-lettered', { error: reason });
    return 'delete';
  } catch (error) {
    deps.log.error('unreadable queue message could not be dead-lettered: kept on the queue', {
      error: reason,
      cause: error,
    });
    return 'keep';
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
