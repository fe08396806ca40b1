import { formatProblem, InvalidTemplateError, ValidationError } from '../errors.ts';
import { deliveryId, type DeliveryMessage } from '../domain/delivery.ts';
import type { FinalStatus } from '../domain/outcome.ts';
import { renderNode } from '../domain/render-node.ts';
import type { Clock } from '../ports/clock.ts';
import { EnqueueError, type DeliveryQueue } from '../ports/delivery-queue.ts';
import type { DeliveryStore } from '../ports/delivery-store.ts';
import { contextDepthProblem } from '../schemas/depth.ts';
import { RunCompletedEventSchema, templateContextOf, type RunCompletedDetail } from '../schemas/event.ts';
import { problemsFrom, safeParse } from '../schemas/issues.ts';
import { HTTP_METHODS, NO_RETRY, type HttpMethod } from '../schemas/node.ts';
import { extractWebhookNodes, isRecord } from '../schemas/workflow.ts';
import { countDeliveries, METRIC } from '../observability/metrics.ts';
import type { Log, Metrics } from './observability.ts';

export interface RenderRunDeps {
  readonly queue: DeliveryQueue;
  readonly store: Pick<DeliveryStore, 'recordFinal'>;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly eventSource: string;
  readonly detailType: string;
  /** A rendered delivery larger than this (bytes of its queue message) fails as oversized. */
  readonly maxMessageBytes: number;
}

/** One webhook node's fate in a run, as the render step saw it. */
export interface RenderedDelivery {
  readonly delivery_id: string;
  readonly node_id: string;
  readonly workflow_run_id: number;
  /** `enqueued` for the deliver function to send; else the delivery's final status, recorded here. */
  readonly status: 'enqueued' | Extract<FinalStatus, 'failed' | 'skipped'>;
  readonly error: string | null;
}

/** Why a skipped node sent nothing. */
export const SKIPPED_REASON = 'disabled in the workflow ("enabled": false): not sent, not recorded';

/**
 * Renders every enabled webhook node of a completed run and enqueues it; a bad
 * node becomes a failed delivery with its reason while the others still go.
 * A malformed event throws `ValidationError`: the function fails, and Lambda's
 * on-failure destination keeps the event and the reason in a dead-letter queue.
 */
export async function renderRun(event: unknown, deps: RenderRunDeps): Promise<RenderedDelivery[]> {
  const detail = parseEvent(event, deps);
  const now = new Date(deps.clock.now());
  const context = templateContextOf(detail);
  // Checked before anything recurses into it: too deep, every node fails with the reason, not the run with a stack overflow.
  const deepContext = contextDepthProblem(context);
  const runLog = deps.log.child({
    organization_id: detail.organization_id,
    workflow_id: detail.workflow_id,
    workflow_run_id: detail.workflow_run_id,
  });
  const definitionNodes = detail.workflow_definition.nodes;
  const { nodes, problems, positions } = extractWebhookNodes(definitionNodes);
  const results: RenderedDelivery[] = [];
  const messages: DeliveryMessage[] = [];
  const failures: { message: DeliveryMessage; reason: string }[] = [];

  const badNodes = new Map<string, string[]>();
  for (const problem of problems) {
    const source = problem.source ?? '(unknown)';
    badNodes.set(source, [...(badNodes.get(source) ?? []), formatProblem({ ...problem, source: undefined })]);
  }
  for (const [nodeId, reasons] of badNodes) {
    const position = positions.get(nodeId);
    const raw = position === undefined ? undefined : definitionNodes[position];
    failures.push({
      message: skeleton(detail, nodeId, raw, now),
      reason: `invalid webhook node: ${reasons.join('; ')}`,
    });
  }

  for (const node of nodes) {
    const base = skeleton(detail, node.id, node, now);
    if (!node.data.enabled) {
      // Not recorded (a node that sends nothing costs no write): the reason goes with the result.
      results.push(resultOf(base, 'skipped', SKIPPED_REASON));
      continue;
    }
    if (deepContext !== undefined) {
      failures.push({
        message: base,
        reason: `cannot render: the run's context is too deep: ${deepContext.path}: ${deepContext.reason}`,
      });
      continue;
    }
    try {
      const rendered = renderNode(node, context, now, { maxChars: deps.maxMessageBytes });
      const message: DeliveryMessage = {
        ...base,
        method: rendered.method,
        url: rendered.url,
        headers: rendered.headers,
        body: rendered.body,
        ...(node.data.signing_credential_uuid === null
          ? {}
          : { signing_credential_uuid: node.data.signing_credential_uuid }),
        ...(rendered.emptyPlaceholders.length === 0 ? {} : { empty_placeholders: [...rendered.emptyPlaceholders] }),
        retry: node.data.retry_config ?? NO_RETRY,
        ...(node.data.timeout_seconds === undefined ? {} : { timeout_seconds: node.data.timeout_seconds }),
      };
      for (const warning of rendered.warnings) {
        runLog.warn('template warning', { node_id: node.id, delivery_id: base.delivery_id, warning });
      }
      for (const dropped of rendered.droppedHeaders) {
        runLog.warn('custom header dropped', {
          node_id: node.id,
          delivery_id: base.delivery_id,
          header: dropped.name,
          reason: dropped.reason,
        });
      }
      // Measured as sent: SQS counts the escaped body and the attributes.
      const size = deps.queue.messageBytes(message);
      if (size > deps.maxMessageBytes) {
        failures.push({
          message,
          reason: `payload too large: the rendered delivery is ${size} bytes, the limit is ${deps.maxMessageBytes}`,
        });
        continue;
      }
      messages.push(message);
    } catch (error) {
      if (!(error instanceof InvalidTemplateError)) throw error;
      failures.push({ message: base, reason: `cannot render: ${error.message}` });
    }
  }

  // Failures are recorded before anything is enqueued, so a crash in between
  // leaves the event to be retried whole, and recordFinal never overwrites.
  for (const { message, reason } of failures) await recordFailure(message, reason);
  const refused = await enqueueAll(messages, deps.queue);
  for (const [message, reason] of refused) {
    // SQS will never take these: failed now, rather than the event retried whole for
    // them (and every other delivery of the run enqueued again each time).
    failures.push({ message, reason });
    await recordFailure(message, reason);
  }
  const enqueued = messages.filter((m) => !refused.has(m));
  for (const message of enqueued) {
    // Debug: the deliver function's outcome line is the one info line per delivery (logs are
    // paid by the byte); the queue and its age alarm account for what was enqueued.
    runLog.debug('delivery enqueued', {
      delivery_id: message.delivery_id,
      node_id: message.node_id,
      method: message.method,
    });
    results.push(resultOf(message, 'enqueued', null));
  }
  deps.metrics.count(METRIC.renderedDeliveries, enqueued.length);
  const skipped = results.filter((r) => r.status === 'skipped').length;
  if (skipped > 0) countDeliveries(deps.metrics, 'skipped', skipped);
  // At info only when some node did not go on to the queue (each failure also has its warn line).
  (failures.length > 0 || skipped > 0 ? runLog.info : runLog.debug).call(runLog, 'run rendered', {
    enqueued: enqueued.length,
    failed: failures.length,
    skipped,
    // Disabled nodes leave no record: this line is where "why did node X send nothing?" is answered.
    ...(skipped > 0 ? { skipped_nodes: results.filter((r) => r.status === 'skipped').map((r) => r.node_id) } : {}),
  });
  return results.sort((a, b) => (positions.get(a.node_id) ?? 0) - (positions.get(b.node_id) ?? 0));

  async function recordFailure(message: DeliveryMessage, reason: string): Promise<void> {
    await deps.store.recordFinal(message, 'failed', reason, deps.clock.now());
    runLog.warn('delivery failed before sending', {
      delivery_id: message.delivery_id,
      node_id: message.node_id,
      outcome: 'failed',
      error_class: 'invalid',
      error: reason,
    });
    countDeliveries(deps.metrics, 'failed');
    results.push(resultOf(message, 'failed', reason));
  }
}

/**
 * Enqueues the messages; returns those the queue refused for good, with why. A
 * failure that may pass later (SQS unavailable, throttled, access denied) throws,
 * so Lambda retries the whole event.
 */
async function enqueueAll(
  messages: readonly DeliveryMessage[],
  queue: DeliveryQueue,
): Promise<Map<DeliveryMessage, string>> {
  const refused = new Map<DeliveryMessage, string>();
  try {
    await queue.enqueue(messages);
  } catch (error) {
    if (!(error instanceof EnqueueError) || !error.failures.every((f) => f.refused)) throw error;
    const byId = new Map(error.failures.map((f) => [f.deliveryId, f]));
    for (const message of messages) {
      const failure = byId.get(message.delivery_id);
      if (failure !== undefined)
        refused.set(message, `refused by the delivery queue: ${failure.code}: ${failure.message}`);
    }
  }
  return refused;
}

function resultOf(
  message: DeliveryMessage,
  status: RenderedDelivery['status'],
  error: string | null,
): RenderedDelivery {
  return {
    delivery_id: message.delivery_id,
    node_id: message.node_id,
    workflow_run_id: message.workflow_run_id,
    status,
    error,
  };
}

function parseEvent(event: unknown, deps: RenderRunDeps): RunCompletedDetail {
  const parsed = safeParse(RunCompletedEventSchema, event);
  const problems = parsed.success ? [] : problemsFrom(parsed.error, 'event');
  if (parsed.success && parsed.data.source !== deps.eventSource) {
    problems.push({
      source: 'event',
      path: 'source',
      reason: `expected "${deps.eventSource}", got "${parsed.data.source}"`,
    });
  }
  if (parsed.success && parsed.data['detail-type'] !== deps.detailType) {
    problems.push({
      source: 'event',
      path: 'detail-type',
      reason: `expected "${deps.detailType}", got "${parsed.data['detail-type']}"`,
    });
  }
  if (!parsed.success || problems.length > 0) {
    const error = new ValidationError(problems);
    deps.log.error('malformed run-completed event', {
      event_id: isRecord(event) ? event['id'] : undefined,
      problems: error.problems,
    });
    throw error;
  }
  return parsed.data.detail;
}

/** The parts of a delivery known before rendering; enough to record a failure. */
function skeleton(detail: RunCompletedDetail, nodeId: string, raw: unknown, now: Date): DeliveryMessage {
  const data = isRecord(raw) && isRecord(raw['data']) ? raw['data'] : {};
  const method = typeof data['http_method'] === 'string' ? data['http_method'].toUpperCase() : 'POST';
  return {
    v: 1,
    delivery_id: deliveryId(detail.organization_id, detail.workflow_run_id, nodeId),
    organization_id: detail.organization_id,
    workflow_id: detail.workflow_id,
    workflow_run_id: detail.workflow_run_id,
    node_id: nodeId,
    node_name: typeof data['name'] === 'string' ? data['name'] : '',
    method: ((HTTP_METHODS as readonly string[]).includes(method) ? method : 'POST') as HttpMethod,
    url: typeof data['endpoint_url'] === 'string' ? data['endpoint_url'] : '',
    headers: {},
    body: null,
    credential_uuid: typeof data['credential_uuid'] === 'string' ? data['credential_uuid'] : null,
    retry: NO_RETRY,
    rendered_at: now.toISOString(),
  };
}
