import { InvalidTemplateError } from '../errors.ts';

/**
 * Dograh's time built-ins: `current_time` ("YYYY-MM-DD HH:MM:SS UTC"),
 * `current_time_<IANA zone>` (the zone's abbreviation instead of UTC),
 * `current_weekday` and `current_weekday_<IANA zone>`. Time comes in as an
 * argument, so rendering is a pure function of its inputs.
 */
export function builtinValue(name: string, now: Date, where: string): string | undefined {
  if (name === 'current_time') return formatTime(now, 'UTC', where);
  if (name === 'current_weekday') return formatWeekday(now, 'UTC', where);
  if (name.startsWith('current_time_')) return formatTime(now, name.slice('current_time_'.length), where);
  if (name.startsWith('current_weekday_')) return formatWeekday(now, name.slice('current_weekday_'.length), where);
  return undefined;
}

// Building an Intl formatter costs far more than using one: keep one per zone.
const timeFormats = new Map<string, Intl.DateTimeFormat>();
const weekdayFormats = new Map<string, Intl.DateTimeFormat>();

function formatter(cache: Map<string, Intl.DateTimeFormat>, zone: string, where: string, options: Intl.DateTimeFormatOptions) {
  let format = cache.get(zone);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-US', { ...options, timeZone: zone });
    } catch {
      throw new InvalidTemplateError(where, `unknown time zone "${zone}" in a current_time or current_weekday built-in`);
    }
    cache.set(zone, format);
  }
  return format;
}

function formatTime(now: Date, zone: string, where: string): string {
  const format = formatter(timeFormats, zone, where, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  });
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(now)) parts[part.type] = part.value;
  const abbreviation = zone === 'UTC' ? 'UTC' : parts['timeZoneName'];
  return `${parts['year']}-${parts['month']}-${parts['day']} ${parts['hour']}:${parts['minute']}:${parts['second']} ${abbreviation}`;
}

function formatWeekday(now: Date, zone: string, where: string): string {
  return formatter(weekdayFormats, zone, where, { weekday: 'long' }).format(now);
}
