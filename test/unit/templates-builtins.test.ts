import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/schemas/node.ts';
import { renderBody, renderPayload } from '../../shared/templates/render.ts';
import { FIXED_NOW } from '../fixtures/factories.ts';
import { CONTEXT, render } from '../fixtures/templates.ts';

// The rules of ../shared/CONTRACT.md section 3, one behaviour per test: built-ins and call_disposition.

describe('built-ins', () => {
  it('writes current_time as "YYYY-MM-DD HH:MM:SS UTC"', () => {
    expect(render('{{current_time}}')).toBe('2026-11-27 09:30:00 UTC');
  });

  it('writes current_time_<zone> in the zone with its abbreviation', () => {
    expect(render('{{current_time_America/New_York}}')).toBe('2026-11-27 04:30:00 EST');
  });

  it('follows daylight saving time in current_time_<zone>', () => {
    expect(render('{{current_time_America/New_York}}', CONTEXT, new Date('2026-07-04T16:05:09Z'))).toBe(
      '2026-07-04 12:05:09 EDT',
    );
  });

  it('writes current_time_<zone> for a Pacific zone', () => {
    expect(render('{{current_time_America/Los_Angeles}}')).toBe('2026-11-27 01:30:00 PST');
  });

  it('writes current_time_UTC with "UTC"', () => {
    expect(render('{{current_time_UTC}}')).toBe('2026-11-27 09:30:00 UTC');
  });

  it('writes midnight as 00, not 24', () => {
    expect(render('{{current_time}}', CONTEXT, new Date('2026-11-27T00:05:07Z'))).toBe('2026-11-27 00:05:07 UTC');
  });

  it('moves the date with the zone', () => {
    expect(render('{{current_time_Asia/Tokyo}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toMatch(
      /^2026-11-28 05:00:00 /,
    );
  });

  it('writes current_weekday as the English day name in UTC', () => {
    expect(render('{{current_weekday}}')).toBe('Friday');
  });

  it('writes current_weekday_<zone> for the day in that zone', () => {
    expect(render('{{current_weekday_America/New_York}}', CONTEXT, new Date('2026-11-27T02:00:00Z'))).toBe('Thursday');
  });

  it('uses the same instant for every built-in of one render', () => {
    expect(render('{{current_weekday}} {{current_time}}')).toBe('Friday 2026-11-27 09:30:00 UTC');
  });

  it('writes the instant of each render, one render after another', () => {
    expect(render('{{current_time}}', CONTEXT, new Date('2026-07-04T16:05:09Z'))).toBe('2026-07-04 16:05:09 UTC');
    expect(render('{{current_time}}', CONTEXT, new Date('2026-07-04T16:05:10Z'))).toBe('2026-07-04 16:05:10 UTC');
    expect(render('{{current_weekday}}', CONTEXT, new Date('2026-07-04T16:05:10Z'))).toBe('Saturday');
    expect(render('{{current_weekday}}', CONTEXT, new Date('2026-07-05T16:05:10Z'))).toBe('Sunday');
  });

  it('allows spaces and a default around a built-in', () => {
    expect(render('{{ current_weekday | never }}')).toBe('Friday');
  });

  it('lets a built-in win over a context key of the same name, as in Dograh', () => {
    expect(render('{{current_time}}', { current_time: 'from the run' })).toBe('2026-11-27 09:30:00 UTC');
  });

  it.each([
    ['Europe/Paris', '2026-11-27 10:30:00 CET'],
    ['Asia/Kolkata', '2026-11-27 15:00:00 IST'],
    ['Asia/Tokyo', '2026-11-27 18:30:00 JST'],
    ['Australia/Sydney', '2026-11-27 20:30:00 AEDT'],
    ['Asia/Dubai', '2026-11-27 13:30:00 +04'],
    ['Asia/Kathmandu', '2026-11-27 15:15:00 +0545'],
    ['Etc/GMT+5', '2026-11-27 04:30:00 -05'],
  ])('writes current_time_%s with the tz database abbreviation', (zone, expected) => {
    expect(render(`{{current_time_${zone}}}`)).toBe(expected);
  });

  it('writes CEST in summer', () => {
    expect(render('{{current_time_Europe/Berlin}}', CONTEXT, new Date('2026-07-01T12:00:00Z'))).toBe(
      '2026-07-01 14:00:00 CEST',
    );
  });

  it('gives current_weekday the zone of the first zoned built-in of the string', () => {
    expect(render('{{current_time_Asia/Tokyo}} {{current_weekday}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toBe(
      '2026-11-28 05:00:00 JST Saturday',
    );
  });

  it('gives current_time the zone of a later zoned built-in too', () => {
    expect(render('{{current_time}} / {{current_weekday_Asia/Tokyo}}', CONTEXT, new Date('2026-11-27T20:00:00Z'))).toBe(
      '2026-11-28 05:00:00 JST / Saturday',
    );
  });

  it('keeps the zone to its own string', () => {
    expect(render(['{{current_time_Asia/Tokyo}}', '{{current_time}}'])).toEqual([
      '2026-11-27 18:30:00 JST',
      '2026-11-27 09:30:00 UTC',
    ]);
  });

  it('does not treat a nested current_time as the built-in', () => {
    expect(render('[{{initial_context.current_time}}]')).toBe('[]');
  });

  it('renders an unknown zone as missing and warns, naming the zone', () => {
    const warnings: string[] = [];
    expect(
      renderPayload(
        { at: '[{{current_time_Mars/Olympus}}]' },
        { context: CONTEXT, now: FIXED_NOW, warnings },
        'data.payload_template',
      ),
    ).toEqual({ at: '[]' });
    expect(warnings).toEqual([
      'data.payload_template: unknown time zone "Mars/Olympus" in a current_time or current_weekday built-in: rendered as missing',
    ]);
  });

  it('applies the default to a built-in with an unknown zone', () => {
    expect(render('{{current_weekday_Nowhere | some day}}')).toBe('some day');
  });

  it('treats a zone spelled in another case as unknown, as Dograh on Linux does', () => {
    expect(render('[{{current_time_europe/paris}}]')).toBe('[]');
  });

  it('renders current_time_ with an empty zone as missing', () => {
    expect(render('[{{current_time_}}]')).toBe('[]');
  });
});

describe('call_disposition', () => {
  const scope = (context: unknown) => ({ context, now: FIXED_NOW });

  it('adds call_disposition from gathered_context to an object payload', () => {
    expect(renderBody({ run: '{{workflow_run_id}}' }, scope(CONTEXT))).toEqual({
      run: '1234',
      call_disposition: 'resolved',
    });
  });

  it('adds an empty call_disposition when gathered_context has none', () => {
    expect(renderBody({ run: 1 }, scope({ gathered_context: {} }))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds an empty call_disposition when the context has no gathered_context', () => {
    expect(renderBody({ run: 1 }, scope({}))).toEqual({ run: 1, call_disposition: '' });
  });

  it('adds a null call_disposition as it is, as Dograh does', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: null } }))).toEqual({ call_disposition: null });
  });

  it("keeps the template's own call_disposition", () => {
    expect(renderBody({ call_disposition: 'custom' }, scope(CONTEXT))).toEqual({ call_disposition: 'custom' });
  });

  it('keeps a rendered call_disposition key from the template', () => {
    expect(
      renderBody(
        { '{{k}}': 'mine' },
        scope({ k: 'call_disposition', gathered_context: { call_disposition: 'theirs' } }),
      ),
    ).toEqual({
      call_disposition: 'mine',
    });
  });

  it('adds a non-string call_disposition with its JSON type, as Dograh does', () => {
    expect(renderBody({}, scope({ gathered_context: { call_disposition: 3 } }))).toEqual({ call_disposition: 3 });
  });

  it.each([[''], [[]], [0], [false]])(
    'renders an empty template %j as an object with only call_disposition',
    (template) => {
      expect(renderBody(template as Json, scope(CONTEXT))).toEqual({ call_disposition: 'resolved' });
    },
  );

  it('renders a null template as an object with only call_disposition', () => {
    expect(renderBody(null, scope(CONTEXT))).toEqual({ call_disposition: 'resolved' });
  });

  it('does not add call_disposition to an array payload', () => {
    expect(renderBody(['{{text}}'], scope(CONTEXT))).toEqual(['hello']);
  });

  it('does not add call_disposition to a string payload', () => {
    expect(renderBody('{{text}}', scope(CONTEXT))).toBe('hello');
  });

  it('does not add call_disposition to a number payload', () => {
    expect(renderBody(5, scope(CONTEXT))).toBe(5);
  });

  it('does not add call_disposition to nested objects', () => {
    expect(renderBody({ inner: {} }, scope(CONTEXT))).toEqual({ inner: {}, call_disposition: 'resolved' });
  });
});
