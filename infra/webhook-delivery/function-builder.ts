// How the construct's functions are built: each with its log group, its own role and an environment
// checked at synth time with the config schema its code parses at cold start (see functions.ts
// for which functions there are).
import { fileURLToPath } from 'node:url';
import { Token } from 'aws-cdk-lib';
import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { z } from 'zod';
import { safeParse } from '../../shared/schemas/issues.ts';
import { InvalidPropsError } from './settings.ts';
import { FUNCTION_BUNDLE } from './bundle-options.ts';

/** Stands in for an unresolved token (a queue URL, a table name) when the environment is parsed at synth time. */
const TOKEN_PLACEHOLDER = 'https://sqs.us-east-1.amazonaws.com/123456789012/placeholder';

/** A function's environment: a string for every key its config schema reads. */
export type FunctionEnvironment<S extends z.core.$ZodType> = Record<keyof z.input<S>, string>;

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * esbuild, locally (no Docker). The AWS SDK v3 clients are bundled, not taken from the runtime:
 * the functions then run the exact versions the lockfile pins and the integration tests exercise,
 * a runtime SDK update cannot change their behaviour, and tree-shaking keeps only the clients used.
 */
const BUNDLING = {
  format: nodejs.OutputFormat.ESM,
  target: FUNCTION_BUNDLE.target,
  platform: FUNCTION_BUNDLE.platform,
  mainFields: [...FUNCTION_BUNDLE.mainFields],
  minify: FUNCTION_BUNDLE.minify,
  sourceMap: false,
  // Stack traces need names and lines, not the sources: keeps the .map small.
  sourcesContent: false,
  externalModules: [],
  bundleAwsSDK: true,
  banner: FUNCTION_BUNDLE.banner,
  logLevel: nodejs.LogLevel.WARNING,
} satisfies nodejs.BundlingOptions;

/** Log writing to one log group, instead of the any-log-group AWSLambdaBasicExecutionRole. */
function writeLogs(logGroup: logs.ILogGroup): iam.PolicyStatement {
  // The LogGroup's Arn attribute ends in ":*", which covers its log streams.
  return new iam.PolicyStatement({
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  });
}

/**
 * Parses a function's environment with the schema its code parses at cold start. Tokens (queue
 * URLs, the table name) are unknown until deployment: they are replaced by a placeholder URL,
 * and problems on those keys are left to the deployed function; everything else must parse.
 */
function checkEnvironment(
  functionName: string,
  schema: z.core.$ZodType,
  environment: Record<string, string>,
): string[] {
  const tokenKeys = new Set(Object.keys(environment).filter((key) => Token.isUnresolved(environment[key])));
  const probe = Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [key, tokenKeys.has(key) ? TOKEN_PLACEHOLDER : value]),
  );
  const parsed = safeParse(schema, probe);
  if (parsed.success) return [];
  return parsed.error.issues
    .filter((issue) => !tokenKeys.has(String(issue.path[0])))
    .map((issue) => `${functionName}: ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
}

/** Shared by every function. */
const COMMON = {
  runtime: lambda.Runtime.NODEJS_24_X,
  architecture: lambda.Architecture.ARM_64,
  handler: 'handler',
  projectRoot: PROJECT_ROOT,
  depsLockFilePath: fileURLToPath(new URL('../../package-lock.json', import.meta.url)),
  bundling: BUNDLING,
} satisfies Partial<nodejs.NodejsFunctionProps>;

/** One function of the construct, as {@link createFunctions} builds it. */
export interface FunctionSpec {
  /** `functions/<name>/handler.ts`, the name of its inline policy, and the logical ids `<Name>Function`, `<Name>Role`, `<Name>LogGroup`. */
  readonly name: 'render' | 'deliver' | 'reconcile';
  readonly description: string;
  readonly roleDescription: string;
  /** Everything the role allows besides writing to the function's own log group. */
  readonly statements: readonly iam.PolicyStatement[];
  /** Checked with `schema`, the config schema the function's code parses at cold start. */
  readonly environment: Record<string, string>;
  readonly schema: z.core.$ZodType;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** The rest of the function's props: retries, destinations, concurrency. */
  readonly props?: Omit<
    nodejs.NodejsFunctionProps,
    'entry' | 'role' | 'logGroup' | 'environment' | 'description' | 'memorySize' | 'timeout'
  >;
}

/** A function with its log group and its own role. */
export interface BuiltFunction {
  readonly fn: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;
}

/**
 * Builds each function with its log group and a role of its own: an inline policy that writes
 * to that log group only, instead of AWSLambdaBasicExecutionRole (which may write to any log
 * group), plus exactly the statements its code needs (no grant* helpers, which add actions the
 * code never calls). Every environment is checked first, so a bad prop fails naming every bad
 * key of every function at once. Built phase by phase (log groups, roles, functions) so the
 * synthesized template keeps its order.
 */
export function createFunctions(
  scope: Construct,
  logRetention: logs.RetentionDays,
  specs: readonly FunctionSpec[],
): BuiltFunction[] {
  throwOnProblems(
    scope,
    specs.flatMap((spec) => checkEnvironment(spec.name, spec.schema, spec.environment)),
  );
  const id = (spec: FunctionSpec, kind: string) => `${spec.name[0]!.toUpperCase()}${spec.name.slice(1)}${kind}`;
  const logGroups = specs.map((spec) => new logs.LogGroup(scope, id(spec, 'LogGroup'), { retention: logRetention }));
  const roles = specs.map(
    (spec, i) =>
      new iam.Role(scope, id(spec, 'Role'), {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: spec.roleDescription,
        inlinePolicies: {
          [spec.name]: new iam.PolicyDocument({ statements: [writeLogs(logGroups[i]!), ...spec.statements] }),
        },
      }),
  );
  return specs.map((spec, i) => {
    const logGroup = logGroups[i]!;
    const role = roles[i]!;
    const fn = new nodejs.NodejsFunction(scope, id(spec, 'Function'), {
      ...COMMON,
      description: spec.description,
      entry: fileURLToPath(new URL(`../../functions/${spec.name}/handler.ts`, import.meta.url)),
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      role,
      logGroup,
      environment: { ...spec.environment, NODE_OPTIONS: '--enable-source-maps' },
      ...spec.props,
    });
    return { fn, logGroup, role };
  });
}

function throwOnProblems(scope: Construct, problems: string[]): void {
  if (problems.length > 0) throw new InvalidPropsError(scope.node.path, 'function environment', problems);
}
