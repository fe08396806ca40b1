/**
 * Dummy static credentials for the local emulators (fauxqs, dynalite, the `webhooks dev`
 * PutEvents intake). They take any: fauxqs reads only the region from the signature,
 * dynalite checks that a signature is present, not what it signs. Static ones keep the
 * SDK from looking for real credentials on this machine.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The configuration of an AWS SDK client that talks to a local emulator at `endpoint`. */
export function emulatorClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    // As a Lambda's clients run by default: standard retries, 3 attempts. On loopback a
    // keep-alive socket the emulator closed as it was reused (ECONNRESET, EPIPE) is the
    // usual hiccup; a bug in a request is not retried (4xx errors other than throttling are final).
    retryMode: 'standard',
    maxAttempts: 3,
  };
}
