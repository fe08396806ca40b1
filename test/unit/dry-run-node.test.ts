import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createFileCredentialStore } from '../../shared/adapters/file-credential-store.ts';
import { deliveryId } from '../../shared/domain/delivery.ts';
import { MAX_EMPTY_PLACEHOLDERS } from '../../shared/domain/empty-placeholders.ts';
import { renderNode } from '../../shared/domain/render-node.ts';
import { CredentialError, InvalidTemplateError, ValidationError } from '../../shared/errors.ts';
import { dryRunNode, formatDryRun } from '../../shared/use-cases/dry-run-node.ts';
import { makeContext, makeDetail, makeNode, makeNodeJson } from '../fixtures/factories.ts';

const PREFIX = 'webhooks/credentials';
const ORG_SECRET = 'whsec_s2Sv4yqTgP41vTZuCVO+BgeTj2M3W9zg1t1ASgn2KO0=';
const NODE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const TOKEN = 'CANARY-dry-run-token-77';
const NOW = new Date('2026-11-27T10:00:00Z');

const store = createFileCredentialStore(
  {
    [`${PREFIX}/42/crm-token`]: { type: 'BEARER_TOKEN', token: TOKEN },
    [`${PREFIX}/42/key`]: { type: 'API_KEY', api_key: TOKEN, header_name: 'X-Tenant-Key' },
    [`${PREFIX}/42/oauth`]: {
      type: 'OAUTH2_CLIENT_CREDENTIALS',
      token_url: 'https://auth.example.com/token',
      client_id: 'c',
      client_secret: TOKEN,
    },
    [`${PREFIX}/42/signing`]: { type: 'SIGNING', secrets: [ORG_SECRET] },
    [`${PREFIX}/42/node-sig`]: { type: 'SIGNING', secrets: [NODE_SECRET] },
  },
  PREFIX,
);

const detailWith = (...nodes: unknown[]) =>
  makeDetail({ nodes, initial_context: { customer_name: 'Ada', phone: null } });

describe('dry run of one node', () => {
  it('shows the request with the credential masked and a signature a receiver verifies over the body shown', async () => {
    const run = await dryRunNode(detailWith(makeNodeJson({ id: 'crm' })), 'crm', store, NOW);
    expect(run.delivery_id).toBe(deliveryId('42', makeDetail().workflow_run_id, 'crm'));
    expect(run.method).toBe('POST');
    expect(run.url).toMatch(/^https:\/\/crm\.example\.com\/hooks\/\d+$/);
    const headers = Object.fromEntries(run.headers);
    expect(headers['Authorization']).toBe('Bearer ****');
    expect(headers['X-Source']).toBe('dograh');
    expect(headers['X-Dograh-Delivery-Attempt']).toBe('1');
    expect(headers['webhook-timestamp']).toBe(String(NOW.getTime() / 1000));
    expect(run.signed_with).toBe('organization');
    expect(JSON.stringify(run)).not.toContain(TOKEN);
    // The standardwebhooks verifier checks the timestamp against its own clock: sign "now" for it.
    const live = await dryRunNode(detailWith(makeNodeJson({ id: 'crm' })), 'crm', store, new Date());
    expect(new Webhook(ORG_SECRET).verify(live.body ?? '', Object.fromEntries(live.headers))).toMatchObject({
      customer: 'Ada',
    });
  });

  it('masks an API key header whole, and an OAuth2 token without fetching it', async () => {
    const key = await dryRunNode(
      detailWith(makeNodeJson({ id: 'k', data: { credential_uuid: 'key' } })),
      'k',
      store,
      NOW,
    );
    expect(Object.fromEntries(key.headers)['X-Tenant-Key']).toBe('****');
    const oauth = await dryRunNode(
      detailWith(makeNodeJson({ id: 'o', data: { credential_uuid: 'oauth' } })),
      'o',
      store,
      NOW,
    );
    expect(Object.fromEntries(oauth.headers)['Authorization']).toBe('Bearer ****');
    expect(oauth.notes).toContain(
      'credential oauth: the bearer token is fetched from https://auth.example.com at send time',
    );
  });

  it("signs with the node's own signing secret when it names one", async () => {
    const run = await dryRunNode(
      detailWith(makeNodeJson({ id: 's', data: { signing_credential_uuid: 'node-sig' } })),
      's',
      store,
      new Date(),
    );
    expect(run.signed_with).toBe('node');
    expect(new Webhook(NODE_SECRET).verify(run.body ?? '', Object.fromEntries(run.headers))).toBeTruthy();
  });

  it('reports the placeholders that rendered empty: missing from the context, or null', async () => {
    const node = makeNodeJson({
      id: 'e',
      data: {
        custom_headers: [{ key: 'X-Phone', value: '{{initial_context.phone}}' }],
        payload_template: {
          a: '{{initial_context.customer_name}}',
          b: '{{initial_context.nope}}',
          c: '{{ initial_context.phone }}',
          d: '{{initial_context.nope | n/a}}',
        },
      },
    });
    const run = await dryRunNode(detailWith(node), 'e', store, NOW);
    expect(run.empty_placeholders).toEqual([
      { field: 'data.custom_headers.0.value', placeholder: '{{initial_context.phone}}', reason: 'null' },
      { field: 'data.payload_template', placeholder: '{{initial_context.nope}}', reason: 'missing' },
      { field: 'data.payload_template', placeholder: '{{ initial_context.phone }}', reason: 'null' },
    ]);
    const text = formatDryRun(run).join('\n');
    expect(text).toContain(
      "empty values:\n  data.custom_headers.0.value: {{initial_context.phone}} is null in the run's context\n",
    );
    expect(text).toContain("  data.payload_template: {{initial_context.nope}} is missing from the run's context");
  });

  it('leaves the credential and the signature to notes without a secrets file', async () => {
    const run = await dryRunNode(detailWith(makeNodeJson({ id: 'crm' })), 'crm', undefined, NOW);
    expect(run.headers.map(([name]) => name.toLowerCase())).not.toContain('authorization');
    expect(run.headers.map(([name]) => name)).not.toContain('webhook-signature');
    expect(run.notes.join('\n')).toMatch(/credential crm-token: its auth header is added at send time/);
    expect(run.signed_with).toBeNull();
  });

  it('fails as the delivery would: a missing credential, a missing named signing secret', async () => {
    await expect(
      dryRunNode(detailWith(makeNodeJson({ id: 'x', data: { credential_uuid: 'gone' } })), 'x', store, NOW),
    ).rejects.toThrow(CredentialError);
    await expect(
      dryRunNode(detailWith(makeNodeJson({ id: 'x', data: { signing_credential_uuid: 'gone' } })), 'x', store, NOW),
    ).rejects.toThrow(`credential ${PREFIX}/42/gone: signing secret not found in the secrets file`);
  });

  it('names a node that is not there, one that is invalid, and one that cannot render', async () => {
    await expect(dryRunNode(detailWith(makeNodeJson({ id: 'a' })), 'b', store, NOW, 'E.json')).rejects.toThrow(
      'E.json: workflow_definition.nodes: no webhook node with id "b"',
    );
    const invalid = await dryRunNode(
      detailWith(makeNodeJson({ id: 'a', data: { http_method: 'TRACE' } })),
      'a',
      store,
      NOW,
      'E.json',
    ).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as Error).message).toMatch(/^E\.json: node a: data\.http_method: /);
    await expect(
      dryRunNode(
        detailWith(makeNodeJson({ id: 'a', data: { endpoint_url: 'https://h/{{initial_context.nope}}' } })),
        'a',
        store,
        NOW,
      ),
    ).rejects.toThrow(InvalidTemplateError);
  });
});

describe('empty placeholders of a render', () => {
  it('lists each placeholder once per field and keeps at most the bound', () => {
    const template: Record<string, string> = {};
    for (let i = 0; i < 30; i++) template[`k${i}`] = `{{initial_context.missing_${i}}} {{initial_context.missing_0}}`;
    const rendered = renderNode(makeNode({ data: { payload_template: template } }), makeContext(), NOW);
    expect(rendered.emptyPlaceholders).toHaveLength(MAX_EMPTY_PLACEHOLDERS);
    expect(new Set(rendered.emptyPlaceholders.map((e) => e.placeholder)).size).toBe(MAX_EMPTY_PLACEHOLDERS);
  });

  it('reports nothing when every value is there, or a default fills it', () => {
    const rendered = renderNode(
      makeNode({ data: { payload_template: { a: '{{workflow_run_id}}', b: '{{initial_context.nope | none}}' } } }),
      makeContext(),
      NOW,
    );
    expect(rendered.emptyPlaceholders).toEqual([]);
  });
});
