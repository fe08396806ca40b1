import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SampleReceiver {
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * The receiver `webhooks dev` starts so a new user sees the whole path. It
 * answers 200, or what it was told to: `POST /_control/fail` makes it answer 500
 * (or `/_control/status/<code>`), `POST /_control/ok` makes it healthy again:
 * enough to break it, find the failure, fix it and redrive.
 */
export async function startSampleReceiver(port: number, print: (line: string) => void): Promise<SampleReceiver> {
  let status = 200;
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const control = /^\/_control\/(ok|fail|status\/(\d{3}))$/.exec(path);
      if (request.method === 'POST' && control !== null) {
        status = control[1] === 'ok' ? 200 : control[1] === 'fail' ? 500 : Number(control[2]);
        print(`sample receiver now answers ${status}`);
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
        return;
      }
      const attempt = request.headers['x-dograh-delivery-attempt'] ?? '?';
      const bytes = Buffer.concat(chunks).length;
      print(`sample receiver ← ${request.method} ${path} (attempt ${String(attempt)}, ${bytes} bytes) → ${status}`);
      response
        .writeHead(status, { 'content-type': 'application/json' })
        .end(status < 300 ? '{"ok":true}' : '{"error":"sample receiver told to fail"}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
