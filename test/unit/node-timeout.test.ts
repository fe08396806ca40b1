import { describe, expect, it } from 'vitest';
import { requestTimeoutOf } from '../../shared/domain/delivery.ts';
import { WebhookNodeSchema } from '../../shared/schemas/node.ts';
import { makeDeliveryMessage } from '../fixtures/delivery-message.ts';
import { makeNodeJson } from '../fixtures/factories.ts';

// timeout_seconds (CONTRACT section 2): optional, 1-30, the stack's timeout without it.
describe('a node timeout_seconds', () => {
  const parse = (timeout: unknown) =>
    WebhookNodeSchema.safeParse(makeNodeJson({ data: { timeout_seconds: timeout } as never }));

  it.each([1, 10, 30])('accepts %i', (t) => expect(parse(t).success).toBe(true));
  it.each([0, 31, 1.5, '10', null])('refuses %j, naming the field', (t) => {
    const result = parse(t);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['data', 'timeout_seconds']);
  });
  it('is optional', () => expect(WebhookNodeSchema.parse(makeNodeJson()).data.timeout_seconds).toBeUndefined());

  it('sets the request timeout, never above the stack one', () => {
    expect(requestTimeoutOf(makeDeliveryMessage(1), 30_000)).toBe(30_000);
    expect(requestTimeoutOf(makeDeliveryMessage(1, { timeout_seconds: 5 }), 30_000)).toBe(5_000);
    expect(requestTimeoutOf(makeDeliveryMessage(1, { timeout_seconds: 20 }), 10_000)).toBe(10_000);
  });
});
