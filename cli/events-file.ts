import { formatProblem } from '../shared/errors.ts';
import {
  DEFAULT_DETAIL_TYPE,
  DEFAULT_EVENT_SOURCE,
  RunCompletedEventSchema,
  type RunCompletedEvent,
} from '../shared/schemas/event.ts';
import { problemsFrom, safeParse } from '../shared/schemas/issues.ts';
import { isRecord } from '../shared/schemas/workflow.ts';
import { CliError } from './io.ts';

/** One event of an events file: as written (what is sent) and as parsed (what was checked). */
export interface FileEvent {
  readonly raw: Record<string, unknown>;
  readonly parsed: RunCompletedEvent;
  /** `[i]: ` for an entry of an array, '' for a lone event: for error messages. */
  readonly at: string;
}

/**
 * Reads one event, an array of events, or a bare event detail (wrapped as
 * EventBridge would deliver it, with the default source and detail-type).
 * Every event is checked before anything is done with any, so bad input fails
 * fast, naming the file, the entry and the field.
 */
export function readEventsFile(value: unknown, file: string): FileEvent[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new CliError(`${file}: (root): no events`);
  return list.map((entry, i) => {
    const where = Array.isArray(value) ? [i] : [];
    const raw: unknown =
      isRecord(entry) && !('detail' in entry) && 'workflow_definition' in entry
        ? { source: DEFAULT_EVENT_SOURCE, 'detail-type': DEFAULT_DETAIL_TYPE, detail: entry }
        : entry;
    const parsed = safeParse(RunCompletedEventSchema, raw);
    if (!parsed.success) {
      const [first, ...rest] = problemsFrom(parsed.error, file, where);
      throw new CliError(`${formatProblem(first!)}${rest.length > 0 ? ` (and ${rest.length} more)` : ''}`);
    }
    return { raw: raw as Record<string, unknown>, parsed: parsed.data, at: where.length > 0 ? `[${i}]: ` : '' };
  });
}
