import { describe, expect, it } from 'vitest';
import { escapeControl } from '../../cli/io.ts';
import { checkHeader, dropReason } from '../../shared/domain/headers.ts';
import { redact, redactString, redactText } from '../../shared/observability/redact.ts';
import { growthRatio, LINEAR_GROWTH_LIMIT } from '../fixtures/linear-time.ts';

// Each pattern is one a backtracking regex could trip on: a prefix that starts a match
// repeated so that every start fails late.
const HOSTILE_TEXT: ReadonlyArray<readonly [string, string]> = [
  ['a JWT start repeated', '-eyJ'],
  ['a JWT first part repeated', 'eyJa.'],
  ['JWT parts without the last dot', 'eyJa.eyJb'],
  ['upper-case letters', 'A'],
  ['e-mail local parts', 'a.'],
  ['at signs', 'a@b'],
  ['digits', '1'],
  ['digit groups', '1 '],
  ['key and separator', 'a= '],
  ['quoted keys', '"a":'],
  ['auth schemes', 'bearer '],
  ['URL schemes', 'a+'],
  ['scheme and slashes', 'http:/'],
  ['control characters', '\u0001'],
];

describe('redaction runs in linear time on hostile input', () => {
  it.each(HOSTILE_TEXT)('redactString: %s', (_name, unit) => {
    expect(growthRatio(redactString, unit)).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });

  it.each(HOSTILE_TEXT)('redactText (a snippet): %s', (_name, unit) => {
    expect(growthRatio((text) => redactText(text, 512), unit)).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });

  it.each(HOSTILE_TEXT)('redactText (a string inside a JSON body): %s', (_name, unit) => {
    expect(growthRatio((text) => redactText(text, 512), unit, { prefix: '{"detail":"', suffix: '"}' })).toBeLessThan(
      LINEAR_GROWTH_LIMIT,
    );
  });

  it.each(HOSTILE_TEXT)('isSensitiveKey (through redact): %s', (_name, unit) => {
    expect(growthRatio((key) => redact({ [key]: 1 }), unit)).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });
});

// Single character classes cannot backtrack; these few keep them honest if someone changes that.
const HOSTILE_FOR_CLASSES = HOSTILE_TEXT.filter(([, unit]) => ['-eyJ', 'A', 'a= ', '\u0001'].includes(unit));

describe('other text checks on tenant input run in linear time', () => {
  it.each(HOSTILE_FOR_CLASSES)('escapeControl: %s', (_name, unit) => {
    expect(growthRatio(escapeControl, unit)).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });

  it.each(HOSTILE_FOR_CLASSES)('custom header name and value checks: %s', (_name, unit) => {
    expect(growthRatio((name) => dropReason(name), unit)).toBeLessThan(LINEAR_GROWTH_LIMIT);
    expect(
      growthRatio((value) => {
        try {
          checkHeader(value, value, 'h');
        } catch {
          // An invalid name is the expected answer for most patterns; only the time matters.
        }
      }, unit),
    ).toBeLessThan(LINEAR_GROWTH_LIMIT);
  });
});
