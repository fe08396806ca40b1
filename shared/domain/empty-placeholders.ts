import type { EmptyListener } from '../templates/engine.ts';

/** A placeholder that rendered empty, where, and why: the answer to "why is this value empty in my webhook?". */
export interface EmptyPlaceholder {
  /** The node's field: `data.payload_template`, `data.custom_headers.0.value`. */
  readonly field: string;
  /** The placeholder as written, cut to `MAX_PLACEHOLDER_CHARS`. */
  readonly placeholder: string;
  /** `missing`: no such path in the run's context; `null`: the value there is null. */
  readonly reason: 'missing' | 'null';
}

/** At most this many are kept per delivery: the report rides on the queue message and the outcome log. */
export const MAX_EMPTY_PLACEHOLDERS = 10;
export const MAX_PLACEHOLDER_CHARS = 100;

/** Collects the empty placeholders of one node's render, once each per field, bounded. */
export interface EmptyCollector {
  /** The field being rendered now; set before each render call. */
  field: string;
  readonly listener: EmptyListener;
  readonly found: EmptyPlaceholder[];
  /** How many were left out past the bound. */
  readonly dropped: () => number;
}

export function collectEmptyPlaceholders(): EmptyCollector {
  // Made on the first empty placeholder: most renders have none, and this runs for every node.
  let seen: Set<string> | undefined;
  let dropped = 0;
  const collector: EmptyCollector = {
    field: '',
    found: [],
    dropped: () => dropped,
    listener: (placeholder, reason) => {
      const text =
        placeholder.source.length > MAX_PLACEHOLDER_CHARS
          ? `${placeholder.source.slice(0, MAX_PLACEHOLDER_CHARS - 1)}…`
          : placeholder.source;
      const key = `${collector.field}\u0000${text}`;
      seen ??= new Set();
      if (seen.has(key)) return;
      seen.add(key);
      if (collector.found.length >= MAX_EMPTY_PLACEHOLDERS) dropped += 1;
      else collector.found.push({ field: collector.field, placeholder: text, reason });
    },
  };
  return collector;
}

/** One line of the report: `data.payload_template: {{ x }} is missing from the run's context`. */
export function describeEmpty(e: EmptyPlaceholder): string {
  return `${e.field}: ${e.placeholder} ${e.reason === 'null' ? "is null in the run's context" : "is missing from the run's context"}`;
}
