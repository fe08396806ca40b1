import { describe, expect, it } from 'vitest';
import * as z from 'zod';
// Every module that defines or parses our schemas: none of them may change zod for the rest of the process.
import '../../shared/config/config.ts';
import '../../shared/schemas/credential.ts';
import '../../shared/schemas/event.ts';
import '../../shared/schemas/input-file.ts';
import '../../shared/schemas/node.ts';
import '../../shared/schemas/workflow.ts';
import { problemsFrom, safeParse } from '../../shared/schemas/issues.ts';
import { WebhookNodeSchema } from '../../shared/schemas/node.ts';

describe('zod error messages', () => {
  it('leaves zod’s global error config as it found it: importing a module sets nothing', () => {
    expect(z.config().customError).toBeUndefined();
    const other = z.object({ name: z.string() }).safeParse({});
    expect(other.error?.issues[0]?.message).not.toMatch(/^required/);
  });

  it('words a missing field as "required (type)" when parsed through safeParse', () => {
    const parsed = safeParse(WebhookNodeSchema, { id: 'n1', type: 'webhook', data: {} });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(problemsFrom(parsed.error)).toContainEqual({ path: 'data.endpoint_url', reason: 'required (string)' });
  });

  it('words a value of the wrong type as what is wanted and what was found', () => {
    const parsed = safeParse(z.object({ n: z.number() }), { n: 'x' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('must be a number, not the text "x"');
  });

  describe('in our words, never zod’s own texts', () => {
    const Schema = z.object({
      count: z.int().min(1).max(10),
      method: z.enum(['GET', 'POST']),
      name: z.string().min(1),
      tags: z.array(z.string()).min(1),
      strict: z.strictObject({}),
      flag: z.boolean(),
    });

    it('says what is wanted and what was found', () => {
      const result = safeParse(Schema, {
        count: 11.5,
        method: 'TRACE',
        name: '',
        tags: [],
        strict: { x: 1 },
        flag: 'yes',
      });
      expect(result.success).toBe(false);
      const reasons = Object.fromEntries(problemsFrom(result.error!).map((p) => [p.path, p.reason]));
      expect(reasons).toEqual({
        count: 'must be a whole number, not the number 11.5',
        method: 'must be one of GET, POST, not the text "TRACE"',
        name: 'must not be empty',
        tags: 'must have at least 1 item',
        strict: 'unknown field "x"',
        flag: 'must be true or false, not the text "yes"',
      });
    });

    it('says required for a missing field, names the bound of a number out of range, cuts a long value', () => {
      const missing = problemsFrom(safeParse(Schema, { count: 0 }).error!);
      expect(missing.find((p) => p.path === 'count')?.reason).toBe('must be at least 1');
      expect(missing.find((p) => p.path === 'method')?.reason).toBe('required (one of GET, POST)');
      expect(missing.find((p) => p.path === 'flag')?.reason).toBe('required (boolean)');
      expect(problemsFrom(safeParse(Schema, { count: 'x'.repeat(100) }).error!)[0]?.reason).toBe(
        `must be a number, not the text "${'x'.repeat(39)}…"`,
      );
    });
  });
});
