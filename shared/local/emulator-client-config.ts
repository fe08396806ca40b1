/**
 * Dummy static credentials for the local emulators (fauxqs, dynalite, the `webhooks dev`
 * PutEvents intake). They take any: fauxqs reads only the region from the signature,
 * dynalite checks that a signature is present, not what it signs. Static ones keep the
 * SDK from looking for real credentials on this machine.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

interface SignableRequest {
  headers: Record<string, string>;
}
interface SigningOptions {
  signingDate?: Date;
  signingRegion?: string;
  signingService?: string;
}

/**
 * A signer that writes the shape of a SigV4 signature without computing one. The emulators
 * read the header, never verify it (see LOCAL_CREDENTIALS), so the HMACs and hashes of a real
 * signature were ~12% of `webhooks local`'s main thread (a CPU profile of `npm run bench --
 * local`) for nothing. What they read is written as SigV4 writes it: the `AWS4-` scheme, a
 * Credential scope with the region (fauxqs takes the region from it), SignedHeaders, a
 * Signature and an X-Amz-Date header (dynalite requires all four).
 */
export const LOCAL_SIGNER = {
  async sign<R extends SignableRequest>(request: R, options: SigningOptions = {}): Promise<R> {
    const date = (options.signingDate ?? new Date()).toISOString();
    // 2026-12-02T18:30:00.123Z -> 20261202T183000Z, SigV4's basic format.
    const amzDate = `${date.slice(0, 4)}${date.slice(5, 7)}${date.slice(8, 13)}${date.slice(14, 16)}${date.slice(17, 19)}Z`;
    const scope = `${amzDate.slice(0, 8)}/${options.signingRegion ?? 'us-east-1'}/${options.signingService ?? 'local'}`;
    request.headers['x-amz-date'] = amzDate;
    request.headers.authorization = `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/${scope}/aws4_request, SignedHeaders=host;x-amz-date, Signature=local`;
    return request;
  },
};

/** The configuration of an AWS SDK client that talks to a local emulator at `endpoint`. */
export function emulatorClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    signer: LOCAL_SIGNER,
    // As a Lambda's clients run by default: standard retries, 3 attempts. On loopback a
    // keep-alive socket the emulator closed as it was reused (ECONNRESET, EPIPE) is the
    // usual hiccup; a bug in a request is not retried (4xx errors other than throttling are final).
    retryMode: 'standard',
    maxAttempts: 3,
  };
}
