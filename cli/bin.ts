#!/usr/bin/env node
import { run } from './main.ts';

// The `webhooks` bin: the CLI (cli/main.ts) given this process's streams and environment.

// A reader that stops early (`webhooks --help | head`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  // Installed only for a command that runs until stopped (dev), so Ctrl-C still ends the others at once.
  untilStopped: () =>
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }),
});
