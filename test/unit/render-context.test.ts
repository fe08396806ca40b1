import { describe, expect, it } from 'vitest';
import { renderNode } from '../../shared/domain/render-node.ts';
import { RunCompletedDetailSchema, templateContextOf } from '../../shared/schemas/event.ts';
import { FIXED_NOW, makeDetailJson, makeNode } from '../fixtures/factories.ts';

// Every variable of Dograh's render context (api/tasks/run_integrations.py,
// _build_render_context) reaches templates under its own name, and so does any other
// field of the event's detail.

function body(detail: Record<string, unknown>, payload_template: Record<string, string>): Record<string, unknown> {
  const parsed = RunCompletedDetailSchema.parse({ ...makeDetailJson(), ...detail });
  const node = makeNode({ data: { endpoint_url: 'https://h.example/x', payload_template } });
  return JSON.parse(renderNode(node, templateContextOf(parsed), FIXED_NOW).body as string) as Record<string, unknown>;
}

describe('the render context', () => {
  it('passes campaign_id, call_time, extra and the per-side recording URLs', () => {
    const detail = {
      campaign_id: 12,
      call_time: '2026-11-27T09:30:00.123456+00:00',
      extra: { source: 'campaign', attempt: 2 },
      user_recording_url: 'https://dograh.example/api/v1/public/download/workflow/t/user_recording',
      bot_recording_url: 'https://dograh.example/api/v1/public/download/workflow/t/bot_recording',
    };
    expect(
      body(detail, {
        campaign: '{{campaign_id}}',
        at: '{{call_time}}',
        source: '{{extra.source}}',
        extra: '{{extra}}',
        user: '{{user_recording_url}}',
        bot: '{{bot_recording_url}}',
      }),
    ).toMatchObject({
      campaign: '12',
      at: '2026-11-27T09:30:00.123456+00:00',
      source: 'campaign',
      extra: '{"source": "campaign", "attempt": 2}',
      user: detail.user_recording_url,
      bot: detail.bot_recording_url,
    });
  });

  it('passes a field of detail it does not know, as sent', () => {
    expect(
      body({ region: 'eu-west-1', meta: { tier: 'gold' } }, { r: '{{region}}', t: '{{meta.tier}}' }),
    ).toMatchObject({ r: 'eu-west-1', t: 'gold' });
  });

  it('renders absent or null optional variables as missing, so defaults apply', () => {
    expect(
      body(
        { campaign_id: null, extra: null, user_recording_url: null, workflow_name: null },
        {
          c: '{{campaign_id | none}}',
          e: '{{extra}}',
          u: '{{user_recording_url | none}}',
          b: '{{bot_recording_url | none}}',
          w: '{{workflow_name | unnamed}}',
        },
      ),
    ).toMatchObject({ c: 'none', e: '{}', u: 'none', b: 'none', w: 'unnamed' });
  });

  it('keeps the workflow definition out of the context', () => {
    expect(body({}, { d: '[{{workflow_definition}}]' })).toMatchObject({ d: '[]' });
  });
});

describe('template_mode', () => {
  it('is dograh unless the node says typed, and nothing else', async () => {
    const { WebhookNodeSchema } = await import('../../shared/schemas/node.ts');
    const parse = (template_mode: unknown) =>
      WebhookNodeSchema.safeParse({
        id: 'w',
        type: 'webhook',
        data: { endpoint_url: 'https://h.example', template_mode },
      });
    expect(parse(undefined).success).toBe(true);
    expect(parse('typed').success).toBe(true);
    expect(parse('dograh').success).toBe(true);
    const bad = parse('jinja');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('expected "dograh" or "typed"');
  });
});
