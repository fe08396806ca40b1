import type { Command } from 'commander';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { loadSecretsFile } from '../../shared/adapters/file-credential-store.ts';
import { CIRCUIT_DEFAULTS, DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../../shared/config/config.ts';
import { DEV_INTAKE_PORT, hasData, SAMPLE_RECEIVER_PORT, startDevServer } from '../dev-server.ts';
import { action, CliError, type CliIo } from '../io.ts';
import { seconds } from './local.ts';

interface DevOptions {
  readonly port: string;
  readonly receiverPort: string;
  readonly receiver: boolean;
  readonly secrets?: string;
  readonly data?: string;
  readonly example: boolean;
  readonly logs?: boolean;
  readonly requestTimeout: string;
  readonly circuitThreshold: string;
}

const EXAMPLE_SECRETS = join(new URL('../..', import.meta.url).pathname, 'examples/secrets.json');

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'run the local stack in the foreground: emulators, functions, a PutEvents intake and a sample receiver',
    )
    .option('-p, --port <port>', 'port of the local PutEvents intake', String(DEV_INTAKE_PORT))
    .option('--receiver-port <port>', 'port of the sample receiver', String(SAMPLE_RECEIVER_PORT))
    .option('--no-receiver', 'do not start the sample receiver')
    .option(
      '-s, --secrets <file>',
      'credentials: secret names mapped to credential objects (default examples/secrets.json)',
    )
    .option(
      '-d, --data <dir>',
      'keep the outcome log, the queues and accepted events in this folder: a restart, even after a crash, carries on',
    )
    .option(
      '--request-timeout <seconds>',
      "how long one request to an endpoint may take (what Lambda's REQUEST_TIMEOUT_MS sets)",
      String(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    )
    .option(
      '--circuit-threshold <n>',
      "transient failures in a row that open an endpoint's circuit (the construct's circuitFailureThreshold)",
      String(CIRCUIT_DEFAULTS.failureThreshold),
    )
    .option('--no-example', 'do not send the example event at start')
    .option('--logs', "also print the functions' JSON log lines")
    .addHelpText(
      'after',
      `
With no options it sends examples/event.json to the sample receiver, so you see the whole path.
Other terminals find this server through .webhooks/dev.json: use --local with the other commands.
The sample receiver can be broken and fixed: curl -X POST 127.0.0.1:8787/_control/fail (or /_control/ok).
With --data, the outcome log, the queues (retries waiting, dead letters) and the events the intake
accepted are written to disk as they change, so they survive a restart, even after a crash or a
kill -9; the example is sent only on the first start.

Examples:
  $ npm start
  $ npx webhooks dev --data .webhooks/data --no-receiver
  $ npx webhooks emit examples/event.json --local   # from another terminal, in any folder of the checkout`,
    )
    .action(action(dev));
}

async function dev(options: DevOptions, io: CliIo): Promise<void> {
  const port = portOf(options.port, '--port');
  const receiverPort = options.receiver ? portOf(options.receiverPort, '--receiver-port') : null;
  const secretsFile = options.secrets ?? (existsSync(EXAMPLE_SECRETS) ? EXAMPLE_SECRETS : undefined);
  const secrets = secretsFile === undefined ? {} : await loadSecretsFile(secretsFile);
  const requestTimeoutMs = Math.round(seconds(options.requestTimeout, '--request-timeout') * 1000);
  const circuitFailureThreshold = Number(options.circuitThreshold);
  if (!Number.isSafeInteger(circuitFailureThreshold) || circuitFailureThreshold < 1) {
    throw new CliError(
      `--circuit-threshold: expected a whole number of failures, 1 or more, got "${options.circuitThreshold}"`,
    );
  }
  const color = io.stdout.isTTY === true && io.env['NO_COLOR'] === undefined;
  let server: Awaited<ReturnType<typeof startDevServer>>;
  try {
    server = await startDevServer({
      port,
      receiverPort,
      secrets,
      requestTimeoutMs,
      circuitFailureThreshold,
      ...(options.data === undefined ? {} : { dataDir: options.data }),
      example: options.example && !hasData(options.data),
      print: (line) => io.stdout.write(`${line}\n`),
      color,
      ...(options.logs ? { logSink: (line: string) => io.stderr.write(`${line}\n`) } : {}),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CliError(
        `a port is taken (${(error as Error).message}): is another webhooks dev running? Pick others with --port / --receiver-port`,
      );
    }
    throw error;
  }
  // In the foreground until the user stops it (Ctrl-C).
  await (io.untilStopped?.() ?? new Promise<never>(() => undefined));
  io.stdout.write('stopping webhooks dev\n');
  await server.stop();
}

function portOf(text: string, flag: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`${flag}: expected a port number, got "${text}"`);
  return port;
}
