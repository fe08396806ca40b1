// zod/mini, not zod, in every schema the deliver and render functions load: the same checks,
// issues and messages, without classic zod's chained methods, whose module and schemas cost
// those functions a third of their cold import (docs/performance.md).
import * as z from 'zod/mini';

/**
 * The fields a webhook node sets for every delivery, which its queue message and the deliver
 * function's config read too: the HTTP method, the retry policy, the request timeout, the id
 * rule. Apart from node.ts so the deliver function, which parses no node, builds none of a
 * node's other schemas at cold start.
 */

/** Ids that become part of a secret name: no `/`, so one organization can never name another's secret. */
export const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const HttpMethodSchema = z.enum(HTTP_METHODS);
export type HttpMethod = z.infer<typeof HttpMethodSchema>;

/** Largest `max_attempts` a node may ask for; the queue's maxReceiveCount sits above it. */
export const MAX_ATTEMPTS_LIMIT = 25;
export const MAX_DELAY_SECONDS_LIMIT = 43_200;

export const DEFAULT_INITIAL_DELAY_SECONDS = 30;
export const DEFAULT_MAX_DELAY_SECONDS = 3600;

/** Longest `timeout_seconds` a node may ask for: the contract's default request timeout. */
export const MAX_TIMEOUT_SECONDS = 30;

/** A whole number from `min` to `max` (inclusive). */
export function intBetween(min: number, max?: number) {
  return max === undefined
    ? z.number().check(z.int(), z.minimum(min))
    : z.number().check(z.int(), z.minimum(min), z.maximum(max));
}

export const RetryConfigSchema = z.pipe(
  z
    .object({
      max_attempts: intBetween(1, MAX_ATTEMPTS_LIMIT),
      backoff: z._default(z.enum(['exponential', 'fixed']), 'exponential'),
      initial_delay_seconds: z.optional(intBetween(1)),
      max_delay_seconds: z._default(intBetween(1, MAX_DELAY_SECONDS_LIMIT), DEFAULT_MAX_DELAY_SECONDS),
    })
    .check(
      z.refine((r) => r.initial_delay_seconds === undefined || r.initial_delay_seconds <= r.max_delay_seconds, {
        message: 'initial_delay_seconds must not exceed max_delay_seconds',
        path: ['initial_delay_seconds'],
      }),
    ),
  // Left out, the first delay is 30 s, or max_delay_seconds when that is shorter: a node
  // that only writes `max_delay_seconds: 10` is valid, not an error about a field it never wrote.
  z.transform((r) => ({
    max_attempts: r.max_attempts,
    backoff: r.backoff,
    initial_delay_seconds: r.initial_delay_seconds ?? Math.min(DEFAULT_INITIAL_DELAY_SECONDS, r.max_delay_seconds),
    max_delay_seconds: r.max_delay_seconds,
  })),
);
export type RetryConfig = z.infer<typeof RetryConfigSchema>;

/** Without `retry_config` a delivery gets exactly one attempt, as in Dograh. */
export const NO_RETRY: RetryConfig = {
  max_attempts: 1,
  backoff: 'fixed',
  initial_delay_seconds: 30,
  max_delay_seconds: 3600,
};
