import { formatProblem, type Problem } from '../shared/errors.ts';
import {
  DEFAULT_DETAIL_TYPE,
  DEFAULT_EVENT_SOURCE,
  RunCompletedEventSchema,
  type RunCompletedEvent,
} from '../shared/schemas/event.ts';
import { fileKindOf } from '../shared/schemas/input-file.ts';
import { problemsFrom, safeParse } from '../shared/schemas/issues.ts';
import { isRecord } from '../shared/schemas/workflow.ts';
import { CliError } from './io.ts';

/** The source and detail-type a stack's rule matches. */
export interface RuleMatch {
  readonly source: string;
  readonly detailType: string;
}

/** What the stack's rule matches unless it was deployed with other `eventSource` / `detailType` values. */
export const DEFAULT_RULE: RuleMatch = { source: DEFAULT_EVENT_SOURCE, detailType: DEFAULT_DETAIL_TYPE };

/**
 * The fields of a whole event that `rule` will not match, as problems (`file: [i].source: ...`):
 * EventBridge drops an event that matches no rule without an error, so it has to be said here.
 */
export function ruleMismatches(
  event: Record<string, unknown>,
  file: string,
  rule: RuleMatch,
  at: readonly PropertyKey[] = [],
  /** False for webhooks dev, whose rule is known exactly; true for a stack assumed to have the defaults. */
  deployedAs = true,
): Problem[] {
  const fields = [
    { name: 'source', wanted: rule.source, context: 'eventSource' },
    { name: 'detail-type', wanted: rule.detailType, context: 'detailType' },
  ];
  return fields.flatMap(({ name, wanted, context }) => {
    const got = event[name];
    if (got === wanted) return [];
    const matcher = deployedAs
      ? `the stack's rule matches ${JSON.stringify(wanted)} (unless it was deployed with -c ${context}=...)`
      : `webhooks dev matches only ${JSON.stringify(wanted)}`;
    return [
      {
        source: file,
        path: [...at, name].map(String).join('.'),
        reason: `${got === undefined ? 'missing' : JSON.stringify(got)}: ${matcher}; an event that matches no rule is dropped without an error`,
      },
    ];
  });
}

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
    if (isRecord(raw) && !('detail' in raw)) {
      const kind = fileKindOf(raw);
      const at = where.length > 0 ? `[${i}]` : '(root)';
      throw new CliError(
        kind === undefined
          ? `${file}: ${at}: not a run-completed event ({"detail": {...}}) or its detail ({"workflow_definition": {...}, ...}): it has neither field`
          : `${file}: ${at}: this is ${kind}, not a run-completed event or its detail`,
      );
    }
    const parsed = safeParse(RunCompletedEventSchema, raw);
    if (!parsed.success) {
      const [first, ...rest] = problemsFrom(parsed.error, file, where);
      throw new CliError(`${formatProblem(first!)}${rest.length > 0 ? ` (and ${rest.length} more)` : ''}`);
    }
    return { raw: raw as Record<string, unknown>, parsed: parsed.data, at: where.length > 0 ? `[${i}]: ` : '' };
  });
}
