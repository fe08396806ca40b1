/**
 * Scheme, host and non-default port of an endpoint URL (`https://crm.example.com:8443`),
 * never its user info, path, query or fragment, which may carry secrets: the one part of
 * an endpoint that logs, metrics and the outcome log may hold. '' when it does not parse.
 */
export function endpointHost(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host === '' ? '' : `${parsed.protocol}//${parsed.host}`;
  } catch {
    return '';
  }
}
