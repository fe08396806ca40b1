import type { Command } from 'commander';
import { formatProblem, InvalidTemplateError, type Problem } from '../../shared/errors.ts';
import { renderNode } from '../../shared/domain/render-node.ts';
import { contextDepthProblem } from '../../shared/schemas/depth.ts';
import { templateContextOf } from '../../shared/schemas/event.ts';
import { readInputDocument } from '../../shared/schemas/input-file.ts';
import { extractWebhookNodes, isRecord } from '../../shared/schemas/workflow.ts';
import { DEFAULT_RULE, ruleMismatches } from '../events-file.ts';
import { checkNodeTemplates, droppedHeaderWarnings, templateWarnings } from '../../shared/templates/check.ts';
import { action, CliError, escapeControl, readJsonFile, type CliIo } from '../io.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a workflow definition or a run-completed event: every webhook node, every problem')
    .argument('<file>', 'workflow definition ({nodes, edges}), run-completed event, or event detail (JSON)')
    .addHelpText(
      'after',
      `
Prints "ok: N webhook nodes" and exits 0, or one line per problem (file: node id: field: reason) and exits 1.
An event is also rendered with its own context, so missing URL values are found too.
Custom headers that will be dropped (named like a secret, set by the transport, X-Dograh-*),
braces that are no placeholder, placeholders naming no variable of a run, and an event whose
source or detail-type the stack's rule does not match by default (dograh.workflows, Workflow Run
Completed) are printed as "warning: ..." lines on stderr; they do not fail validation.

Examples:
  $ webhooks validate examples/workflow-definition.json
  $ webhooks validate examples/event.json`,
    )
    .action(action(validate));
}

async function validate(file: string, _options: unknown, io: CliIo): Promise<void> {
  const value = await readJsonFile(file);
  const document = readInputDocument(value, file);
  // A bad event field does not hide the nodes' problems: all of them, in one go.
  const problems: Problem[] = document.kind === 'invalid' ? [...document.problems] : [];
  // A whole event names its source and detail-type: one the stack's rule does not match is dropped by EventBridge.
  const warnings: Problem[] = isRecord(value) && 'detail' in value ? ruleMismatches(value, file, DEFAULT_RULE) : [];
  const templateNotes: Problem[] = [];
  const { nodes, problems: nodeProblems } = extractWebhookNodes(document.nodes);
  problems.push(...nodeProblems);
  // Too deep to render safely: reported once, and no node is rendered with it.
  const deepContext = document.kind === 'event' ? contextDepthProblem(templateContextOf(document.detail)) : undefined;
  if (deepContext !== undefined)
    problems.push({
      source: file,
      path: deepContext.path,
      reason: `the run's context is too deep: ${deepContext.reason}`,
    });
  const detailRoots = document.kind === 'event' ? Object.keys(templateContextOf(document.detail)) : [];
  for (const node of nodes) {
    warnings.push(...droppedHeaderWarnings(node));
    templateNotes.push(...templateWarnings(node, detailRoots));
    const templateProblems = checkNodeTemplates(node);
    problems.push(...templateProblems);
    if (templateProblems.length > 0 || document.kind !== 'event' || deepContext !== undefined) continue;
    try {
      renderNode(node, templateContextOf(document.detail), new Date());
    } catch (error) {
      if (!(error instanceof InvalidTemplateError)) throw error;
      problems.push({ source: node.id, path: error.path, reason: error.reason });
    }
  }
  // Every line in one format, file: where: what (where is the node id and field, or the event's field).
  const line = (p: Problem): string =>
    escapeControl(p.source === file ? formatProblem(p) : `${file}: ${formatProblem(p)}`);
  // Dropped headers are Dograh's behaviour too, and stray braces and unknown variables render (as in
  // Dograh), but rarely as meant; a source no rule matches is dropped: worth knowing, never a failure.
  for (const warning of [...warnings, ...templateNotes]) io.stderr.write(`warning: ${line(warning)}\n`);
  if (problems.length > 0) {
    for (const problem of problems) io.stdout.write(`${line(problem)}\n`);
    throw new CliError(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} found`);
  }
  const count = nodes.length;
  io.stdout.write(`ok: ${count} webhook node${count === 1 ? '' : 's'}\n`);
}
