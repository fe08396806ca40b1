import { CliError } from './io.ts';
import type { DeliveryStatus } from '../shared/domain/outcome.ts';

// People-facing output of the operations commands: tables, times, durations,
// colour. Scripts get --json instead, so nothing here is a format to parse.

/**
 * Whether output to this stream may be coloured: only on a terminal, and not
 * when NO_COLOR is set to anything but the empty string (https://no-color.org).
 */
export function colourEnabled(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] ?? '') === '';
}

/** ANSI styles, or identity functions when colour is off. */
export interface Style {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function createStyle(enabled: boolean): Style {
  const sgr = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return { red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}

/** A delivery status coloured by what it means for an operator. */
export function styleStatus(status: DeliveryStatus, style: Style): string {
  if (status === 'delivered') return style.green(status);
  if (status === 'failed') return style.red(status);
  if (status === 'skipped') return style.dim(status);
  return style.yellow(status);
}

// Escape sequences, other control characters and bidirectional overrides: text from
// a customer's endpoint (error messages, response snippets) must not be able to
// move the cursor, retitle the terminal or reorder what an operator reads.
const ANSI = /\u001b\[[0-9;]*m/g;
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text made safe for one table cell: whitespace runs become one space, control characters U+FFFD. */
export function oneLine(text: string): string {
  return text
    .replace(/[\t\n\r]+/g, ' ')
    .replace(UNSAFE, '\uFFFD')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** At most `max` characters (code points), ending in `…` when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/**
 * `text` (one line, from `oneLine`) as lines of at most `width` characters (code points), broken
 * at spaces; a word longer than `width` (a URL, a token) is broken inside. Past `maxLines` the
 * rest is cut, the last line ending in `…`. Always at least one line.
 */
export function wrap(text: string, width: number, maxLines = Number.POSITIVE_INFINITY): string[] {
  const size = Math.max(1, Math.floor(width));
  const lines: string[] = [];
  let line: string[] = [];
  for (const word of text.split(' ')) {
    const chars = Array.from(word);
    if (chars.length === 0) continue;
    if (line.length > 0 && line.length + 1 + chars.length <= size) {
      line.push(' ', ...chars);
      continue;
    }
    let start = 0;
    if (chars.length > size && line.length > 0 && line.length + 1 < size) {
      // Too long for any line: it starts where the line stands, and breaks inside.
      start = size - line.length - 1;
      line.push(' ', ...chars.slice(0, start));
    }
    if (line.length > 0) lines.push(line.join(''));
    for (; chars.length - start > size; start += size) lines.push(chars.slice(start, start + size).join(''));
    line = chars.slice(start);
  }
  if (line.length > 0 || lines.length === 0) lines.push(line.join(''));
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, Math.max(1, maxLines));
  const last = Array.from(kept.at(-1) ?? '');
  kept[kept.length - 1] = `${(last.length < size ? last : last.slice(0, size - 1)).join('')}…`;
  return kept;
}

/** Width on screen, ignoring colour codes. */
export function visibleWidth(text: string): number {
  return Array.from(text.replace(ANSI, '')).length;
}

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: 'left' | 'right';
}

/**
 * A plain-text table: a header row, then one row per entry, columns two spaces
 * apart, each as wide as its widest cell. Cells are used as given (colour
 * included), so clean and truncate them first. No trailing spaces.
 */
export function table(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  style: Style = createStyle(false),
): string[] {
  const widths = columns.map((column, i) =>
    Math.max(visibleWidth(column.header), ...rows.map((row) => visibleWidth(row[i] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleWidth(cell)));
        return columns[i]?.align === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [style.bold(line(columns.map((c) => c.header))), ...rows.map((row) => line(row))];
}

/** `2026-11-27 09:30:05` (UTC) from an ISO time; the input as it is if it is not one. */
export function formatTime(iso: string | null): string {
  if (iso === null || iso === '') return '-';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** A duration for people: `85 ms`, `1.2 s`, `3m 05s`, `2h 03m`, `4d 07h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${two(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${two(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${two(Math.floor(seconds / 3600) % 24)}h`;
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of `30m`, `24h`, `7d`, `1h30m` (units s, m, h, d, w); undefined if it is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const value = text.trim().toLowerCase();
  if (!/^(\d+[smhdw])+$/.test(value)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)([smhdw])/g)) ms += Number(amount) * (UNIT_MS[unit ?? ''] ?? 0);
  return ms;
}

/**
 * A point in time given on the command line: a duration back from now (`24h`)
 * or an ISO-8601 time (`2026-11-27`, `2026-11-27T09:30:00Z`). Returns the ISO
 * time; a bad value is an error that names the flag.
 */
export function parseTimeArgument(value: string, flag: string, nowMs: number): string {
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(nowMs - ago).toISOString();
  // Date.parse alone takes "5" as the year 2005: require a date first.
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value.trim())
    ? Date.parse(value.trim())
    : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new CliError(
      `${flag}: expected a duration back from now (30m, 24h, 7d) or an ISO time (2026-11-27T09:30:00Z), got "${value}"`,
    );
  }
  return new Date(ms).toISOString();
}

/** A whole number within bounds, from a flag; a bad value is an error that names the flag. */
export function parseInteger(
  value: string,
  flag: string,
  bounds: { readonly min: number; readonly max: number },
): number {
  const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < bounds.min || n > bounds.max) {
    throw new CliError(`${flag}: expected a whole number from ${bounds.min} to ${bounds.max}, got "${value}"`);
  }
  return n;
}

/** `1 failure`, `3 failures`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** The host of an `endpoint_host` value (`https://crm.example.com` → `crm.example.com`). */
export function hostOnly(endpointHost: string): string {
  try {
    return new URL(endpointHost).host;
  } catch {
    return endpointHost === '' ? '-' : endpointHost;
  }
}
