/**
 * The README's first command: runs `webhooks local` on the example event against
 * a receiver started here on loopback, and shows what the receiver got and the
 * pipeline's summary. The receiver answers 503 to the first CRM call, so the
 * retry path shows too.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const calls = new Map<string, number>();
const color = process.stdout.isTTY
  ? (code: number, text: string) => `\x1b[${code}m${text}\x1b[0m`
  : (_: number, text: string) => text;

const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const path = request.url ?? '/';
    const n = (calls.get(path) ?? 0) + 1;
    calls.set(path, n);
    const status = path === '/webhook/dograh' && n === 1 ? 503 : 200;
    const auth = request.headers['authorization'] ?? request.headers['x-api-key'];
    process.stdout.write(
      `${color(36, 'receiver')} ${request.method} ${path} attempt=${request.headers['x-dograh-delivery-attempt']} ` +
        `delivery=${request.headers['x-dograh-delivery-id']} auth=${auth === undefined ? 'none' : 'present'} → ${color(status < 300 ? 32 : 33, String(status))}\n` +
        (chunks.length > 0 ? `         body ${Buffer.concat(chunks).toString('utf8')}\n` : ''),
    );
    response
      .writeHead(status, { 'content-type': 'application/json' })
      .end(status < 300 ? '{"ok":true}' : '{"error":"try later"}');
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
process.stdout.write(`${color(36, 'receiver')} listening on ${origin}\n`);

const event = (await readFile(join(root, 'examples/event.json'), 'utf8')).replaceAll('http://127.0.0.1:8787', origin);
const eventFile = join(await mkdtemp(join(tmpdir(), 'webhooks-demo-')), 'event.json');
await writeFile(eventFile, event);

const cli = spawn(
  process.execPath,
  [join(root, 'cli/bin.ts'), 'local', '--event', eventFile, '--secrets', join(root, 'examples/secrets.json')],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let summary = '';
cli.stdout.on('data', (chunk: Buffer) => (summary += chunk.toString('utf8')));
const code = await new Promise<number>((resolve) => cli.on('close', (c) => resolve(c ?? 1)));
receiver.close();
process.stdout.write(`\n${color(1, 'webhooks local')} summary (exit ${code}):\n${summary}`);
process.exitCode = code;
