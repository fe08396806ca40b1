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

  it('keeps zod’s own wording for a value of the wrong type', () => {
    const parsed = safeParse(z.object({ n: z.number() }), { n: 'x' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).not.toMatch(/^required/);
  });
});
