import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { builtOnUse } from '../schemas/built-on-use.ts';
import {
  DEFAULT_INITIAL_DELAY_SECONDS,
  DEFAULT_MAX_DELAY_SECONDS,
  HTTP_METHODS,
  type HttpMethod,
  HttpMethodSchema,
  intBetween,
  MAX_ATTEMPTS_LIMIT,
  MAX_DELAY_SECONDS_LIMIT,
  MAX_TIMEOUT_SECONDS,
  type RetryConfig,
  RetryConfigSchema,
} from '../schemas/fields.ts';
import { safeParse } from '../schemas/issues.ts';
import type { EmptyPlaceholder } from './empty-placeholders.ts';

/**
 * One rendered webhook node of one run, as it travels on the delivery queue.
 * Rendered once by the render function: retries resend exactly this. It holds
 * no secret: the credential is fetched by name at send time.
 */
function buildDeliveryMessageSchema() {
  return z.object({
    v: z.literal(1),
    delivery_id: z.string().check(z.minLength(1)),
    organization_id: z.string().check(z.minLength(1)),
    workflow_id: z.number().check(z.int()),
    workflow_run_id: z.number().check(z.int()),
    node_id: z.string().check(z.minLength(1)),
    node_name: z.string(),
    method: HttpMethodSchema,
    url: z.string(),
    /** Custom headers after rendering and filtering; auth and X-Dograh-* are added at send time. */
    headers: z.record(z.string(), z.string()),
    /** JSON text of the rendered payload; null for GET and DELETE. */
    body: z.nullable(z.string()),
    credential_uuid: z.nullable(z.string()),
    /** The node's signing secret; null (or absent, in messages from before signing): the organization's, if any. */
    signing_credential_uuid: z.nullish(z.string()),
    /** Placeholders that rendered empty, and why; bounded by the renderer. Absent in older messages. */
    empty_placeholders: z.optional(
      z.array(z.object({ field: z.string(), placeholder: z.string(), reason: z.enum(['missing', 'null']) })),
    ),
    retry: RetryConfigSchema,
    /** The node's `timeout_seconds`; absent: the stack's request timeout. */
    timeout_seconds: z.optional(intBetween(1, MAX_TIMEOUT_SECONDS)),
    /** ISO time the run's event was rendered. */
    rendered_at: z.string(),
  });
}
export type DeliveryMessage = z.infer<ReturnType<typeof buildDeliveryMessageSchema>>;

/**
 * The schema of a delivery message, built on first use: the deliver function reads the messages
 * the render function wrote with {@link safeParseDeliveryMessage}, which needs it only for a
 * message that fails its hand check.
 */
export const deliveryMessageSchema = builtOnUse(buildDeliveryMessageSchema);

/**
 * Parses a queue message's JSON value as the schema does, with its result and its errors: a
 * well-formed message, as the render function writes it, is checked and copied by hand (no
 * schema built or run at cold start); anything else, or anything the hand check is unsure of,
 * goes to the schema, whose problems are the ones reported. The hand check accepts only what
 * the schema accepts and returns what the schema would (test/unit/delivery-message-check.test.ts).
 */
export function safeParseDeliveryMessage(value: unknown): z.core.util.SafeParseResult<DeliveryMessage> {
  const message = checkedByHand(value);
  if (message !== undefined) return { success: true, data: message };
  return safeParse(deliveryMessageSchema(), value);
}

/** The schema's output for a message it certainly accepts, or undefined when not sure: then the schema decides. */
function checkedByHand(value: unknown): DeliveryMessage | undefined {
  if (!isPlainRecord(value) || value.v !== 1) return undefined;
  const m = value;
  if (!nonEmpty(m.delivery_id) || !nonEmpty(m.organization_id) || !nonEmpty(m.node_id)) return undefined;
  if (!Number.isSafeInteger(m.workflow_id) || !Number.isSafeInteger(m.workflow_run_id)) return undefined;
  if (typeof m.node_name !== 'string' || typeof m.url !== 'string' || typeof m.rendered_at !== 'string')
    return undefined;
  if (!(HTTP_METHODS as readonly unknown[]).includes(m.method)) return undefined;
  if (!isTextOrNull(m.body) || !isTextOrNull(m.credential_uuid)) return undefined;
  const headers = stringRecord(m.headers);
  const retry = retryOf(m.retry);
  if (headers === undefined || retry === undefined) return undefined;
  const signing = optional(m, 'signing_credential_uuid');
  if (signing === MAYBE || (signing !== ABSENT && !isTextOrNull(signing))) return undefined;
  const empties = optional(m, 'empty_placeholders');
  const emptyPlaceholders = empties === ABSENT ? ABSENT : emptyPlaceholdersOf(empties);
  if (emptyPlaceholders === undefined) return undefined;
  const timeout = optional(m, 'timeout_seconds');
  if (timeout !== ABSENT && !isIntBetween(timeout, 1, MAX_TIMEOUT_SECONDS)) return undefined;
  // The schema's keys in its order, optional ones only when present, as zod's output has them.
  return {
    v: 1,
    delivery_id: m.delivery_id,
    organization_id: m.organization_id,
    workflow_id: m.workflow_id as number,
    workflow_run_id: m.workflow_run_id as number,
    node_id: m.node_id,
    node_name: m.node_name,
    method: m.method as HttpMethod,
    url: m.url,
    headers,
    body: m.body,
    credential_uuid: m.credential_uuid,
    ...(signing === ABSENT ? {} : { signing_credential_uuid: signing as string | null }),
    ...(emptyPlaceholders === ABSENT ? {} : { empty_placeholders: emptyPlaceholders }),
    retry,
    ...(timeout === ABSENT ? {} : { timeout_seconds: timeout as number }),
    rendered_at: m.rendered_at,
  };
}

const ABSENT = Symbol('absent');
const MAYBE = Symbol('present but undefined');

/** An optional key's value: ABSENT when not there, MAYBE when there and undefined (left to the schema). */
function optional(record: Record<string, unknown>, key: string): unknown {
  if (!Object.hasOwn(record, key)) return key in record ? MAYBE : ABSENT;
  const value = record[key];
  return value === undefined ? MAYBE : value;
}

/** A plain object of JSON (no prototype of its own, no accessor or symbol tricks the schema would see differently). */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1;
}

function isTextOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function isIntBetween(value: unknown, min: number, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** A copy of a record of texts, or undefined for anything a `z.record(z.string(), z.string())` might see otherwise. */
function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!isPlainRecord(value)) return undefined;
  const copy: Record<string, string> = {};
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key !== 'string' || key === '__proto__' || key === 'constructor') return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (descriptor === undefined || !descriptor.enumerable || typeof descriptor.value !== 'string') return undefined;
    copy[key] = descriptor.value;
  }
  return copy;
}

/** The schema's list of empty placeholders, each cut to its three fields, or undefined when not sure. */
function emptyPlaceholdersOf(value: unknown): EmptyPlaceholder[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list: EmptyPlaceholder[] = [];
  for (const entry of value) {
    if (!isPlainRecord(entry)) return undefined;
    const { field, placeholder, reason } = entry;
    if (typeof field !== 'string' || typeof placeholder !== 'string') return undefined;
    if (reason !== 'missing' && reason !== 'null') return undefined;
    list.push({ field, placeholder, reason });
  }
  return list;
}

/** RetryConfigSchema's output (its defaults and the first delay filled in), or undefined when not sure. */
function retryOf(value: unknown): RetryConfig | undefined {
  if (!isPlainRecord(value)) return undefined;
  const maxAttempts = value.max_attempts;
  if (!isIntBetween(maxAttempts, 1, MAX_ATTEMPTS_LIMIT)) return undefined;
  const backoff = optional(value, 'backoff');
  if (backoff !== ABSENT && backoff !== 'exponential' && backoff !== 'fixed') return undefined;
  const initial = optional(value, 'initial_delay_seconds');
  if (initial !== ABSENT && !isIntBetween(initial, 1, Number.MAX_SAFE_INTEGER)) return undefined;
  const max = optional(value, 'max_delay_seconds');
  if (max !== ABSENT && !isIntBetween(max, 1, MAX_DELAY_SECONDS_LIMIT)) return undefined;
  const maxDelay = max === ABSENT ? DEFAULT_MAX_DELAY_SECONDS : (max as number);
  if (initial !== ABSENT && (initial as number) > maxDelay) return undefined;
  return {
    max_attempts: maxAttempts,
    backoff: backoff === ABSENT ? 'exponential' : (backoff as RetryConfig['backoff']),
    initial_delay_seconds: initial === ABSENT ? Math.min(DEFAULT_INITIAL_DELAY_SECONDS, maxDelay) : (initial as number),
    max_delay_seconds: maxDelay,
  };
}

/** Final and in-between states of a delivery in the outcome log: the words of outcome.ts. */
export { FINAL_STATUSES, type DeliveryStatus } from './outcome.ts';

/**
 * One id per run and node, stable across retries and duplicate events: the hash
 * of organization, run and node. It is the idempotency key of the whole pipeline.
 */
export function deliveryId(organizationId: string, workflowRunId: number, nodeId: string): string {
  const digest = createHash('sha256').update(`${organizationId}\u0000${workflowRunId}\u0000${nodeId}`).digest('hex');
  return `whd_${digest.slice(0, 32)}`;
}

/**
 * The request timeout of one delivery: the node's `timeout_seconds`, never longer
 * than the stack's (the deliver function's own timeout is sized for that one).
 */
export function requestTimeoutOf(message: DeliveryMessage, stackTimeoutMs: number): number {
  return message.timeout_seconds === undefined
    ? stackTimeoutMs
    : Math.min(stackTimeoutMs, message.timeout_seconds * 1000);
}
