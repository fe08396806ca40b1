import { describe, expect, it } from 'vitest';
import { renderUrl } from '../../shared/templates/render.ts';
import { FIXED_NOW } from '../fixtures/factories.ts';
import { templateError } from '../fixtures/errors.ts';
import { url } from '../fixtures/templates.ts';

// The rules of ../shared/CONTRACT.md section 3, one behaviour per test: endpoint_url.

describe('endpoint_url', () => {
  it('renders placeholders into the URL', () => {
    expect(url('https://crm.example.com/hooks/{{workflow_id}}/runs/{{workflow_run_id}}')).toBe(
      'https://crm.example.com/hooks/77/runs/1234',
    );
  });

  it('returns a URL without placeholders unchanged', () => {
    expect(url('https://crm.example.com/hooks?x=1')).toBe('https://crm.example.com/hooks?x=1');
  });

  it('percent-encodes placeholder values', () => {
    expect(url('https://h.example/q?who={{spaced}}')).toBe(
      'https://h.example/q?who=two%20words%20%26%20more%2Fslashes%3F',
    );
  });

  it('percent-encodes a "/" in a value so it stays one path segment', () => {
    expect(url('https://h.example/runs/{{v}}/x', { v: '../../admin' })).toBe(
      'https://h.example/runs/..%2F..%2Fadmin/x',
    );
  });

  it('percent-encodes "#" so a value cannot cut the URL short', () => {
    expect(url('https://h.example/a/{{v}}?k=1', { v: 'x#frag' })).toBe('https://h.example/a/x%23frag?k=1');
  });

  it('percent-encodes unicode as UTF-8', () => {
    expect(url('https://h.example/{{v}}', { v: 'Zoë' })).toBe('https://h.example/Zo%C3%AB');
  });

  it('writes numbers in the URL as decimal text', () => {
    expect(url('https://h.example/{{float}}')).toBe('https://h.example/2.71875');
  });

  it('uses the default when the value is missing', () => {
    expect(url('https://h.example/{{ missing | none yet }}')).toBe('https://h.example/none%20yet');
  });

  it('uses the legacy default when the value is missing', () => {
    expect(url('https://h.example/{{ missing | fallback:0 }}')).toBe('https://h.example/0');
  });

  it('does not turn \\n in a URL template into a newline (the URL parser reads "\\" as "/")', () => {
    expect(url('https://h.example/a\\nb')).toBe('https://h.example/a/nb');
  });

  it('keeps an upper-case scheme, normalised by the URL parser', () => {
    expect(url('HTTPS://h.example/x')).toBe('https://h.example/x');
  });

  it('accepts http as written', () => {
    expect(url('http://127.0.0.1:8787/runs/{{workflow_run_id}}')).toBe('http://127.0.0.1:8787/runs/1234');
  });

  it('rejects a missing value', () => {
    const error = templateError(() => url('https://h.example/{{missing}}'));
    expect(error.path).toBe('data.endpoint_url');
    expect(error.reason).toBe('{{missing}} has no value, so the URL cannot be built');
  });

  it('rejects a null value', () => {
    expect(templateError(() => url('https://h.example/{{nothing}}')).reason).toContain('has no value');
  });

  it('rejects an empty value', () => {
    expect(templateError(() => url('https://h.example/{{empty}}')).reason).toContain('{{empty}} is empty');
  });

  it('accepts an empty default for a missing value, as Dograh does', () => {
    expect(url('https://h.example/a{{ missing | }}b')).toBe('https://h.example/ab');
  });

  it('writes booleans in a URL as true and false', () => {
    expect(url('https://h.example/{{yes}}/{{no}}')).toBe('https://h.example/true/false');
  });

  it("percent-encodes !'()* as Python's quote does", () => {
    expect(url('https://h.example/{{v}}', { v: "it's (a)!*" })).toBe('https://h.example/it%27s%20%28a%29%21%2A');
  });

  it.each([
    ['https://h.example/{{workflow_id', 'the URL template has a "{{" without its "}}"'],
    ['https://h.example/workflow_id}}', 'the URL template has a "}}" without its "{{"'],
    ['https://h.example/{{{{workflow_id}}}}', 'the URL template nests "{{" inside "{{"'],
    [
      'https://h.example/{{ workflow_id x }}',
      'the URL template has braces that are not a placeholder (write {{ path }} or {{ path | default }})',
    ],
  ])('rejects %s', (template, reason) => {
    expect(templateError(() => url(template)).reason).toBe(reason);
  });

  it('rejects an object value', () => {
    expect(templateError(() => url('https://h.example/{{obj}}')).reason).toBe(
      '{{obj}} is an object, which cannot be part of a URL',
    );
  });

  it('rejects an array value', () => {
    expect(templateError(() => url('https://h.example/{{list}}')).reason).toBe(
      '{{list}} is an array, which cannot be part of a URL',
    );
  });

  it('rejects a template that does not start with http:// or https://', () => {
    expect(templateError(() => url('ftp://h.example/x')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a javascript: URL', () => {
    expect(templateError(() => url('javascript:alert(1)')).reason).toBe('the URL must start with http:// or https://');
  });

  it('rejects a scheme made of a placeholder', () => {
    expect(templateError(() => url('{{scheme}}://h.example/', { scheme: 'https' })).reason).toBe(
      'the URL must start with http:// or https://',
    );
  });

  it('rejects a scheme completed by a placeholder', () => {
    expect(templateError(() => url('http{{s}}://h.example/', { s: 's' })).reason).toBe(
      'the URL must start with http:// or https://',
    );
  });

  it('rejects leading spaces before the scheme', () => {
    expect(templateError(() => url(' https://h.example/')).reason).toBe('the URL must start with http:// or https://');
  });

  it('keeps the scheme when a value looks like "javascript:" in the host position', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'javascript:alert(1)' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('keeps a "javascript:" value inside the path as encoded text', () => {
    expect(url('https://h.example/{{v}}', { v: 'javascript:alert(1)' })).toBe(
      'https://h.example/javascript%3Aalert%281%29',
    );
  });

  it('does not let a value with "@" change the host', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'user@evil.example' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('does not let a value with "@" after the host change the host', () => {
    expect(templateError(() => url('https://crm.example.com{{v}}/x', { v: '@evil.example' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('does not let a value with ":port" change the port', () => {
    expect(templateError(() => url('https://{{v}}/x', { v: 'h.example:8443' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('keeps a value with "@" in the path as encoded text, leaving the host alone', () => {
    const rendered = url('https://crm.example.com/{{v}}', { v: 'user@evil.example' });
    expect(new URL(rendered).host).toBe('crm.example.com');
    expect(rendered).toBe('https://crm.example.com/user%40evil.example');
  });

  it('rejects a user name written in the template', () => {
    expect(templateError(() => url('https://user@h.example/x')).reason).toBe(
      'the URL must not carry a user name or password: store them in a credential',
    );
  });

  it('rejects a user name and password written in the template', () => {
    expect(templateError(() => url('https://user:secret@h.example/x')).reason).toContain(
      'must not carry a user name or password',
    );
  });

  it('rejects user info built around a placeholder', () => {
    expect(templateError(() => url('https://{{v}}@h.example/x', { v: 'someone' })).reason).toContain(
      'must not carry a user name or password',
    );
  });

  it('rejects a URL whose rendered host is invalid', () => {
    expect(templateError(() => url('https://{{v}}/', { v: 'has space' })).reason).toBe(
      'the rendered URL is not a valid URL',
    );
  });

  it('rejects a value that is a whole ".." path segment', () => {
    expect(templateError(() => url('https://h.example/api/{{v}}/hook', { v: '..' })).reason).toContain('{{v}} is ".."');
  });

  it('rejects a value that is a whole "." path segment', () => {
    expect(templateError(() => url('https://h.example/api/{{v}}/hook', { v: '.' })).reason).toContain('{{v}} is "."');
  });

  it('accepts dots inside a longer value', () => {
    expect(url('https://h.example/files/{{v}}', { v: '..a.b..' })).toBe('https://h.example/files/..a.b..');
  });

  it('does not turn \\n in a URL default into a newline', () => {
    expect(url('https://h.example/{{ missing | a\\nb }}')).toBe('https://h.example/a%5Cnb');
  });

  it('names the field it was given in its errors', () => {
    const error = templateError(() =>
      renderUrl('https://h.example/{{missing}}', { context: {}, now: FIXED_NOW }, 'endpoint_url'),
    );
    expect(error.path).toBe('endpoint_url');
  });

  it('renders a URL template the same way each time, once its checks are kept', () => {
    const template = 'https://crm.example.com/hooks/{{workflow_id}}';
    expect(url(template)).toBe('https://crm.example.com/hooks/77');
    expect(url(template, { workflow_id: 78 })).toBe('https://crm.example.com/hooks/78');
    expect(url('https://crm.example.com/plain')).toBe(url('https://crm.example.com/plain'));
  });

  it('fails a failing URL template on every render, naming the field each time', () => {
    const template = 'https://user:pw@h.example/plain';
    expect(templateError(() => url(template)).reason).toContain('must not carry a user name');
    const error = templateError(() => renderUrl(template, { context: {}, now: FIXED_NOW }, 'endpoint_url'));
    expect(error.path).toBe('endpoint_url');
    expect(error.reason).toContain('must not carry a user name');
  });

  it('keeps a value that needs no percent-encoding as it is', () => {
    expect(url('https://h.example/{{v}}', { v: 'Az09_.-~' })).toBe('https://h.example/Az09_.-~');
  });
});
