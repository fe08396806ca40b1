import { InvalidTemplateError } from '../errors.ts';

/**
 * Text as Dograh's Python writes it: `str()` of a value, `json.dumps` of an object
 * or array with its defaults, `str.strip()`, `str.isspace()` and `str.title()`.
 * Dograh's renderer turns every placeholder value into text with these, so a
 * payload is byte-identical only if we write values the same way.
 */

/** `str.isspace()` (and the regex `\s` of a str pattern): Python's whitespace, not JavaScript's. */
export function isPySpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d) || (code >= 0x1c && code <= 0x1f);
  if (code < 0x85) return false;
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** `str.strip()` with no argument. */
export function pyStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isPySpace(text.charCodeAt(start))) start++;
  while (end > start && isPySpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** Deeper than this, an object or array value is refused rather than written (a stack guard). */
export const MAX_VALUE_DEPTH = 200;

/**
 * `str(value)` as Dograh's renderer applies it to a placeholder's value: None is "",
 * booleans `True`/`False`, numbers as Python's repr, dicts and lists as `json.dumps`.
 */
export function pyStr(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return pyNumber(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'bigint':
      return value.toString();
    case 'object':
      return value === null ? '' : pyJsonDumps(value);
    default:
      return '';
  }
}

/**
 * A JSON number as Python prints it. Integers (all a JavaScript number can tell us: `185.0`
 * arrives as 185) in decimal digits; other floats as `repr(float)`: the shortest digits that
 * round-trip (the same digits JavaScript picks), in exponent form when the decimal point
 * would sit 4 or more places left of the first digit (`1e-05`) or 16 or more right of it.
 */
export function pyNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n)) return Math.abs(n) >= 1e21 ? BigInt(n).toString() : String(n === 0 ? 0 : n);
  // From 1e-4 up (and every float below 1e16 is an integer there), Python and JavaScript agree.
  if (Math.abs(n) >= 1e-4) return String(n);
  const exponential = n.toExponential(); // "1.2345e-7": shortest round-trip digits
  const e = exponential.indexOf('e');
  const exponent = Number(exponential.slice(e + 1));
  // Python's repr switches to exponent form when decpt <= -4 or decpt > 16 (decpt = exponent + 1).
  if (exponent >= -4 && exponent < 16) return String(n);
  const sign = exponent < 0 ? '-' : '+';
  const digits = String(Math.abs(exponent)).padStart(2, '0');
  return `${exponential.slice(0, e)}e${sign}${digits}`;
}

/**
 * `json.dumps(value)` with Python's defaults: `", "` and `": "` separators, every
 * character outside printable ASCII escaped as `\uXXXX`, keys in their order.
 */
export function pyJsonDumps(value: unknown): string {
  const parts: string[] = [];
  write(value, 0);
  return parts.join('');

  function write(v: unknown, depth: number): void {
    if (v === null || v === undefined) {
      parts.push('null');
    } else if (typeof v === 'string') {
      parts.push(pyJsonString(v));
    } else if (typeof v === 'number') {
      parts.push(pyNumber(v));
    } else if (typeof v === 'boolean') {
      parts.push(v ? 'true' : 'false');
    } else if (typeof v === 'bigint') {
      parts.push(v.toString());
    } else if (typeof v === 'object') {
      if (depth >= MAX_VALUE_DEPTH) {
        throw new InvalidTemplateError(
          '',
          `a value is nested deeper than ${MAX_VALUE_DEPTH} levels, so it cannot be written into a template`,
        );
      }
      if (Array.isArray(v)) {
        parts.push('[');
        for (let i = 0; i < v.length; i++) {
          if (i > 0) parts.push(', ');
          write(v[i], depth + 1);
        }
        parts.push(']');
      } else {
        parts.push('{');
        let first = true;
        for (const key of Object.keys(v)) {
          if (!first) parts.push(', ');
          first = false;
          parts.push(pyJsonString(key), ': ');
          write((v as Record<string, unknown>)[key], depth + 1);
        }
        parts.push('}');
      }
    } else {
      parts.push('null');
    }
  }
}

const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: '\\\\',
  10: '\\n',
  13: '\\r',
  9: '\\t',
  8: '\\b',
  12: '\\f',
};

/** A JSON string with `ensure_ascii=True`: code units outside `' '..'~'` as `\uXXXX` (surrogate pairs stay pairs). */
export function pyJsonString(text: string): string {
  let out = '"';
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    out += text.slice(run, i) + (SHORT_ESCAPES[code] ?? `\\u${code.toString(16).padStart(4, '0')}`);
    run = i + 1;
  }
  return `${out}${text.slice(run)}"`;
}

// Characters whose title case is not their upper case (Python's str.title() uses the
// title case): generated with Python 3.11 from `chr(c).title() != chr(c).upper()`.
const TITLE_SOURCE =
  'df:53.73 1c4:1c5 1c5:1c5 1c6:1c5 1c7:1c8 1c8:1c8 1c9:1c8 1ca:1cb 1cb:1cb 1cc:1cb 1f1:1f2 1f2:1f2 1f3:1f2 587:535.582 ' +
  '1f80:1f88 1f81:1f89 1f82:1f8a 1f83:1f8b 1f84:1f8c 1f85:1f8d 1f86:1f8e 1f87:1f8f 1f88:1f88 1f89:1f89 1f8a:1f8a 1f8b:1f8b ' +
  '1f8c:1f8c 1f8d:1f8d 1f8e:1f8e 1f8f:1f8f 1f90:1f98 1f91:1f99 1f92:1f9a 1f93:1f9b 1f94:1f9c 1f95:1f9d 1f96:1f9e 1f97:1f9f ' +
  '1f98:1f98 1f99:1f99 1f9a:1f9a 1f9b:1f9b 1f9c:1f9c 1f9d:1f9d 1f9e:1f9e 1f9f:1f9f 1fa0:1fa8 1fa1:1fa9 1fa2:1faa 1fa3:1fab ' +
  '1fa4:1fac 1fa5:1fad 1fa6:1fae 1fa7:1faf 1fa8:1fa8 1fa9:1fa9 1faa:1faa 1fab:1fab 1fac:1fac 1fad:1fad 1fae:1fae 1faf:1faf ' +
  '1fb2:1fba.345 1fb3:1fbc 1fb4:386.345 1fb7:391.342.345 1fbc:1fbc 1fc2:1fca.345 1fc3:1fcc 1fc4:389.345 1fc7:397.342.345 ' +
  '1fcc:1fcc 1ff2:1ffa.345 1ff3:1ffc 1ff4:38f.345 1ff7:3a9.342.345 1ffc:1ffc fb00:46.66 fb01:46.69 fb02:46.6c fb03:46.66.69 ' +
  'fb04:46.66.6c fb05:53.74 fb06:53.74 fb13:544.576 fb14:544.565 fb15:544.56b fb16:54e.576 fb17:544.56d';
let titleTable: Map<number, string> | undefined;

function titleOf(code: number, char: string): string {
  if (code < 0x80) return char.toUpperCase();
  if (titleTable === undefined) {
    titleTable = new Map();
    for (const entry of TITLE_SOURCE.split(' ')) {
      const [from, to] = entry.split(':') as [string, string];
      titleTable.set(parseInt(from, 16), String.fromCodePoint(...to.split('.').map((h) => parseInt(h, 16))));
    }
  }
  // Georgian Mkhedruli letters have an upper case (Mtavruli) but are their own title case.
  if ((code >= 0x10d0 && code <= 0x10fa) || (code >= 0x10fd && code <= 0x10ff)) return char;
  return titleTable.get(code) ?? char.toUpperCase();
}

const CASED = /\p{Cased}/u;
const CASE_IGNORABLE = /\p{Case_Ignorable}/u;

function isCased(char: string): boolean {
  const code = char.charCodeAt(0);
  if (code < 0x80) return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
  return CASED.test(char);
}

/**
 * Python's `str.title()`: a character after a cased one is lower-cased, any other is
 * title-cased ("initial_context.missing" → "Initial_Context.Missing", "it's" → "It'S").
 */
export function pyTitle(text: string): string {
  const chars = Array.from(text);
  let out = '';
  let previousCased = false;
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] as string;
    const code = char.codePointAt(0) as number;
    if (previousCased) out += code === 0x3a3 ? (finalSigma(chars, i) ? 'ς' : 'σ') : char.toLowerCase();
    else out += titleOf(code, char);
    previousCased = isCased(char);
  }
  return out;
}

/** Python's Final_Sigma rule: a cased letter before (past case-ignorables), none after. */
function finalSigma(chars: readonly string[], i: number): boolean {
  let j = i - 1;
  while (j >= 0 && CASE_IGNORABLE.test(chars[j] as string)) j--;
  if (j < 0 || !isCased(chars[j] as string)) return false;
  let k = i + 1;
  while (k < chars.length && CASE_IGNORABLE.test(chars[k] as string)) k++;
  return k === chars.length || !isCased(chars[k] as string);
}
