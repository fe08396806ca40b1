import { ABBREVIATIONS, ZONES } from './tz-abbreviations.ts';

/**
 * Dograh's time built-ins, as its renderer resolves them: `current_time`
 * ("YYYY-MM-DD HH:MM:SS UTC"), `current_time_<zone>` (with the zone's tz database
 * abbreviation, as Python's `%Z` prints it: CET/CEST, IST, JST, AEDT, or "+04"),
 * `current_weekday` and `current_weekday_<zone>`. A built-in without a zone takes
 * `defaultZone`, the zone of the first zoned built-in in the same string.
 *
 * Zones are the keys Python's zoneinfo accepts, spelled exactly (Dograh runs on Linux,
 * where "europe/paris" names no file): anything else is an unknown zone, which renders
 * as missing and is reported through `warn`. Time comes in as an argument.
 */
export function builtinValue(
  name: string,
  now: Date,
  defaultZone: string | undefined,
  warn: (message: string) => void,
): string | undefined {
  if (!name.startsWith('current_')) return undefined;
  if (name === 'current_time') return formatTime(now, defaultZone ?? 'UTC', warn);
  if (name === 'current_weekday') return formatWeekday(now, defaultZone ?? 'UTC', warn);
  if (name.startsWith('current_time_')) return formatTime(now, name.slice('current_time_'.length), warn);
  if (name.startsWith('current_weekday_')) return formatWeekday(now, name.slice('current_weekday_'.length), warn);
  return undefined;
}

interface Zone {
  readonly time: Intl.DateTimeFormat;
  readonly weekday: Intl.DateTimeFormat;
  /** tz abbreviations by UTC offset in minutes; an offset not here has the numeric form. */
  readonly names: ReadonlyMap<number, string>;
  /**
   * The last instant formatted and its text, per built-in: the text is a pure function of
   * the instant and the zone, and one render passes the same `now` to every placeholder,
   * so a template with several built-ins formats the time once (formatToParts is the
   * costly step of a built-in).
   */
  timeAt: number;
  timeText: string;
  weekdayAt: number;
  weekdayText: string;
}

let known: Set<string> | undefined;
let namesByZone: Map<string, Map<number, string>> | undefined;
// One entry per zone that was used, keyed by its exact (canonical) name: bounded by the
// zone table (about 600), however many spellings tenants send.
const zones = new Map<string, Zone | null>();

/** How many zones have a formatter cached; for tests. */
export function zoneCacheSize(): number {
  return zones.size;
}

/** The zone, or undefined when Python's zoneinfo (or this runtime's Intl) does not know it. */
function zone(name: string): Zone | undefined {
  const cached = zones.get(name);
  if (cached !== undefined) return cached ?? undefined;
  if (known === undefined) known = new Set(ZONES.split(/\s+/).filter((z) => z !== ''));
  if (!known.has(name)) return undefined;
  if (namesByZone === undefined) {
    namesByZone = new Map();
    for (const [spec, members] of ABBREVIATIONS) {
      const names = new Map(
        spec.split(' ').map((pair) => {
          const [minutes, abbreviation] = pair.split('=') as [string, string];
          return [Number(minutes), abbreviation] as const;
        }),
      );
      for (const member of members.split(' ')) namesByZone.set(member, names);
    }
  }
  // "Factory" (the tz database's "zone not set", always UTC, named "-00") is not in ICU.
  const timeZone = name === 'Factory' ? 'UTC' : name;
  let entry: Zone | null;
  try {
    entry = {
      time: new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'longOffset',
      }),
      weekday: new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'long' }),
      names: namesByZone.get(name) ?? new Map(),
      timeAt: Number.NaN,
      timeText: '',
      weekdayAt: Number.NaN,
      weekdayText: '',
    };
  } catch {
    entry = null; // in the tz database, but not in this runtime's ICU
  }
  zones.set(name, entry);
  return entry ?? undefined;
}

function unknownZone(name: string, warn: (message: string) => void): undefined {
  warn(
    `unknown time zone "${name.length > 80 ? `${name.slice(0, 80)}...` : name}" in a current_time or current_weekday built-in: rendered as missing`,
  );
  return undefined;
}

function formatTime(now: Date, name: string, warn: (message: string) => void): string | undefined {
  const z = zone(name);
  if (z === undefined) return unknownZone(name, warn);
  // An invalid Date's NaN never equals the last instant: it goes on to throw as before.
  const at = now.getTime();
  if (at === z.timeAt) return z.timeText;
  const parts: Record<string, string> = {};
  for (const part of z.time.formatToParts(now)) parts[part.type] = part.value;
  const minutes = offsetMinutes(parts['timeZoneName'] ?? 'GMT');
  const abbreviation = z.names.get(minutes) ?? numericAbbreviation(minutes);
  const text = `${parts['year']}-${parts['month']}-${parts['day']} ${parts['hour']}:${parts['minute']}:${parts['second']} ${abbreviation}`;
  z.timeAt = at;
  z.timeText = text;
  return text;
}

function formatWeekday(now: Date, name: string, warn: (message: string) => void): string | undefined {
  const z = zone(name);
  if (z === undefined) return unknownZone(name, warn);
  const at = now.getTime();
  if (at === z.weekdayAt) return z.weekdayText;
  const text = z.weekday.format(now);
  z.weekdayAt = at;
  z.weekdayText = text;
  return text;
}

/** "GMT", "GMT+05:30", "GMT-03:00" → minutes east of UTC. */
function offsetMinutes(longOffset: string): number {
  const match = /^GMT([+-])(\d{2}):(\d{2})/.exec(longOffset);
  if (match === null) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** The tz database's numeric abbreviation of an offset: +05, +0530, -03. */
function numericAbbreviation(minutes: number): string {
  const abs = Math.abs(minutes);
  const hours = String(Math.floor(abs / 60)).padStart(2, '0');
  const rest = abs % 60;
  return `${minutes < 0 ? '-' : '+'}${hours}${rest === 0 ? '' : String(rest).padStart(2, '0')}`;
}
