import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The context `cdk.json` gives the CLI (feature flags), so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Logical id of a construct's CloudFormation resource (an L2's default child, or the element itself). */
export function logicalId(construct: IConstruct): string {
  const element = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(element instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(element).getLogicalId(element);
}

/** `{ "Fn::GetAtt": [id, attr] }` of a construct's resource. */
export function getAtt(construct: IConstruct, attribute: string): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId(construct), attribute] };
}

/** `{ Ref: id }` of a construct's resource. */
export function ref(construct: IConstruct): { Ref: string } {
  return { Ref: logicalId(construct) };
}

/**
 * A CloudFormation value as one readable string: `Ref` → `<Id>`, `GetAtt` → `<Id.Attr>`,
 * `Fn::Join` joined, so policies and ARNs compare as text.
 */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return `<${String(o.Ref)}>`;
    if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in o) {
      const [delimiter, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(delimiter);
    }
  }
  return JSON.stringify(value);
}

interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every `action on resource` an IAM role's inline policies allow, sorted: a role's whole grant as a list. */
export function allowedPairs(roleResource: { Properties: Record<string, unknown> }): string[] {
  const pairs: string[] = [];
  const policies = (roleResource.Properties.Policies ?? []) as {
    PolicyDocument: { Statement: PolicyStatementJson[] };
  }[];
  for (const policy of policies) {
    for (const statement of policy.PolicyDocument.Statement) {
      if (statement.Effect !== 'Allow') continue;
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      for (const action of actions) for (const resource of resources) pairs.push(`${action} ${flatten(resource)}`);
    }
  }
  return pairs.sort();
}

/** Replaces CloudFormation intrinsics in a function's environment with a URL, as the deployed values would be. */
export function withPlaceholders(variables: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [
      key,
      typeof value === 'string' ? value : 'https://sqs.us-east-1.amazonaws.com/123456789012/placeholder',
    ]),
  );
}

/**
 * The CDK's own matcher, counted as an assertion: `hasResourceProperties` throws with a
 * diff when no resource matches, but vitest would not know a test made a check.
 */
export function expectResource(template: Template, type: string, props: unknown): void {
  expect(() => template.hasResourceProperties(type, props)).not.toThrow();
}
