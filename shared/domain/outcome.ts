/**
 * The words for how it went: one set, used the same way by the use cases, the outcome log, the
 * metrics, the log lines and the CLI. Everything else derives its words from here.
 *
 * - A delivery's **status** ({@link DeliveryStatus}): `pending`, `sending`, `retrying`,
 *   `delivered`, `failed`, `skipped`. The record's `status`, the CLI's STATUS column and the
 *   `status` of `--json` and of `webhooks local` (where only the final ones appear, CONTRACT
 *   section 6).
 * - A delivery's **outcome** ({@link DeliveryOutcome}): the status one event in a delivery's life
 *   left it in, `delivered`, `retrying`, `failed` or `skipped`. The `outcome` field of log lines,
 *   the `Outcome` dimension of the `Deliveries` metric, and what the retry policy decides after an
 *   attempt (`nextAttempt` returns `{ outcome: 'retrying', delaySeconds }`). The same value goes to
 *   all three, so a saved query, an alarm and the record never disagree on a word.
 * - An attempt's **verdict** ({@link VerdictKind}, CONTRACT section 5's words): `success`,
 *   `transient`, `permanent`. What the endpoint's answer, or the error, says, before anything is
 *   decided; never logged or counted as an outcome.
 * - A queue message's **fate** ({@link MessageFate}): `delete` or `keep`. Not how the delivery
 *   went: a delivery that will be retried keeps its message, and so does one that is deferred.
 */

/** Every status a delivery record can hold, in the order a delivery goes through them. */
export const DELIVERY_STATUSES = ['pending', 'sending', 'retrying', 'delivered', 'failed', 'skipped'] as const;

/** One of {@link DELIVERY_STATUSES}. */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** The statuses nothing more happens after (unless an operator reopens the delivery). */
export type FinalStatus = Extract<DeliveryStatus, 'delivered' | 'failed' | 'skipped'>;

export const FINAL_STATUSES: ReadonlySet<DeliveryStatus> = new Set<FinalStatus>(['delivered', 'failed', 'skipped']);

/** Whether `status` is one of {@link FINAL_STATUSES}. */
export function isFinalStatus(status: DeliveryStatus): status is FinalStatus {
  return FINAL_STATUSES.has(status);
}

/** What an event in a delivery's life came to: the log's `outcome`, the metric's `Outcome`. */
export const DELIVERY_OUTCOMES = [
  'delivered',
  'failed',
  'retrying',
  'skipped',
] as const satisfies readonly DeliveryStatus[];

/** One of {@link DELIVERY_OUTCOMES}. */
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** An attempt's verdict, as CONTRACT section 5 words it (the `kind` of `AttemptVerdict` in retry-policy.ts). */
export type VerdictKind = 'success' | 'transient' | 'permanent';

/** What becomes of a received queue message: deleted, or kept on the queue (a batch item failure) to come back. */
export type MessageFate = 'delete' | 'keep';
