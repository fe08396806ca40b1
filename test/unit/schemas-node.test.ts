import { describe, expect, it } from 'vitest';
import { RetryConfigSchema, WebhookNodeSchema } from '../../shared/schemas/node.ts';
import { makeNodeJson } from '../fixtures/factories.ts';
import { paths, problems } from '../fixtures/problems.ts';

describe('webhook node', () => {
  it('fills the defaults of a minimal node', () => {
    expect(WebhookNodeSchema.parse({ id: 'w', type: 'webhook', data: { endpoint_url: 'https://h.example' } })).toEqual({
      id: 'w',
      type: 'webhook',
      data: {
        name: '',
        enabled: true,
        http_method: 'POST',
        endpoint_url: 'https://h.example',
        credential_uuid: null,
        signing_credential_uuid: null,
        custom_headers: [],
        payload_template: null,
      },
    });
  });

  it('keeps a disabled node, disabled', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { enabled: false } })).data.enabled).toBe(false);
  });

  it.each(['get', 'Post', 'put', 'PATCH', 'delete'])('accepts the method %s in any case', (method) => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { http_method: method } })).data.http_method).toBe(
      method.toUpperCase(),
    );
  });

  it('rejects a method outside GET, POST, PUT, PATCH, DELETE', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { http_method: 'TRACE' } })))).toEqual([
      'data.http_method',
    ]);
  });

  it('requires endpoint_url', () => {
    expect(problems(WebhookNodeSchema, makeNodeJson({ data: { endpoint_url: undefined } }))).toEqual([
      { path: 'data.endpoint_url', reason: 'required (string)' },
    ]);
  });

  it('rejects an endpoint_url that is not http or https', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { endpoint_url: 'file:///etc/passwd' } })))).toEqual([
      'data.endpoint_url',
    ]);
  });

  it('rejects a credential_uuid with "/"', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { credential_uuid: '../7/key' } })))).toEqual([
      'data.credential_uuid',
    ]);
  });

  it('reads a null credential_uuid as none', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { credential_uuid: null } })).data.credential_uuid).toBeNull();
  });

  it('reads null custom_headers as none', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { custom_headers: null } })).data.custom_headers).toEqual([]);
  });

  it('rejects a custom header with an empty name', () => {
    expect(problems(WebhookNodeSchema, makeNodeJson({ data: { custom_headers: [{ key: '', value: 'v' }] } }))).toEqual([
      { path: 'data.custom_headers.0.key', reason: 'header name must not be empty' },
    ]);
  });

  it.each([
    ['an object', { a: '{{x}}' }],
    ['an array', ['{{x}}', 1]],
    ['a string', '{{x}}'],
    ['null', null],
  ])('accepts %s as payload_template', (_name, template) => {
    expect(
      WebhookNodeSchema.parse(makeNodeJson({ data: { payload_template: template } })).data.payload_template,
    ).toEqual(template);
  });

  it('keeps unknown data fields', () => {
    expect(WebhookNodeSchema.parse(makeNodeJson({ data: { description: 'x' } })).data).toHaveProperty(
      'description',
      'x',
    );
  });

  it('leaves retry_config out when the node has none', () => {
    expect(
      WebhookNodeSchema.parse(makeNodeJson({ data: { retry_config: undefined } })).data.retry_config,
    ).toBeUndefined();
  });

  it('reports the path of a bad retry_config field inside the node', () => {
    expect(paths(problems(WebhookNodeSchema, makeNodeJson({ data: { retry_config: { max_attempts: 0 } } })))).toEqual([
      'data.retry_config.max_attempts',
    ]);
  });
});

describe('retry_config', () => {
  it('fills backoff, initial and maximum delay', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3 })).toEqual({
      max_attempts: 3,
      backoff: 'exponential',
      initial_delay_seconds: 30,
      max_delay_seconds: 3600,
    });
  });

  it('accepts fixed backoff', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3, backoff: 'fixed' }).backoff).toBe('fixed');
  });

  it('requires max_attempts', () => {
    expect(problems(RetryConfigSchema, {})).toEqual([{ path: 'max_attempts', reason: 'required (number)' }]);
  });

  it.each([1, 25])('accepts max_attempts %i', (n) => {
    expect(RetryConfigSchema.parse({ max_attempts: n }).max_attempts).toBe(n);
  });

  it.each([0, 26, 2.5, -1])('rejects max_attempts %s', (n) => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: n }))).toEqual(['max_attempts']);
  });

  it('accepts initial_delay_seconds 1', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 2, initial_delay_seconds: 1 }).initial_delay_seconds).toBe(1);
  });

  it('rejects initial_delay_seconds 0', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, initial_delay_seconds: 0 }))).toEqual([
      'initial_delay_seconds',
    ]);
  });

  it('accepts max_delay_seconds 43200', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 2, max_delay_seconds: 43200 }).max_delay_seconds).toBe(43200);
  });

  it('rejects max_delay_seconds over 43200', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, max_delay_seconds: 43201 }))).toEqual([
      'max_delay_seconds',
    ]);
  });

  it('rejects an unknown backoff', () => {
    expect(paths(problems(RetryConfigSchema, { max_attempts: 2, backoff: 'linear' }))).toEqual(['backoff']);
  });

  it('rejects an initial delay written longer than the maximum', () => {
    expect(problems(RetryConfigSchema, { max_attempts: 2, initial_delay_seconds: 100, max_delay_seconds: 50 })).toEqual(
      [{ path: 'initial_delay_seconds', reason: 'initial_delay_seconds must not exceed max_delay_seconds' }],
    );
  });

  it('starts at the maximum delay when it is shorter than the default initial delay', () => {
    expect(RetryConfigSchema.parse({ max_attempts: 3, max_delay_seconds: 10 })).toMatchObject({
      initial_delay_seconds: 10,
      max_delay_seconds: 10,
    });
  });

  it('reports every bad field at once', () => {
    expect(
      paths(
        problems(RetryConfigSchema, {
          max_attempts: 26,
          backoff: 'linear',
          initial_delay_seconds: 0,
          max_delay_seconds: 50000,
        }),
      ),
    ).toEqual(['max_attempts', 'backoff', 'initial_delay_seconds', 'max_delay_seconds']);
  });
});
