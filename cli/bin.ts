#!/usr/bin/env node
import { Command } from 'commander';
import { registerRender } from './commands/render.ts';
import { registerValidate } from './commands/validate.ts';
import { registerLocal } from './commands/local.ts';
import { registerDev } from './commands/dev.ts';
import { registerEmit } from './commands/emit.ts';
import { registerFailures } from './commands/failures.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerRedrive } from './commands/redrive.ts';
import { registerReplay } from './commands/replay.ts';
import { registerEndpoints } from './commands/endpoints.ts';

const program = new Command()
  .name('webhooks')
  .description('Dograh webhook delivery: render, validate, run locally, operate a deployed stack')
  .configureOutput({ outputError: (text, write) => write(text.startsWith('error: ') ? text : `error: ${text}`) });

registerRender(program);
registerValidate(program);
registerLocal(program);
registerDev(program);
registerEmit(program);
registerFailures(program);
registerInspect(program);
registerRedrive(program);
registerReplay(program);
registerEndpoints(program);

// Commander's own usage errors (unknown flag, missing argument) also exit 1 with "error: ...".
program.exitOverride((error) => {
  process.exit(error.exitCode === 0 ? 0 : 1);
});

await program.parseAsync(process.argv);
