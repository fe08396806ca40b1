import { App } from 'aws-cdk-lib';
import { DEFAULT_STACK_NAME } from './stack-outputs.ts';
import { InvalidPropsError } from './webhook-delivery/settings.ts';
import {
  ContextError,
  WebhookDeliveryStack,
  addNagChecks,
  settingsFromContext,
  type AppSettings,
} from './webhook-delivery-stack.ts';

// The CDK app `cdk.json` runs (`node infra/app.ts`; Node 24 strips the types itself).
const app = new App();
let settings: AppSettings;
try {
  settings = settingsFromContext((key) => app.node.tryGetContext(key), DEFAULT_STACK_NAME);
} catch (error) {
  if (!(error instanceof ContextError)) throw error;
  // A typo in `-c key=value` is the operator's to fix: one line per bad value, no stack trace.
  for (const problem of error.problems) process.stderr.write(`error: ${problem}\n`);
  process.exit(1);
}

try {
  new WebhookDeliveryStack(app, settings.stackName, {
    ...settings.stackProps,
    // Only what the CLI's environment says; nothing is looked up, so synth needs no credentials.
    env:
      process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
        ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
        : undefined,
  });
} catch (error) {
  if (!(error instanceof InvalidPropsError)) throw error;
  // A value that parses but that the construct refuses (-c deliverMaxConcurrency=1): the same, one line each.
  for (const problem of error.problems) process.stderr.write(`error: ${problem}\n`);
  process.exit(1);
}

// On by default so every synth and deploy is checked; `-c nag=false` turns it off.
if (settings.nag) addNagChecks(app);

app.synth();
