import { describe, expect, it } from 'vitest';
import {
  colourEnabled,
  createStyle,
  formatDuration,
  formatTime,
  hostOnly,
  oneLine,
  parseDuration,
  parseInteger,
  parseTimeArgument,
  plural,
  styleStatus,
  table,
  truncate,
  visibleWidth,
  wrap,
} from '../../cli/format.ts';
import { CliError } from '../../cli/io.ts';
import { targetArgs, targetOptions } from '../../cli/target.ts';

const NOW = Date.parse('2026-11-27T09:30:00.000Z');

describe('colourEnabled', () => {
  it('colours a terminal when NO_COLOR is not set', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
  });

  it('never colours a pipe or a file', () => {
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({}, {})).toBe(false);
  });

  it('honours NO_COLOR set to any non-empty value, as no-color.org says', () => {
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: 'false' })).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });
});

describe('createStyle', () => {
  it('wraps text in ANSI codes when enabled', () => {
    expect(createStyle(true).red('x')).toBe('\u001b[31mx\u001b[39m');
    expect(createStyle(true).bold('x')).toBe('\u001b[1mx\u001b[22m');
  });

  it('leaves text alone when disabled', () => {
    const style = createStyle(false);
    expect([style.red('a'), style.green('b'), style.yellow('c'), style.dim('d'), style.bold('e')]).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
  });

  it('colours statuses by meaning', () => {
    const style = createStyle(true);
    expect(styleStatus('delivered', style)).toBe(style.green('delivered'));
    expect(styleStatus('failed', style)).toBe(style.red('failed'));
    expect(styleStatus('retrying', style)).toBe(style.yellow('retrying'));
  });
});

describe('oneLine', () => {
  it('folds line breaks and tabs into single spaces', () => {
    expect(oneLine('  a\r\nb\t\tc  ')).toBe('a b c');
  });

  it('defuses terminal escapes and bidirectional overrides from remote text', () => {
    const cleaned = oneLine('ok\u001b]0;pwned\u0007 \u001b[2Jdone \u202eevil');
    expect(cleaned).not.toMatch(/[\u001b\u0007\u202e]/);
    expect(cleaned).toBe('ok\uFFFD]0;pwned\uFFFD \uFFFD[2Jdone \uFFFDevil');
  });
});

describe('truncate', () => {
  it('keeps text that fits', () => {
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('cuts to the width, ending in an ellipsis', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
  });

  it('never splits a character made of two UTF-16 units', () => {
    expect(truncate('😀😀😀', 2)).toBe('😀…');
  });
});

describe('wrap', () => {
  it('keeps text that fits on one line, and gives one empty line for no text', () => {
    expect(wrap('endpoint answered 500', 21)).toEqual(['endpoint answered 500']);
    expect(wrap('', 10)).toEqual(['']);
  });

  it('breaks at spaces, each line at most the width, dropping the space it breaks at', () => {
    expect(wrap('the endpoint kept failing for 3 attempts', 12)).toEqual([
      'the endpoint',
      'kept failing',
      'for 3',
      'attempts',
    ]);
  });

  it('breaks a word longer than the width inside it, starting where the line stands, and loses no character', () => {
    const host = 'https://customer-relationship-management.example.com:8443';
    const lines = wrap(`POST ${host}`, 20);
    expect(lines).toEqual(['POST https://custome', 'r-relationship-manag', 'ement.example.com:84', '43']);
    expect(lines.join('')).toBe(`POST ${host}`);
  });

  it('cuts past maxLines, the last line kept ending in an ellipsis within the width', () => {
    expect(wrap('one two three four five six', 9, 2)).toEqual(['one two', 'three…']);
    expect(wrap('abcdefghijklmnopqrstuvwxyz', 10, 2)).toEqual(['abcdefghij', 'klmnopqrs…']);
  });

  it('counts characters, never splitting one made of two UTF-16 units', () => {
    expect(wrap('😀😀😀😀😀', 2)).toEqual(['😀😀', '😀😀', '😀']);
  });
});

describe('table', () => {
  it('pads columns to their widest cell, right-aligns numbers, leaves no trailing space', () => {
    const lines = table(
      [{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }],
      [
        ['a', '7', 'x'],
        ['longer', '1234', ''],
      ],
    );
    expect(lines).toEqual(['NAME       N  NOTE', 'a          7  x', 'longer  1234']);
  });

  it('measures coloured cells by what shows', () => {
    const style = createStyle(true);
    const lines = table([{ header: 'CODE', align: 'right' }, { header: 'X' }], [[style.red('500'), 'y']]);
    expect(visibleWidth(lines[1] ?? '')).toBe('CODE  X'.length);
    expect(lines[1]).toBe(` ${style.red('500')}  y`);
  });
});

describe('formatTime', () => {
  it('shows an ISO time as UTC date and time to the second', () => {
    expect(formatTime('2026-11-27T09:30:05.123Z')).toBe('2026-11-27 09:30:05');
    expect(formatTime('2026-11-27T10:30:05+01:00')).toBe('2026-11-27 09:30:05');
  });

  it('shows a missing time as a dash', () => {
    expect(formatTime(null)).toBe('-');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [85, '85 ms'],
    [1_250, '1.2 s'],
    [59_999, '59.9 s'],
    [185_000, '3m 05s'],
    [7_380_000, '2h 03m'],
    [370_800_000, '4d 07h'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('parseDuration', () => {
  it('reads seconds, minutes, hours, days and weeks, and sums combinations', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('45s')).toBe(45_000);
  });

  it('answers undefined for anything else', () => {
    for (const text of ['', '30', 'h', '1.5h', '-1h', '1y', 'yesterday']) expect(parseDuration(text)).toBeUndefined();
  });
});

describe('parseTimeArgument', () => {
  it('takes a duration as that long before now', () => {
    expect(parseTimeArgument('24h', '--since', NOW)).toBe('2026-11-26T09:30:00.000Z');
  });

  it('takes an ISO date or time', () => {
    expect(parseTimeArgument('2026-11-01', '--since', NOW)).toBe('2026-11-01T00:00:00.000Z');
    expect(parseTimeArgument('2026-11-01T08:00:00+02:00', '--until', NOW)).toBe('2026-11-01T06:00:00.000Z');
  });

  it('refuses anything else with an error naming the flag', () => {
    for (const bad of ['yesterday', '5', '2026-13-45', '']) {
      expect(() => parseTimeArgument(bad, '--until', NOW)).toThrow(CliError);
      expect(() => parseTimeArgument(bad, '--until', NOW)).toThrow(/^--until: expected a duration back from now/);
    }
  });
});

describe('parseInteger', () => {
  it('takes a whole number within bounds', () => {
    expect(parseInteger('10', '--limit', { min: 1, max: 100 })).toBe(10);
  });

  it('refuses fractions, words and numbers out of bounds, naming the flag', () => {
    for (const bad of ['0', '101', '1.5', 'ten', '', '1e2']) {
      expect(() => parseInteger(bad, '--limit', { min: 1, max: 100 })).toThrow(
        /^--limit: expected a whole number from 1 to 100, got/,
      );
    }
  });
});

describe('small helpers', () => {
  it('counts with the right plural', () => {
    expect([plural(1, 'failure'), plural(2, 'failure'), plural(0, 'delivery', 'deliveries')]).toEqual([
      '1 failure',
      '2 failures',
      '0 deliveries',
    ]);
  });

  it('shows the host of an endpoint, with its port', () => {
    expect(hostOnly('https://crm.example.com')).toBe('crm.example.com');
    expect(hostOnly('http://127.0.0.1:8787')).toBe('127.0.0.1:8787');
    expect(hostOnly('')).toBe('-');
  });
});

describe('target flags', () => {
  it('passes --local alone, and --stack and --region as given', () => {
    expect(targetOptions({ local: true })).toEqual({ local: true });
    expect(targetOptions({ stack: 'S', region: 'eu-west-1' })).toEqual({ stack: 'S', region: 'eu-west-1' });
    expect(targetOptions({})).toEqual({});
  });

  it('refuses --local with --stack or --region', () => {
    expect(() => targetOptions({ local: true, stack: 'S' })).toThrow(
      /^--local: .*cannot be combined with --stack or --region$/,
    );
    expect(() => targetOptions({ local: true, region: 'eu-west-1' })).toThrow(CliError);
  });

  it('repeats the flags for a suggested next command', () => {
    expect(targetArgs({ local: true })).toBe(' --local');
    expect(targetArgs({ stack: 'S', region: 'r' })).toBe(' --stack S --region r');
    expect(targetArgs({})).toBe('');
  });
});
