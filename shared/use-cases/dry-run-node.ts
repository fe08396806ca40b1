import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../config/env.ts';
import { authHeader, buildRequest, signRequest } from '../domain/build-request.ts';
import { deliveryId, requestTimeoutOf, type DeliveryMessage } from '../domain/delivery.ts';
import { endpointHost } from '../domain/endpoint.ts';
import { describeEmpty, type EmptyPlaceholder } from '../domain/empty-placeholders.ts';
import { renderNode } from '../domain/render-node.ts';
import { WEBHOOK_SIGNATURE } from '../domain/signing.ts';
import { ValidationError } from '../errors.ts';
import type { CredentialStore } from '../ports/credential-store.ts';
import type { Credential } from '../schemas/credential.ts';
import { templateContextOf, type RunCompletedDetail } from '../schemas/event.ts';
import { NO_RETRY } from '../schemas/node.ts';
import { extractWebhookNodes } from '../schemas/workflow.ts';

/** What one node would send for one run, with every secret masked. */
export interface DryRun {
  readonly delivery_id: string;
  readonly node_id: string;
  readonly enabled: boolean;
  readonly method: string;
  readonly url: string;
  /** In the order they are sent; the credential's value masked. */
  readonly headers: readonly (readonly [string, string])[];
  /** Exactly the text sent (and signed); null for GET and DELETE. */
  readonly body: string | null;
  /** `organization`, `node`, or null when unsigned (or unknown: see notes). */
  readonly signed_with: 'organization' | 'node' | null;
  readonly empty_placeholders: readonly EmptyPlaceholder[];
  readonly dropped_headers: readonly { readonly name: string; readonly reason: string }[];
  /** What the dry run could not show, and why. */
  readonly notes: readonly string[];
}

export const MASK = '****';

/**
 * The dry run of one node: renders it as the render function would, builds the
 * request of attempt 1 as the deliver function would (credential header, X-Dograh-*,
 * signature over exactly the body), and masks the credential's value. Without a
 * credential store (no secrets file) the credential and signing headers are left
 * to notes. Never sends anything, never fetches an OAuth2 token.
 *
 * Throws `ValidationError` for a node that is not there or not valid,
 * `InvalidTemplateError` for one that cannot render, and `CredentialError` when
 * the delivery would fail for its credential or signing secret.
 */
export async function dryRunNode(
  detail: RunCompletedDetail,
  nodeId: string,
  credentials: CredentialStore | undefined,
  now: Date,
  source = 'event',
): Promise<DryRun> {
  const { nodes, problems } = extractWebhookNodes(detail.workflow_definition.nodes);
  const node = nodes.find((n) => n.id === nodeId);
  if (node === undefined) {
    const own = problems.filter((p) => p.source === nodeId);
    if (own.length > 0) throw new ValidationError(own.map((p) => ({ ...p, source: `${source}: node ${nodeId}` })));
    throw new ValidationError([
      { source, path: 'workflow_definition.nodes', reason: `no webhook node with id "${nodeId}"` },
    ]);
  }
  const rendered = renderNode(node, templateContextOf(detail), now);
  const message: DeliveryMessage = {
    v: 1,
    delivery_id: deliveryId(detail.organization_id, detail.workflow_run_id, node.id),
    organization_id: detail.organization_id,
    workflow_id: detail.workflow_id,
    workflow_run_id: detail.workflow_run_id,
    node_id: node.id,
    node_name: node.data.name,
    method: rendered.method,
    url: rendered.url,
    headers: rendered.headers,
    body: rendered.body,
    credential_uuid: node.data.credential_uuid,
    signing_credential_uuid: node.data.signing_credential_uuid,
    retry: node.data.retry_config ?? NO_RETRY,
    rendered_at: now.toISOString(),
  };
  const notes: string[] = [];
  if (!node.data.enabled) notes.push('the node is disabled: this run would skip it');
  for (const d of rendered.droppedHeaders) notes.push(`custom header ${d.name} is dropped: ${d.reason}`);

  let credential: Credential = { type: 'NONE' };
  let masked: string | undefined;
  if (message.credential_uuid !== null) {
    if (credentials === undefined) {
      notes.push(
        `credential ${message.credential_uuid}: its auth header is added at send time (give --secrets to see it, masked)`,
      );
    } else {
      credential = await credentials.get(message.organization_id, message.credential_uuid);
      if (credential.type === 'OAUTH2_CLIENT_CREDENTIALS') {
        notes.push(
          `credential ${message.credential_uuid}: the bearer token is fetched from ${endpointHost(credential.token_url)} at send time`,
        );
        credential = { type: 'BEARER_TOKEN', token: MASK };
      }
      masked = authHeader(credential, message.credential_uuid)?.[0];
    }
  }

  let signing: readonly string[] | null = null;
  if (credentials === undefined) {
    notes.push(
      message.signing_credential_uuid == null
        ? "signature: the organization's signing secret, if it has one, signs at send time (give --secrets to see the signature)"
        : `signature: signing secret ${message.signing_credential_uuid} signs at send time (give --secrets to see the signature)`,
    );
  } else {
    signing = await credentials.signingSecrets(message.organization_id, message.signing_credential_uuid ?? null);
    if (signing === null) notes.push(`unsigned: organization ${message.organization_id} has no signing secret`);
  }

  const request = signRequest(
    buildRequest(message, credential, 1, requestTimeoutOf(message, DEFAULT_REQUEST_TIMEOUT_SECONDS * 1000)),
    message.delivery_id,
    Math.floor(now.getTime() / 1000),
    signing,
  );
  const headers = Object.entries(request.headers).map(([name, value]): [string, string] => [
    name,
    name === masked ? maskValue(value) : value,
  ]);
  if (signing !== null && signing.length > 1)
    notes.push(`${WEBHOOK_SIGNATURE}: ${signing.length} signatures, one per secret of the rotation`);
  return {
    delivery_id: message.delivery_id,
    node_id: node.id,
    enabled: node.data.enabled,
    method: request.method,
    url: request.url,
    headers,
    body: request.body,
    signed_with: signing === null ? null : message.signing_credential_uuid == null ? 'organization' : 'node',
    empty_placeholders: rendered.emptyPlaceholders,
    dropped_headers: rendered.droppedHeaders,
    notes,
  };
}

/** `Bearer ****`, `Basic ****`: the scheme stays readable, the secret does not. */
function maskValue(value: string): string {
  const scheme = /^(Bearer|Basic) /i.exec(value)?.[1];
  return scheme === undefined ? MASK : `${scheme} ${MASK}`;
}

/** The dry run as text: the request as it goes on the wire, then the empty values and notes. */
export function formatDryRun(run: DryRun): string[] {
  const lines = [`${run.method} ${run.url}`, ...run.headers.map(([name, value]) => `${name}: ${value}`), ''];
  lines.push(run.body ?? '(no body)');
  lines.push('');
  if (run.empty_placeholders.length === 0) lines.push('empty values: none');
  else {
    lines.push('empty values:');
    for (const e of run.empty_placeholders) lines.push(`  ${describeEmpty(e)}`);
  }
  if (run.notes.length > 0) {
    lines.push('notes:');
    for (const note of run.notes) lines.push(`  ${note}`);
  }
  return lines;
}
