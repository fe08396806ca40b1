import * as z from 'zod/mini';
import { SAFE_ID, WorkflowDefinitionSchema } from './node.ts';

export { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from './event-source.ts';
/** EventBridge refuses an event over 256 KB, and a PutEvents request whose entries add up to more. */
export const MAX_EVENT_BYTES = 256 * 1024;
/** EventBridge takes at most ten entries per PutEvents request. */
export const MAX_PUT_EVENTS_ENTRIES = 10;

/** The fields of a PutEvents entry that EventBridge counts against its size limit. */
export interface PutEventsEntrySize {
  readonly Source?: string | undefined;
  readonly DetailType?: string | undefined;
  readonly Detail?: string | undefined;
  readonly Resources?: readonly string[] | undefined;
  readonly Time?: unknown;
}

/**
 * The size of a PutEvents entry as EventBridge calculates it ("Calculating PutEvents
 * event entry size"): UTF-8 bytes of Source, DetailType, Detail and each resource,
 * and 14 bytes for a Time.
 */
export function putEventsEntryBytes(entry: PutEventsEntrySize): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  let size =
    (entry.Time === undefined || entry.Time === null ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail);
  for (const resource of entry.Resources ?? []) size += bytes(resource);
  return size;
}

const JsonObject = z.record(z.string(), z.unknown());
const objectOrEmpty = z.pipe(
  z.nullish(JsonObject),
  z.transform((o) => o ?? {}),
);
/** `schema`, or `fallback` when null or left out. */
function nullishOr<T extends z.core.SomeType, F>(schema: T, fallback: F) {
  return z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? fallback),
  );
}

export const RunCompletedDetailSchema = z.looseObject({
  organization_id: z.pipe(
    z.pipe(
      z.union([z.string(), z.number().check(z.int())], {
        // zod's own message for a failed union is a bare "Invalid input".
        error: (issue) =>
          issue.input === undefined ? 'required (string or integer)' : 'expected a string or an integer',
      }),
      z.transform(String),
    ),
    z.string().check(z.regex(SAFE_ID, 'organization_id may hold only letters, digits, "-" and "_"')),
  ),
  workflow_run_id: z.number().check(z.int()),
  // Dograh's render context has None here when the run has no workflow (renders "", as missing).
  workflow_run_name: nullishOr(z.string(), ''),
  workflow_id: z.number().check(z.int()),
  workflow_name: nullishOr(z.string(), ''),
  campaign_id: nullishOr(z.number().check(z.int()), null),
  // Only ever a template variable, passed through as written: Dograh may send Python's
  // str(datetime) ("2026-11-27 09:30:00"), and a format quibble must not drop a whole run.
  call_time: z.nullish(z.string()),
  initial_context: objectOrEmpty,
  gathered_context: objectOrEmpty,
  cost_info: objectOrEmpty,
  annotations: objectOrEmpty,
  // The run's `extra` (Dograh passes it to templates whole) and its per-side recordings.
  extra: objectOrEmpty,
  recording_url: nullishOr(z.string(), null),
  transcript_url: nullishOr(z.string(), null),
  user_recording_url: nullishOr(z.string(), null),
  bot_recording_url: nullishOr(z.string(), null),
  workflow_definition: WorkflowDefinitionSchema,
});
export type RunCompletedDetail = z.infer<typeof RunCompletedDetailSchema>;

/** The EventBridge envelope. Source and detail-type are checked against the stack's config, not here. */
export const RunCompletedEventSchema = z.looseObject({
  id: z.optional(z.string()),
  source: z.string(),
  'detail-type': z.string(),
  time: z.optional(z.string()),
  detail: RunCompletedDetailSchema,
});
export type RunCompletedEvent = z.infer<typeof RunCompletedEventSchema>;

/**
 * The template variables of a run: its detail without the workflow definition. That is
 * every variable of Dograh's `_build_render_context` (workflow_run_id, workflow_run_name,
 * workflow_id, workflow_name, campaign_id, call_time, initial_context, gathered_context,
 * cost_info, annotations, extra, recording_url, transcript_url, user_recording_url,
 * bot_recording_url), plus organization_id and any other field of `detail`, as sent.
 */
export type TemplateContext = Record<string, unknown>;

export function templateContextOf(detail: RunCompletedDetail): TemplateContext {
  const { workflow_definition: _definition, ...context } = detail;
  return context;
}
